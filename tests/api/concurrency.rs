//! Read-your-writes under real concurrency: many readers race creates, updates (also moves to
//! another owner and type) and deletes over HTTP, and no read that *started* after a mutation
//! returned may miss it. Some readers page through a list with `plansConnection` while the
//! writers change it: a plan no write touched during the walk is served exactly once. Run with the response cache (the
//! readers repeat the same few documents, in two spellings, so most reads are response-cache
//! hits) and without it (every read executes against the plan cache).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use serde_json::json;

use crate::backend_tests;
use crate::helpers::http::{get, json_of};
use crate::helpers::{
    AppOptions, Backend, TestApp, assert_no_errors, assert_no_violations, finish_race, plan_ids_of,
    spawn_app_with,
};

backend_tests!(
    no_read_that_starts_after_a_write_misses_it,
    no_read_that_starts_after_a_write_misses_it_without_response_cache
);

const USERS: i32 = 3;
const KINDS: [&str; 3] = ["HOTSPOT", "PPPOE", "STATIC"];
const WRITERS: usize = 2;
const WRITES_PER_WRITER: usize = 60;
const READERS: usize = 48;

/// Where a plan is: its owner and type, or `None` once deleted.
type State = Option<(i32, &'static str)>;

/// What the writers have done, per plan id: how many operations (after its create) were sent,
/// and how many returned with the state the last one left. A read can be held to a plan's state
/// only if no operation on it was in flight at any point of the read (those are compared after
/// the read: every operation sent before it ended is counted).
#[derive(Default)]
struct Log {
    completed: RwLock<HashMap<String, (usize, State)>>,
    sent: RwLock<HashMap<String, usize>>,
}

impl Log {
    fn sending(&self, id: &str) {
        *self.sent.write().unwrap().entry(id.to_owned()).or_default() += 1;
    }

    /// A create returned (its id was not known before, so nothing was sent on it).
    fn created(&self, id: &str, state: State) {
        self.completed
            .write()
            .unwrap()
            .insert(id.to_owned(), (0, state));
    }

    /// An update or delete sent with [`Log::sending`] returned.
    fn returned(&self, id: &str, state: State) {
        let mut completed = self.completed.write().unwrap();
        let entry = completed.get_mut(id).expect("a plan this writer created");
        entry.0 += 1;
        entry.1 = state;
    }
}

fn matches(state: State, user: Option<i32>, kind: Option<&str>) -> bool {
    state.is_some_and(|(plan_user, plan_kind)| {
        user.is_none_or(|user| user == plan_user) && kind.is_none_or(|kind| kind == plan_kind)
    })
}

async fn update_plan(app: &TestApp, id: &str, user: i32, kind: &str, price: usize) {
    let body = app
        .graphql(
            "mutation($id: ID!, $input: UpdatePlanInput!) { updatePlan(id: $id, input: $input) { id userId connectionType } }",
            json!({ "id": id, "input": { "userId": user, "connectionType": kind, "priceCents": price } }),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["updatePlan"]["userId"], user, "{body}");
}

async fn writer(app: Arc<TestApp>, log: Arc<Log>, seed: usize) {
    let mut mine: Vec<(String, i32, &'static str)> = Vec::new();
    for i in 0..WRITES_PER_WRITER {
        let n = seed * 1000 + i;
        // Two creates, then an update (a move to another owner and/or type, or a price change
        // only), then a delete: lists keep changing in every direction.
        match i % 4 {
            2 if !mine.is_empty() => {
                let index = n % mine.len();
                let (id, user, kind) = mine[index].clone();
                let (user, kind) = match n % 3 {
                    0 => (user, kind),
                    1 => (user % USERS + 1, kind),
                    _ => (user % USERS + 1, KINDS[(n / 3) % KINDS.len()]),
                };
                log.sending(&id);
                update_plan(&app, &id, user, kind, n).await;
                log.returned(&id, Some((user, kind)));
                mine[index] = (id, user, kind);
            }
            3 if !mine.is_empty() => {
                let (id, _, _) = mine.remove(n % mine.len());
                log.sending(&id);
                let body = app.delete_plan(&id).await;
                assert_no_errors(&body);
                assert_eq!(body["data"]["deletePlan"], true);
                log.returned(&id, None);
            }
            _ => {
                let user = (n % USERS as usize) as i32 + 1;
                let kind = KINDS[(n / 7) % KINDS.len()];
                let id = app.create_ok(user, kind, &format!("w{seed}-{i}")).await;
                log.created(&id, Some((user, kind)));
                mine.push((id, user, kind));
            }
        }
    }
}

/// Checks ids served for `user`/`kind` by reads that ran between the two snapshots of the log:
/// ascending (so nothing repeated), and for every plan no operation touched meanwhile, present
/// exactly when its state matches.
fn check(
    served: &[String],
    (user, kind): (Option<i32>, Option<&str>),
    before: &HashMap<String, (usize, State)>,
    sent: &HashMap<String, usize>,
    what: &str,
) -> Vec<String> {
    let mut violations = Vec::new();
    let numeric: Vec<i64> = served.iter().map(|id| id.parse().unwrap()).collect();
    if !numeric.windows(2).all(|pair| pair[0] < pair[1]) {
        violations.push(format!("{what}: not ascending by id: {served:?}"));
    }
    for (id, (done, state)) in before {
        if sent.get(id).copied().unwrap_or(0) > *done {
            continue; // in flight during the read: either answer is right
        }
        let present = served.contains(id);
        let expected = matches(*state, user, kind);
        if present != expected {
            violations.push(format!(
                "{what} {user:?}/{kind:?}: plan {id} ({state:?}) {}",
                if present {
                    "served but should not be"
                } else {
                    "missed"
                }
            ));
        }
    }
    violations
}

async fn reader(
    app: Arc<TestApp>,
    log: Arc<Log>,
    done: Arc<AtomicBool>,
    seed: usize,
    reads: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut violations = Vec::new();
    let mut n = seed;
    while !done.load(Ordering::SeqCst) {
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let user = match (n >> 33) % 4 {
            0 => None,
            u => Some(u as i32),
        };
        let kind = match (n >> 40) % 4 {
            0 => None,
            k => Some(KINDS[k - 1]),
        };
        // Everything in the log returned before this read starts.
        let before = log.completed.read().unwrap().clone();
        let (served, what) = match (n >> 50) % 4 {
            0 => (app.plan_ids(user, kind).await, "plans"),
            1 => (
                plan_ids_respelled(&app, user, kind).await,
                "plans (respelled)",
            ),
            2 => (plan_ids_by_get(&app, user, kind).await, "plans by GET"),
            // Every page of the list, one after the other: a plan no write touched while the
            // pages were read is served exactly once; nothing is served twice.
            _ => (
                plan_ids_paged(&app, user, kind, (n >> 20) % 4 + 2).await,
                "plansConnection pages",
            ),
        };
        reads.fetch_add(1, Ordering::SeqCst);
        let sent = log.sent.read().unwrap().clone();
        violations.extend(check(&served, (user, kind), &before, &sent, what));
    }
    violations
}

/// The whole list read page by page (`first: size`, each after the last page's end cursor).
async fn plan_ids_paged(
    app: &TestApp,
    user: Option<i32>,
    kind: Option<&str>,
    size: usize,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let body = app
            .graphql(
                "query($userId: Int, $type: ConnectionType, $first: Int, $after: String) { plansConnection(userId: $userId, connectionType: $type, first: $first, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }",
                json!({ "userId": user, "type": kind, "first": size, "after": after }),
            )
            .await;
        assert_no_errors(&body);
        let connection = &body["data"]["plansConnection"];
        for edge in connection["edges"].as_array().unwrap() {
            ids.push(edge["node"]["id"].as_str().unwrap().to_owned());
        }
        if connection["pageInfo"]["hasNextPage"] != true {
            return ids;
        }
        after = connection["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
    }
}

/// The same request as [`TestApp::plan_ids`], spelled differently (whitespace, commas, a comment,
/// variables in another order): the response cache must treat it as the same document.
async fn plan_ids_respelled(app: &TestApp, user: Option<i32>, kind: Option<&str>) -> Vec<String> {
    let body = app
        .graphql(
            "query( $userId : Int ,$type: ConnectionType)\n{ # respelled\n  plans( userId:$userId,connectionType:$type ){id} }",
            json!({ "type": kind, "userId": user }),
        )
        .await;
    plan_ids_of(&body)
}

/// The same request as [`TestApp::plan_ids`], by GET (which has its own raw-bytes entries in the
/// response cache, and shares the normalized ones with POST).
async fn plan_ids_by_get(app: &TestApp, user: Option<i32>, kind: Option<&str>) -> Vec<String> {
    let response = get(
        app,
        "query($userId: Int, $type: ConnectionType) { plans(userId: $userId, connectionType: $type) { id } }",
        Some(json!({ "userId": user, "type": kind })),
        None,
        &[],
    )
    .await;
    plan_ids_of(&json_of(response).await)
}

async fn no_read_that_starts_after_a_write_misses_it(backend: Backend) {
    race(backend, AppOptions::default()).await;
}

async fn no_read_that_starts_after_a_write_misses_it_without_response_cache(backend: Backend) {
    race(
        backend,
        AppOptions {
            response_cache_entries: 0,
            ..AppOptions::default()
        },
    )
    .await;
}

async fn race(backend: Backend, options: AppOptions) {
    let response_cache = options.response_cache_entries > 0;
    let app = Arc::new(spawn_app_with(backend, options).await);
    let log = Arc::new(Log::default());
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));

    let readers: Vec<_> = (0..READERS)
        .map(|seed| {
            tokio::spawn(reader(
                app.clone(),
                log.clone(),
                done.clone(),
                seed,
                reads.clone(),
            ))
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|seed| tokio::spawn(writer(app.clone(), log.clone(), seed)))
        .collect();
    let violations = finish_race(writers, &done, readers).await;
    let reads = reads.load(Ordering::SeqCst);
    eprintln!(
        "{backend:?}: {reads} reads raced {} writes; {} violations",
        WRITERS * WRITES_PER_WRITER,
        violations.len()
    );
    assert!(
        reads > WRITERS * WRITES_PER_WRITER * 5,
        "readers did not race the writers ({reads} reads)"
    );
    assert_no_violations("stale reads", &violations);
    // The caches were really in play: most reads were hits of one or the other.
    let response_hits = app.metric("graphql_response_cache_hits_total").await;
    let plan_hits = app.metric("plan_cache_hits_total").await;
    assert!(plan_hits + response_hits > app.metric("plan_cache_misses_total").await);
    if response_cache {
        assert!(
            response_hits > reads as f64 / 4.0,
            "{response_hits} response-cache hits in {reads} reads"
        );
    } else {
        assert_eq!(response_hits, 0.0);
    }
}
