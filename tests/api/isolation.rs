//! A model-based property test of tenant isolation. Several operators, each with its own token,
//! run random sequences of creates, updates, deletes and moves, concurrently, aiming also at each
//! other's plans and at ids that do not exist. Each answer must be the model's (where only an
//! operator's operations on its own plans take effect); at the end the database must equal the
//! model, and every list the server serves must equal the database.

use std::collections::BTreeMap;

use futures::future::join_all;
use plans_api::config::ReadAccess;
use plans_api::entities::plan;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::tokens::operator_token;
use crate::helpers::{Backend, TestApp, assert_no_errors, error_code};
use crate::operators::{CREATE, DELETE, UPDATE, spawn_with_jwt};

backend_tests!(operators_never_touch_each_others_plans);

const OPERATORS: [i32; 3] = [1, 2, 3];
const KINDS: [&str; 3] = ["HOTSPOT", "PPPOE", "STATIC"];
/// Random sequences run (each on top of what the earlier ones left).
const CASES: usize = 6;
const MAX_OPS: usize = 16;

/// Which plan an operation aims at.
#[derive(Debug, Clone)]
enum Target {
    /// The n-th (modulo) of the plans this operator has created or was given (deleted ones too).
    Own(usize),
    /// The n-th (modulo) seeded plan of another operator.
    Others(usize),
    /// An id no plan has.
    Unknown,
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        kind: usize,
        price: i32,
    },
    Update {
        target: Target,
        price: i32,
        kind: Option<usize>,
    },
    Delete {
        target: Target,
    },
    /// Moving a plan to the next operator: FORBIDDEN, whatever the plan.
    Move {
        target: Target,
    },
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        3 => any::<usize>().prop_map(Target::Own),
        2 => any::<usize>().prop_map(Target::Others),
        1 => Just(Target::Unknown),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize, 0..10_000i32).prop_map(|(kind, price)| Op::Create { kind, price }),
        3 => (target(), 0..10_000i32, proptest::option::of(0..3usize))
            .prop_map(|(target, price, kind)| Op::Update { target, price, kind }),
        2 => target().prop_map(|target| Op::Delete { target }),
        1 => target().prop_map(|target| Op::Move { target }),
    ]
}

/// A plan as the model holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Modelled {
    user_id: i32,
    kind: String,
    price: i32,
}

/// One operator's view: the plans it owns (id -> plan), and every id it ever owned.
#[derive(Default)]
struct Tenant {
    owned: BTreeMap<i32, Modelled>,
    history: Vec<i32>,
}

async fn operators_never_touch_each_others_plans(backend: Backend) {
    let app = spawn_with_jwt(backend, ReadAccess::Public).await;
    // Two seeded plans per operator, by the admin.
    let mut tenants: BTreeMap<i32, Tenant> = BTreeMap::new();
    for operator in OPERATORS {
        let tenant = tenants.entry(operator).or_default();
        for kind in ["HOTSPOT", "PPPOE"] {
            let id: i32 = app
                .create_ok(operator, kind, "seeded")
                .await
                .parse()
                .unwrap();
            tenant.owned.insert(
                id,
                Modelled {
                    user_id: operator,
                    kind: kind.to_owned(),
                    price: 1000,
                },
            );
            tenant.history.push(id);
        }
    }
    let seeded: BTreeMap<i32, Vec<i32>> = tenants
        .iter()
        .map(|(operator, tenant)| (*operator, tenant.history.clone()))
        .collect();

    let mut runner = TestRunner::deterministic();
    let sequences =
        proptest::collection::vec(proptest::collection::vec(op(), 1..MAX_OPS), OPERATORS.len());
    for case in 0..CASES {
        let plan: Vec<Vec<Op>> = sequences.new_tree(&mut runner).unwrap().current();
        // Each operator runs its sequence; the operators run at once.
        let runs = OPERATORS.iter().zip(plan.iter()).map(|(operator, ops)| {
            let tenant = tenants.remove(operator).unwrap();
            run_tenant(&app, *operator, tenant, ops, &seeded, case)
        });
        for (operator, tenant) in OPERATORS.iter().zip(join_all(runs).await) {
            tenants.insert(*operator, tenant);
        }
        check_database_and_lists(&app, &tenants, case).await;
    }
}

/// Runs `ops` as `operator`, checking each answer against its model; returns the model.
async fn run_tenant(
    app: &TestApp,
    operator: i32,
    mut tenant: Tenant,
    ops: &[Op],
    seeded: &BTreeMap<i32, Vec<i32>>,
    case: usize,
) -> Tenant {
    let token = operator_token(operator);
    let others: Vec<i32> = seeded
        .iter()
        .filter(|(owner, _)| **owner != operator)
        .flat_map(|(_, ids)| ids.iter().copied())
        .collect();
    let resolve = |target: &Target, tenant: &Tenant| match target {
        Target::Own(n) => tenant.history[n % tenant.history.len()],
        Target::Others(n) => others[n % others.len()],
        Target::Unknown => 999_999,
    };
    for (step, op) in ops.iter().enumerate() {
        let at = format!("case {case}, operator {operator}, step {step}: {op:?}");
        match op {
            Op::Create { kind, price } => {
                let input = json!({
                    "name": format!("op{operator}"),
                    "connectionType": KINDS[*kind],
                    "priceCents": price,
                    "durationMinutes": 60,
                });
                let body = send(app, &token, CREATE, json!({ "input": input })).await;
                assert_no_errors(&body);
                let created = &body["data"]["createPlan"];
                assert_eq!(created["userId"], operator, "{at}");
                let id: i32 = created["id"].as_str().unwrap().parse().unwrap();
                tenant.owned.insert(
                    id,
                    Modelled {
                        user_id: operator,
                        kind: KINDS[*kind].to_owned(),
                        price: *price,
                    },
                );
                tenant.history.push(id);
            }
            Op::Update {
                target,
                price,
                kind,
            } => {
                let id = resolve(target, &tenant);
                let mut input = json!({ "priceCents": price });
                if let Some(kind) = kind {
                    input["connectionType"] = KINDS[*kind].into();
                }
                let body = send(
                    app,
                    &token,
                    UPDATE,
                    json!({ "id": id.to_string(), "input": input }),
                )
                .await;
                assert_no_errors(&body);
                let updated = &body["data"]["updatePlan"];
                match tenant.owned.get_mut(&id) {
                    Some(plan) => {
                        plan.price = *price;
                        if let Some(kind) = kind {
                            plan.kind = KINDS[*kind].to_owned();
                        }
                        assert_eq!(updated["priceCents"], *price, "{at}: {body}");
                        assert_eq!(updated["userId"], operator, "{at}: {body}");
                    }
                    None => assert!(updated.is_null(), "{at}: not its own: {body}"),
                }
            }
            Op::Delete { target } => {
                let id = resolve(target, &tenant);
                let body = send(app, &token, DELETE, json!({ "id": id.to_string() })).await;
                assert_no_errors(&body);
                let deleted = tenant.owned.remove(&id).is_some();
                assert_eq!(body["data"]["deletePlan"], deleted, "{at}: {body}");
            }
            Op::Move { target } => {
                let id = resolve(target, &tenant);
                let next = OPERATORS[(OPERATORS.iter().position(|o| *o == operator).unwrap() + 1)
                    % OPERATORS.len()];
                let body = send(
                    app,
                    &token,
                    UPDATE,
                    json!({ "id": id.to_string(), "input": { "userId": next } }),
                )
                .await;
                assert_eq!(error_code(&body), "FORBIDDEN", "{at}: {body}");
            }
        }
    }
    tenant
}

async fn send(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    app.post_graphql_as(Some(token), query, variables).await.1
}

/// The database equals the union of the operators' models, and every list (each key of the
/// `plans*` keyspace) equals the database.
async fn check_database_and_lists(app: &TestApp, tenants: &BTreeMap<i32, Tenant>, case: usize) {
    let db = app.database.connect().await;
    let rows = plan::Entity::find()
        .order_by_asc(plan::Column::Id)
        .all(&db)
        .await
        .unwrap();
    db.close().await.ok();
    let in_database: BTreeMap<i32, Modelled> = rows
        .iter()
        .map(|row| {
            (
                row.id,
                Modelled {
                    user_id: row.user_id,
                    kind: format!("{:?}", row.connection_type).to_uppercase(),
                    price: row.price_cents,
                },
            )
        })
        .collect();
    let modelled: BTreeMap<i32, Modelled> = tenants
        .values()
        .flat_map(|tenant| tenant.owned.clone())
        .collect();
    assert_eq!(
        in_database, modelled,
        "case {case}: the database is the model"
    );

    let users = OPERATORS.iter().map(|user| Some(*user)).chain([None]);
    for user in users {
        for kind in KINDS.iter().map(|kind| Some(*kind)).chain([None]) {
            let body = app
                .query_with(
                    "query($u: Int, $t: ConnectionType) { plans(userId: $u, connectionType: $t) { id userId connectionType priceCents } }",
                    json!({ "u": user, "t": kind }),
                )
                .await;
            assert_no_errors(&body);
            let served: Vec<(i32, Modelled)> = body["data"]["plans"]
                .as_array()
                .unwrap()
                .iter()
                .map(|plan| {
                    (
                        plan["id"].as_str().unwrap().parse().unwrap(),
                        Modelled {
                            user_id: plan["userId"].as_i64().unwrap() as i32,
                            kind: plan["connectionType"].as_str().unwrap().to_owned(),
                            price: plan["priceCents"].as_i64().unwrap() as i32,
                        },
                    )
                })
                .collect();
            let expected: Vec<(i32, Modelled)> = in_database
                .iter()
                .filter(|(_, plan)| {
                    user.is_none_or(|user| plan.user_id == user)
                        && kind.is_none_or(|kind| plan.kind == kind)
                })
                .map(|(id, plan)| (*id, plan.clone()))
                .collect();
            assert_eq!(served, expected, "case {case}: plans({user:?}, {kind:?})");
        }
    }
}
