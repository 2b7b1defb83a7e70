//! Read-your-writes under real concurrency: many readers race creates and deletes over HTTP, and
//! no read that *started* after a mutation returned may miss it. Run with the response cache (the
//! readers repeat the same few documents, in two spellings, so most reads are response-cache
//! hits) and without it (every read executes against the plan cache).

use std::collections::HashSet;
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

#[derive(Clone, Copy)]
enum Change {
    Created,
    Deleted,
}

/// What the writers have done: mutations that returned, and ids whose delete has been sent (a
/// read overlapping a delete may or may not see the plan).
#[derive(Default)]
struct Log {
    completed: RwLock<Vec<Completed>>,
    deleting: RwLock<HashSet<String>>,
}

/// A mutation that has returned to its caller.
#[derive(Clone)]
struct Completed {
    id: String,
    user: i32,
    kind: &'static str,
    change: Change,
}

fn matches(event: &Completed, user: Option<i32>, kind: Option<&str>) -> bool {
    user.is_none_or(|user| user == event.user) && kind.is_none_or(|kind| kind == event.kind)
}

async fn writer(app: Arc<TestApp>, log: Arc<Log>, seed: usize) {
    let mut mine: Vec<(String, i32, &'static str)> = Vec::new();
    for i in 0..WRITES_PER_WRITER {
        let n = seed * 1000 + i;
        // Two creates for every delete, so lists keep changing in both directions.
        if i % 3 == 2 && !mine.is_empty() {
            let (id, user, kind) = mine.remove(n % mine.len());
            log.deleting.write().unwrap().insert(id.clone());
            let body = app.delete_plan(&id).await;
            assert_no_errors(&body);
            assert_eq!(body["data"]["deletePlan"], true);
            log.completed.write().unwrap().push(Completed {
                id,
                user,
                kind,
                change: Change::Deleted,
            });
        } else {
            let user = (n % USERS as usize) as i32 + 1;
            let kind = KINDS[(n / 7) % KINDS.len()];
            let id = app.create_ok(user, kind, &format!("w{seed}-{i}")).await;
            mine.push((id.clone(), user, kind));
            log.completed.write().unwrap().push(Completed {
                id,
                user,
                kind,
                change: Change::Created,
            });
        }
    }
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
        let before: Vec<Completed> = log.completed.read().unwrap().clone();
        let served = match (n >> 50) % 3 {
            0 => app.plan_ids(user, kind).await,
            1 => plan_ids_respelled(&app, user, kind).await,
            _ => plan_ids_by_get(&app, user, kind).await,
        };
        reads.fetch_add(1, Ordering::SeqCst);
        let deleting = log.deleting.read().unwrap().clone();

        let numeric: Vec<i64> = served.iter().map(|id| id.parse().unwrap()).collect();
        if !numeric.windows(2).all(|pair| pair[0] < pair[1]) {
            violations.push(format!("not ordered by id: {served:?}"));
        }
        let mut deleted = HashSet::new();
        for event in before.iter().rev().filter(|e| matches(e, user, kind)) {
            let present = served.contains(&event.id);
            match event.change {
                Change::Deleted => {
                    deleted.insert(event.id.clone());
                    if present {
                        violations.push(format!(
                            "{user:?}/{kind:?} served deleted plan {}",
                            event.id
                        ));
                    }
                }
                Change::Created
                    if !present
                        && !deleted.contains(&event.id)
                        && !deleting.contains(&event.id) =>
                {
                    violations.push(format!(
                        "{user:?}/{kind:?} missed created plan {}",
                        event.id
                    ));
                }
                Change::Created => {}
            }
        }
    }
    violations
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
