//! Model-based test of the plan cache: random sequences of operations run against the real
//! [`PlanService`] (a migrated SQLite file, the real moka cache and fence) and, in lockstep,
//! against a model small enough to be obviously right:
//!
//! * the database truth: a map of plans by id;
//! * per cache key, the snapshot the cache holds, if any: filled by a list miss and by warm-up;
//!   dropped by a write's precise invalidation of its four keys, by a change-feed notice (the keys
//!   before and after the change), by `invalidate_all`, by `resume_caching`, and by expiry;
//! * whether caching is suspended (reads then go to the database and fill nothing).
//!
//! Every read must return exactly what the model predicts, including a *stale* snapshot after a
//! change made behind the service's back with plain SQL, and must be the predicted hit or miss
//! (read from the `plan_cache_*` Prometheus counters). A divergence fails with the shrunk,
//! shortest sequence of operations that shows it.
//!
//! Expiry uses moka's real clock: the TTL is short and `Expire` sleeps past it. The model knows
//! when each snapshot was filled (the wall-clock window of the read that filled it) and predicts a
//! hit only while the entry is certainly younger than the TTL, a miss once it is certainly older;
//! in the narrow window in between (only after a scheduling hiccup) it accepts either outcome but
//! still checks the value against the one that happened.
//!
//! Cases: `PROPTEST_CASES` (default 100). SQLite only: the cache logic does not depend on the
//! backend, and PostgreSQL is covered by `tests/api`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use migration::{Migrator, MigratorTrait};
use plans_api::cache::{CacheMetrics, CacheSettings, STRIPES};
use plans_api::entities::plan as plan_row;
use plans_api::plans::{
    ConnectionType, NewPlan, Plan, PlanError, PlanFilter, PlanId, PlanKey, PlanOwner, PlanService,
};
use proptest::prelude::*;
use proptest::strategy::{NewTree, ValueTree};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ActiveModelTrait, Database, DatabaseConnection, EntityTrait};

/// How long an entry lives. Short, so `Expire` is cheap; long next to one operation (~1 ms).
const TTL: Duration = Duration::from_millis(100);
/// Allowance between our clock readings and moka's.
const SLACK: Duration = Duration::from_millis(20);
const USERS: [i32; 2] = [1, 2];
const TYPES: [ConnectionType; 3] = [
    ConnectionType::Hotspot,
    ConnectionType::Pppoe,
    ConnectionType::Static,
];
/// An id no plan ever has in a case (ids grow from 1; a case makes at most a few dozen).
const MISSING_ID: PlanId = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Operations

/// Which plan an operation is about: the `n`-th existing plan (modulo how many exist), or one
/// that does not exist.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pick {
    Existing(usize),
    Missing,
}

/// A change made with plain SQL, not through the service.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SqlChange {
    Insert(i32, ConnectionType),
    Delete(usize),
    /// Moves the `n`-th plan to another owner and type.
    Update(usize, i32, ConnectionType),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
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
fn user() -> impl Strategy<Value = i32> {
    1..=2i32
}

fn kind() -> impl Strategy<Value = ConnectionType> {
    prop::sample::select(TYPES.to_vec())
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![4 => (0..16usize).prop_map(Pick::Existing), 1 => Just(Pick::Missing)]
}

fn sql_change() -> impl Strategy<Value = SqlChange> {
    prop_oneof![
        (user(), kind()).prop_map(|(user, kind)| SqlChange::Insert(user, kind)),
        (0..16usize).prop_map(SqlChange::Delete),
        (0..16usize, user(), kind()).prop_map(|(n, user, kind)| SqlChange::Update(n, user, kind)),
    ]
}

/// Earlier alternatives are simpler: proptest shrinks towards them.
fn op() -> impl Strategy<Value = Op> {
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
        3 => (sql_change(), any::<bool>())
            .prop_map(|(change, announce)| Op::Sql { change, announce }),
        1 => Just(Op::Expire),
        1 => Just(Op::InvalidateAll),
        1 => Just(Op::WarmUp),
        1 => Just(Op::Suspend),
        1 => Just(Op::Resume),
    ]
}

/// Sequences of `element`, shrunk harder than `prop::collection::vec`: that one makes a single
/// pass deleting operations and then simplifies the rest, so an operation simplified into a no-op
/// late stays in the result. This one repeats rounds of "delete each operation that is not needed,
/// then simplify each one" until a round changes nothing, so the sequence reported is one from
/// which no single operation can be removed.
#[derive(Debug)]
struct Sequence<S> {
    element: S,
    len: std::ops::Range<usize>,
}

impl<S> Strategy for Sequence<S>
where
    S: Strategy,
    S::Value: PartialEq,
{
    type Tree = SequenceTree<S::Tree>;
    type Value = Vec<S::Value>;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let len = self.len.new_tree(runner)?.current();
        let trees = (0..len)
            .map(|_| self.element.new_tree(runner))
            .collect::<Result<Vec<_>, _>>()?;
        let mut tree = SequenceTree {
            included: vec![true; trees.len()],
            trees,
            phase: Phase::Delete(0),
            undo: None,
            round_start: Vec::new(),
        };
        tree.round_start = tree.current();
        Ok(tree)
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Delete(usize),
    Simplify(usize),
    Done,
}

#[derive(Debug)]
struct SequenceTree<T: ValueTree> {
    trees: Vec<T>,
    included: Vec<bool>,
    phase: Phase,
    undo: Option<Phase>,
    round_start: Vec<T::Value>,
}

impl<T> ValueTree for SequenceTree<T>
where
    T: ValueTree,
    T::Value: PartialEq,
{
    type Value = Vec<T::Value>;

    fn current(&self) -> Vec<T::Value> {
        self.trees
            .iter()
            .zip(&self.included)
            .filter(|(_, included)| **included)
            .map(|(tree, _)| tree.current())
            .collect()
    }

    fn simplify(&mut self) -> bool {
        loop {
            match self.phase {
                Phase::Delete(ix) => {
                    let left = self.included.iter().filter(|included| **included).count();
                    if ix >= self.trees.len() || left <= 1 {
                        self.phase = Phase::Simplify(0);
                    } else if self.included[ix] {
                        self.included[ix] = false;
                        self.undo = Some(Phase::Delete(ix));
                        self.phase = Phase::Delete(ix + 1);
                        return true;
                    } else {
                        self.phase = Phase::Delete(ix + 1);
                    }
                }
                Phase::Simplify(ix) if ix >= self.trees.len() => {
                    let now = self.current();
                    if now == self.round_start {
                        self.phase = Phase::Done;
                        return false;
                    }
                    self.round_start = now;
                    self.phase = Phase::Delete(0);
                }
                Phase::Simplify(ix) => {
                    if self.included[ix] && self.trees[ix].simplify() {
                        self.undo = Some(Phase::Simplify(ix));
                        return true;
                    }
                    self.phase = Phase::Simplify(ix + 1);
                }
                Phase::Done => return false,
            }
        }
    }

    fn complicate(&mut self) -> bool {
        match self.undo.take() {
            Some(Phase::Delete(ix)) => {
                self.included[ix] = true;
                true
            }
            Some(Phase::Simplify(ix)) if self.trees[ix].complicate() => {
                self.undo = Some(Phase::Simplify(ix));
                true
            }
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The model

/// The wall-clock window of the call that filled an entry; moka stamped it somewhere inside.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

#[derive(Debug, Clone)]
struct Snapshot {
    plans: Vec<Plan>,
    filled: Window,
}

/// What a read of a key should do.
enum Prediction {
    Hit(Vec<Plan>),
    Miss,
    /// The entry is about as old as the TTL: either outcome is right.
    HitOrMiss(Vec<Plan>),
}

#[derive(Default)]
struct Model {
    truth: BTreeMap<PlanId, Plan>,
    cache: HashMap<PlanKey, Snapshot>,
    suspended: bool,
}

impl Model {
    fn select(&self, filter: PlanFilter) -> Vec<Plan> {
        self.truth
            .values()
            .filter(|plan| filter.matches(plan))
            .cloned()
            .collect()
    }

    fn existing(&self, n: usize) -> Option<Plan> {
        if self.truth.is_empty() {
            return None;
        }
        self.truth.values().nth(n % self.truth.len()).cloned()
    }

    fn id_of(&self, pick: Pick) -> PlanId {
        match pick {
            Pick::Existing(n) => self.existing(n).map_or(MISSING_ID, |plan| plan.id),
            Pick::Missing => MISSING_ID,
        }
    }

    fn drop_keys_of(&mut self, owner: PlanOwner) {
        for key in PlanKey::affected_by(owner.user_id, owner.connection_type) {
            self.cache.remove(&key);
        }
    }

    /// A read of `key` running within `now` (the call's window).
    fn predict(&self, key: &PlanKey, now: Window) -> Prediction {
        let Some(snapshot) = self.cache.get(key) else {
            return Prediction::Miss;
        };
        if now.end + SLACK < snapshot.filled.start + TTL {
            Prediction::Hit(snapshot.plans.clone())
        } else if now.start > snapshot.filled.end + TTL + SLACK {
            Prediction::Miss
        } else {
            Prediction::HitOrMiss(snapshot.plans.clone())
        }
    }

    /// The keys warm-up fills: `plans`, every type key, and the four keys of every plan.
    fn warm_keys(&self) -> HashSet<PlanKey> {
        let mut keys: HashSet<PlanKey> = TYPES
            .iter()
            .map(|&kind| {
                PlanKey::for_filter(PlanFilter {
                    user_id: None,
                    connection_type: Some(kind),
                })
            })
            .collect();
        keys.insert(PlanKey::for_filter(PlanFilter::default()));
        for plan in self.truth.values() {
            keys.extend(PlanKey::affected_by(plan.user_id, plan.connection_type));
        }
        keys
    }
}

fn owner(plan: &Plan) -> PlanOwner {
    PlanOwner {
        user_id: plan.user_id,
        connection_type: plan.connection_type,
    }
}

// ---------------------------------------------------------------------------------------------
// The system under test

struct System {
    service: PlanService,
    /// The service's own connection pool, used for changes behind its back.
    db: DatabaseConnection,
    metrics: CacheMetrics,
    _dir: tempfile::TempDir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    hits: u64,
    misses: u64,
    loads: u64,
}

impl System {
    async fn start() -> Self {
        // A memory-backed file where there is one: the same SQLite, without waiting for fsync.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("plans.db").display()
        );
        let db = Database::connect(&url).await.expect("connect");
        Migrator::up(&db, None).await.expect("migrate");
        let registry = prometheus::Registry::new();
        let metrics = CacheMetrics::register(&registry, "plan_cache").expect("metrics");
        let settings = CacheSettings {
            ttl: TTL,
            max_entries: 10_000,
        };
        let service = PlanService::new(db.clone(), settings, metrics.clone());
        Self {
            service,
            db,
            metrics,
            _dir: dir,
        }
    }

    fn counts(&self) -> Counts {
        Counts {
            hits: self.metrics.hits.get(),
            misses: self.metrics.misses.get(),
            loads: self.metrics.db_loads.get(),
        }
    }

    async fn sql_insert(&self, user: i32, kind: ConnectionType) -> Plan {
        let row = plan_row::ActiveModel {
            id: NotSet,
            user_id: Set(user),
            name: Set("behind the back".to_owned()),
            connection_type: Set(kind),
            price_cents: Set(500),
            duration_minutes: Set(30),
            created_at: Set(DateTime::<Utc>::from_timestamp(1_767_225_600, 0).expect("time")),
        };
        let model = plan_row::Entity::insert(row)
            .exec_with_returning(&self.db)
            .await
            .expect("SQL insert");
        Plan::from(model)
    }

    async fn sql_delete(&self, id: PlanId) {
        plan_row::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .expect("SQL delete");
    }

    async fn sql_update(&self, id: PlanId, user: i32, kind: ConnectionType) -> Plan {
        let row = plan_row::ActiveModel {
            id: Set(id),
            user_id: Set(user),
            connection_type: Set(kind),
            ..Default::default()
        };
        Plan::from(row.update(&self.db).await.expect("SQL update"))
    }
}

// ---------------------------------------------------------------------------------------------
// Running a sequence in lockstep

/// Runs `ops` against a fresh service and the model; the first divergence is the error.
async fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let system = System::start().await;
    let mut model = Model::default();
    let result = run_on(&system, &mut model, ops).await;
    system.db.close().await.ok();
    result
}

async fn run_on(system: &System, model: &mut Model, ops: &[Op]) -> Result<(), TestCaseError> {
    for (step, op) in ops.iter().enumerate() {
        let before = system.counts();
        step_once(system, model, *op, before)
            .await
            .map_err(|why| TestCaseError::fail(format!("step {step} ({op:?}): {why}")))?;
        // Nothing but reads moves the counters, and reads checked their own deltas.
        if !matches!(op, Op::List(..) | Op::Get(_)) {
            let after = system.counts();
            if after != before {
                return Err(TestCaseError::fail(format!(
                    "step {step} ({op:?}): counters moved from {before:?} to {after:?}"
                )));
            }
        }
    }
    Ok(())
}

async fn step_once(
    system: &System,
    model: &mut Model,
    op: Op,
    before: Counts,
) -> Result<(), String> {
    let service = &system.service;
    match op {
        Op::List(user_id, connection_type) => {
            let filter = PlanFilter {
                user_id,
                connection_type,
            };
            if user_id == Some(0) {
                return match service.list(filter).await {
                    Err(PlanError::InvalidInput(_)) if system.counts() == before => Ok(()),
                    other => Err(format!("expected invalid input and no read, got {other:?}")),
                };
            }
            read(system, model, filter, before).await.map(drop)
        }
        Op::Get(pick) => {
            let id = model.id_of(pick);
            let (got, expected) = if model.suspended {
                // Reads go straight to the database, without the cache or its counters.
                let got = service.get(id).await.map_err(|err| err.to_string())?.value;
                if system.counts() != before {
                    return Err("a read while suspended moved the cache counters".to_owned());
                }
                (got, model.truth.get(&id).cloned())
            } else {
                let start = Instant::now();
                let got = service.get(id).await.map_err(|err| err.to_string())?.value;
                let served =
                    check_read(system, model, PlanFilter::default(), (start, before), None)?;
                (got, served.into_iter().find(|plan| plan.id == id))
            };
            if got == expected {
                Ok(())
            } else {
                Err(format!("get({id}) = {got:?}, expected {expected:?}"))
            }
        }
        Op::Create { user, kind, valid } => {
            let new = NewPlan {
                user_id: user,
                name: if valid { "1 Hour Unlimited" } else { "   " }.to_owned(),
                connection_type: kind,
                price_cents: 1000,
                duration_minutes: 60,
            };
            match (service.create(new).await, valid) {
                (Ok(plan), true) => {
                    if plan.user_id != user
                        || plan.connection_type != kind
                        || model.truth.contains_key(&plan.id)
                    {
                        return Err(format!("create returned {plan:?}"));
                    }
                    model.drop_keys_of(owner(&plan));
                    model.truth.insert(plan.id, plan);
                    Ok(())
                }
                (Err(PlanError::InvalidInput(_)), false) => Ok(()),
                (other, valid) => Err(format!("create (valid: {valid}) returned {other:?}")),
            }
        }
        Op::Delete(pick) => {
            let id = model.id_of(pick);
            let deleted = service.delete(id).await.map_err(|err| err.to_string())?;
            match model.truth.remove(&id) {
                Some(plan) if deleted => {
                    model.drop_keys_of(owner(&plan));
                    Ok(())
                }
                None if !deleted => Ok(()),
                expected => Err(format!(
                    "delete({id}) = {deleted}, but the plan was {expected:?}"
                )),
            }
        }
        Op::Sql { change, announce } => {
            let (before, after) = match change {
                SqlChange::Insert(user, kind) => {
                    let plan = system.sql_insert(user, kind).await;
                    let after = owner(&plan);
                    model.truth.insert(plan.id, plan);
                    (None, Some(after))
                }
                SqlChange::Delete(n) => {
                    let Some(plan) = model.existing(n) else {
                        return Ok(());
                    };
                    system.sql_delete(plan.id).await;
                    model.truth.remove(&plan.id);
                    (Some(owner(&plan)), None)
                }
                SqlChange::Update(n, user, kind) => {
                    let Some(plan) = model.existing(n) else {
                        return Ok(());
                    };
                    let updated = system.sql_update(plan.id, user, kind).await;
                    let after = owner(&updated);
                    model.truth.insert(updated.id, updated);
                    (Some(owner(&plan)), Some(after))
                }
            };
            if announce {
                service.apply_external_change(before, after).await;
                for owner in before.into_iter().chain(after) {
                    model.drop_keys_of(owner);
                }
            }
            Ok(())
        }
        Op::Expire => {
            tokio::time::sleep(TTL + 2 * SLACK).await;
            Ok(())
        }
        Op::InvalidateAll => {
            service.invalidate_all().await;
            model.cache.clear();
            Ok(())
        }
        Op::WarmUp => {
            let start = Instant::now();
            let report = service
                .warm_up(10_000)
                .await
                .map_err(|err| err.to_string())?;
            let filled = Window {
                start,
                end: Instant::now(),
            };
            let keys = model.warm_keys();
            if report.plans != model.truth.len() || report.keys != keys.len() {
                return Err(format!(
                    "warm-up reported {report:?}, expected {} plans and {} keys",
                    model.truth.len(),
                    keys.len()
                ));
            }
            for key in keys {
                let plans = model.select(key.filter());
                model.cache.insert(key, Snapshot { plans, filled });
            }
            Ok(())
        }
        Op::Suspend => {
            service.suspend_caching();
            model.suspended = true;
            Ok(())
        }
        Op::Resume => {
            service.resume_caching().await;
            model.cache.clear();
            model.suspended = false;
            Ok(())
        }
    }
}

/// `list(filter)`, checked against the model.
async fn read(
    system: &System,
    model: &mut Model,
    filter: PlanFilter,
    before: Counts,
) -> Result<Vec<Plan>, String> {
    let start = Instant::now();
    let got = system
        .service
        .list(filter)
        .await
        .map_err(|err| err.to_string())?;
    check_read(
        system,
        model,
        filter,
        (start, before),
        Some(got.value.iter().map(|plan| plan.as_ref().clone()).collect()),
    )
}

/// Checks a read of `filter` that started at `start` with the counters at `before` and returned
/// `got` (`None`: the caller checks the value itself, as `get` does), and the counters it moved.
/// Returns what the model says was served, and updates the model.
fn check_read(
    system: &System,
    model: &mut Model,
    filter: PlanFilter,
    (start, before): (Instant, Counts),
    got: Option<Vec<Plan>>,
) -> Result<Vec<Plan>, String> {
    let now = Window {
        start,
        end: Instant::now(),
    };
    let key = PlanKey::for_filter(filter);
    let fresh = model.select(filter);
    let after = system.counts();
    let hit = after.hits > before.hits;
    let served = if model.suspended {
        fresh
    } else {
        match (model.predict(&key, now), hit) {
            (Prediction::Hit(cached) | Prediction::HitOrMiss(cached), true) => cached,
            (Prediction::Miss | Prediction::HitOrMiss(_), false) => {
                model.cache.insert(
                    key,
                    Snapshot {
                        plans: fresh.clone(),
                        filled: now,
                    },
                );
                fresh
            }
            (Prediction::Hit(_), false) => {
                return Err(format!("{key}: expected a cache hit, got a miss"));
            }
            (Prediction::Miss, true) => {
                return Err(format!("{key}: expected a cache miss, got a hit"));
            }
        }
    };
    // A hit moves only the hit counter; a miss (also every read while suspended) one miss and
    // exactly one database load.
    let expected = if hit && !model.suspended {
        Counts {
            hits: before.hits + 1,
            ..before
        }
    } else {
        Counts {
            hits: before.hits,
            misses: before.misses + 1,
            loads: before.loads + 1,
        }
    };
    if after != expected {
        return Err(format!(
            "{key}: counters went from {before:?} to {after:?}, expected {expected:?}"
        ));
    }
    if let Some(got) = got
        && got != served
    {
        return Err(format!(
            "{key}: served ids {:?}, expected {:?} (database holds {:?})",
            ids(&got),
            ids(&served),
            ids(&model.select(filter))
        ));
    }
    Ok(served)
}

fn ids(plans: &[Plan]) -> Vec<PlanId> {
    plans.iter().map(|plan| plan.id).collect()
}

// ---------------------------------------------------------------------------------------------
// The property

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(100);
    Config {
        cases,
        ..Config::default()
    }
}

/// Every key the model uses has a fence slot of its own, so hits and misses are exactly
/// predictable (a shared slot would turn some predicted hits into harmless misses). If a change
/// of keys or hashing makes two share one, pick other user ids.
#[test]
fn the_model_keys_do_not_share_fence_slots() {
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    let mut slots = HashSet::new();
    let mut keys = 0;
    for user_id in std::iter::once(None).chain(USERS.map(Some)) {
        for connection_type in std::iter::once(None).chain(TYPES.map(Some)) {
            let key = PlanKey::for_filter(PlanFilter {
                user_id,
                connection_type,
            });
            slots.insert(hasher.hash_one(key) as usize % STRIPES);
            keys += 1;
        }
    }
    assert_eq!(slots.len(), keys, "two model keys share a fence slot");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_plan_service_behaves_like_its_model(ops in Sequence { element: op(), len: 1..50 }) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run(&ops))?;
    }
}
