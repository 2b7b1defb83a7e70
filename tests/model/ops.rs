//! The operations a case runs, and how proptest generates them.

use plans_api::plans::ConnectionType;
use proptest::prelude::*;

use crate::TYPES;

/// Which plan an operation is about: the `n`-th existing plan (modulo how many exist), or one
/// that does not exist.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pick {
    Existing(usize),
    Missing,
}

/// A change made with plain SQL, not through the service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SqlChange {
    Insert(i32, ConnectionType),
    Delete(usize),
    /// Moves the `n`-th plan to another owner and type.
    Update(usize, i32, ConnectionType),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// `list(filter)`; a user id of 0 is invalid input.
    List(Option<i32>, Option<ConnectionType>),
    Get(Pick),
    /// `create`; `valid: false` sends an empty name.
    Create {
        user: i32,
        kind: ConnectionType,
        valid: bool,
    },
    Delete(Pick),
    /// `update`: moves the plan to `user` and/or `kind` when given, and changes its price;
    /// `valid: false` sends an empty name instead of the price (refused, changes nothing).
    Update {
        pick: Pick,
        user: Option<i32>,
        kind: Option<ConnectionType>,
        valid: bool,
    },
    /// `page(filter, …)`: `size` plans after the cursor at id `cursor` (or before it, with
    /// `backward`); the id need not be a plan's (deleted, or never created).
    Page {
        user: Option<i32>,
        kind: Option<ConnectionType>,
        size: i32,
        cursor: Option<i32>,
        backward: bool,
    },
    /// A change behind the service's back; with `announce`, the change feed's notice follows
    /// (`apply_external_change`), otherwise the cache may stay stale until expiry.
    Sql {
        change: SqlChange,
        announce: bool,
    },
    /// Sleeps past the TTL: every entry expires.
    Expire,
    InvalidateAll,
    WarmUp,
    Suspend,
    Resume,
}

/// Two tenants and three types make twelve keys: few enough that random reads often hit the
/// keys a write touched, which is where bugs live.
pub fn user() -> impl Strategy<Value = i32> {
    1..=2i32
}

pub fn kind() -> impl Strategy<Value = ConnectionType> {
    prop::sample::select(TYPES.to_vec())
}

pub fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![4 => (0..16usize).prop_map(Pick::Existing), 1 => Just(Pick::Missing)]
}

pub fn sql_change() -> impl Strategy<Value = SqlChange> {
    prop_oneof![
        (user(), kind()).prop_map(|(user, kind)| SqlChange::Insert(user, kind)),
        (0..16usize).prop_map(SqlChange::Delete),
        (0..16usize, user(), kind()).prop_map(|(n, user, kind)| SqlChange::Update(n, user, kind)),
    ]
}

/// Earlier alternatives are simpler: proptest shrinks towards them.
pub fn op() -> impl Strategy<Value = Op> {
    let filter_user = prop_oneof![12 => user(), 1 => Just(0)];
    prop_oneof![
        8 => (
            proptest::option::weighted(0.75, filter_user),
            proptest::option::weighted(0.75, kind()),
        )
            .prop_map(|(user, kind)| Op::List(user, kind)),
        2 => pick().prop_map(Op::Get),
        4 => (user(), kind(), proptest::bool::weighted(0.9))
            .prop_map(|(user, kind, valid)| Op::Create { user, kind, valid }),
        2 => pick().prop_map(Op::Delete),
        3 => (
            pick(),
            proptest::option::weighted(0.5, user()),
            proptest::option::weighted(0.5, kind()),
            proptest::bool::weighted(0.9),
        )
            .prop_map(|(pick, user, kind, valid)| Op::Update { pick, user, kind, valid }),
        3 => (
            proptest::option::weighted(0.75, user()),
            proptest::option::weighted(0.5, kind()),
            1..=4i32,
            proptest::option::weighted(0.7, 1..=24i32),
            any::<bool>(),
        )
            .prop_map(|(user, kind, size, cursor, backward)| Op::Page {
                user,
                kind,
                size,
                cursor,
                backward,
            }),
        3 => (sql_change(), any::<bool>())
            .prop_map(|(change, announce)| Op::Sql { change, announce }),
        1 => Just(Op::Expire),
        1 => Just(Op::InvalidateAll),
        1 => Just(Op::WarmUp),
        1 => Just(Op::Suspend),
        1 => Just(Op::Resume),
    ]
}
