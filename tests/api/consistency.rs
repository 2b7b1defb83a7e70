//! Read your writes on every replica: a response that wrote carries a consistency token (header,
//! `extensions.plansConsistency`, cookie); a request carrying it is answered by any replica from
//! a state that includes the write, over every transport, even while that replica's change feed
//! is cut. Bad tokens: 400 in the header, ignored in a cookie, and nothing changes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::backend_tests;
use crate::helpers::http::{get, header, json_of, post};
use crate::helpers::live::connect_ws;
use crate::helpers::{
    AppOptions, Backend, TOKEN, TestApp, TestDatabase, assert_no_errors, assert_no_violations,
    error_code, finish_race, plan_ids_of, spawn_app_on, spawn_app_with,
};

backend_tests!(
    both: a_write_gets_a_token_in_the_header_the_extensions_and_a_cookie,
        a_batch_that_wrote_carries_one_token,
        bad_tokens_are_refused_in_the_header_and_ignored_in_the_cookie,
        the_cookie_can_be_turned_off,
        cors_lets_a_browser_send_and_read_the_token;
    postgres_only: a_token_makes_the_other_replica_read_the_write_for_every_kind_of_write,
        the_cookie_a_get_and_a_batch_carry_the_token_to_the_other_replica,
        a_subscriptions_first_event_on_the_other_replica_includes_the_write,
        with_the_other_replicas_feed_cut_it_reads_the_database,
        with_the_feed_off_a_token_of_another_replica_reads_the_database,
        readers_with_tokens_on_b_never_miss_a_write_returned_on_a;
);

const CONSISTENCY: &str = "plans-consistency";
const CREATE: &str = "mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }";
const UPDATE: &str =
    "mutation($id: ID!, $input: UpdatePlanInput!) { updatePlan(id: $id, input: $input) { id } }";
const DELETE: &str = "mutation($id: ID!) { deletePlan(id: $id) }";
const LIST: &str = "query($userId: Int, $type: ConnectionType) { plans(userId: $userId, connectionType: $type) { id name priceCents } }";

/// A mutation as the admin; returns the response body and its token (the header's, which must
/// equal the extensions').
async fn write(app: &TestApp, query: &str, variables: Value) -> (Value, String) {
    let auth = format!("Bearer {TOKEN}");
    let response = post(
        app,
        json!({ "query": query, "variables": variables }),
        &[("authorization", &auth)],
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let token = header(&response, CONSISTENCY)
        .expect("a response that wrote carries Plans-Consistency")
        .to_owned();
    let body = json_of(response).await;
    assert_no_errors(&body);
    assert_eq!(
        body["extensions"]["plansConsistency"], token,
        "the header and extensions.plansConsistency agree"
    );
    (body, token)
}

fn new_plan(user_id: i32, kind: &str, name: &str) -> Value {
    json!({ "input": {
        "userId": user_id, "name": name, "connectionType": kind,
        "priceCents": 1000, "durationMinutes": 60,
    }})
}

async fn create(app: &TestApp, user_id: i32, kind: &str, name: &str) -> (String, String) {
    let (body, token) = write(app, CREATE, new_plan(user_id, kind, name)).await;
    let id = body["data"]["createPlan"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (id, token)
}

/// `plans(userId, type)` with extra headers: the plans as (id, name, price).
async fn list_with(
    app: &TestApp,
    user_id: Option<i32>,
    kind: Option<&str>,
    headers: &[(&str, &str)],
) -> Vec<(String, String, i64)> {
    let response = post(
        app,
        json!({ "query": LIST, "variables": { "userId": user_id, "type": kind } }),
        headers,
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let body = json_of(response).await;
    assert_no_errors(&body);
    body["data"]["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|plan| {
            (
                plan["id"].as_str().unwrap().to_owned(),
                plan["name"].as_str().unwrap().to_owned(),
                plan["priceCents"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn ids(plans: &[(String, String, i64)]) -> Vec<&str> {
    plans.iter().map(|(id, _, _)| id.as_str()).collect()
}

async fn two_replicas(options: fn() -> AppOptions) -> (Arc<TestDatabase>, TestApp, TestApp) {
    let database = Arc::new(TestDatabase::new(Backend::Postgres).await);
    let a = spawn_app_on(database.clone(), options()).await;
    let b = spawn_app_on(database.clone(), options()).await;
    (database, a, b)
}

fn outcome(name: &str) -> String {
    format!("plans_consistency_requests_total{{outcome=\"{name}\"}}")
}

async fn a_write_gets_a_token_in_the_header_the_extensions_and_a_cookie(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::default()).await;
    let auth = format!("Bearer {TOKEN}");
    let response = post(
        &app,
        json!({ "query": CREATE, "variables": new_plan(1, "HOTSPOT", "first") }),
        &[("authorization", &auth)],
    )
    .await;
    let token = header(&response, CONSISTENCY).unwrap().to_owned();
    assert!(token.len() <= 128 && token.bytes().all(|b| b.is_ascii_graphic()));
    let cookie = header(&response, "set-cookie").unwrap().to_owned();
    assert_eq!(
        cookie,
        format!("plans_consistency={token}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax")
    );
    assert_eq!(
        json_of(response).await["extensions"]["plansConsistency"],
        token
    );

    // A later write's token replaces it; a read gets none; a failed mutation gets none.
    let (_, later) = create(&app, 1, "HOTSPOT", "second").await;
    assert_ne!(later, token);
    let read = post(&app, json!({ "query": LIST }), &[]).await;
    assert!(header(&read, CONSISTENCY).is_none());
    assert!(header(&read, "set-cookie").is_none());
    assert!(json_of(read).await.get("extensions").is_none());
    let refused = post(
        &app,
        json!({ "query": CREATE, "variables": new_plan(1, "HOTSPOT", "") }),
        &[("authorization", &auth)],
    )
    .await;
    assert!(header(&refused, CONSISTENCY).is_none());
    assert_eq!(error_code(&json_of(refused).await), "BAD_USER_INPUT");

    // One replica: its own token is current, and the read includes the write.
    let before = app.metric(&outcome("current")).await;
    let plans = list_with(&app, Some(1), None, &[(CONSISTENCY, &later)]).await;
    assert_eq!(plans.len(), 2);
    assert_eq!(app.metric(&outcome("current")).await, before + 1.0);
    app.stop().await;
}

async fn a_batch_that_wrote_carries_one_token(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::default()).await;
    let auth = format!("Bearer {TOKEN}");
    let batch = json!([
        { "query": LIST },
        { "query": CREATE, "variables": new_plan(3, "STATIC", "one") },
        { "query": LIST },
        { "query": CREATE, "variables": new_plan(3, "STATIC", "two") },
    ]);
    let response = post(&app, batch, &[("authorization", &auth)]).await;
    let token = header(&response, CONSISTENCY).unwrap().to_owned();
    let items = json_of(response).await;
    let items = items.as_array().unwrap();
    for item in items {
        assert_no_errors(item);
    }
    assert!(items[0].get("extensions").is_none());
    assert!(items[2].get("extensions").is_none());
    assert_eq!(items[1]["extensions"]["plansConsistency"], token);
    assert_eq!(items[3]["extensions"]["plansConsistency"], token);
    // A batch of reads carries none.
    let reads = post(&app, json!([{ "query": LIST }]), &[]).await;
    assert!(header(&reads, CONSISTENCY).is_none());
    app.stop().await;
}

async fn bad_tokens_are_refused_in_the_header_and_ignored_in_the_cookie(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::default()).await;
    let other = spawn_app_with(backend, AppOptions::default()).await;
    let (_, foreign) = create(&other, 1, "HOTSPOT", "elsewhere").await;
    let (_, mine) = create(&app, 1, "HOTSPOT", "here").await;
    let auth = format!("Bearer {TOKEN}");
    let rows_before = app.database.ids_in_table().await;
    let invalidations = app.metric("plan_cache_invalidations_total").await;
    let malformed = [
        "nonsense",
        "1.2.3",
        "",
        "2.0000000000000000.0000000000000000.1",
        &format!("{mine}.1"),
        &"9".repeat(200),
    ];
    for bad in malformed.iter().copied().chain([foreign.as_str()]) {
        // A mutation with a bad header: 400, nothing written, nothing invalidated.
        let response = post(
            &app,
            json!({ "query": CREATE, "variables": new_plan(1, "HOTSPOT", "never") }),
            &[("authorization", auth.as_str()), (CONSISTENCY, bad)],
        )
        .await;
        assert_eq!(response.status().as_u16(), 400, "{bad:?}");
        assert!(header(&response, CONSISTENCY).is_none());
        let body = json_of(response).await;
        assert_eq!(error_code(&body), "BAD_REQUEST");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("Plans-Consistency"), "{message}");
        // A GET, and an SSE subscription, too.
        let response = get(&app, "{ plans { id } }", None, None, &[(CONSISTENCY, bad)]).await;
        assert_eq!(response.status().as_u16(), 400, "GET {bad:?}");
        let response = app
            .client
            .post(app.url("/graphql"))
            .header("accept", "text/event-stream")
            .header(CONSISTENCY, bad)
            .json(&json!({ "query": "subscription { plans { id } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "SSE {bad:?}");
        // In a cookie it is ignored: the request is answered as if it had none.
        let cookie = format!("theme=dark; plans_consistency={bad}");
        let plans = list_with(&app, Some(1), None, &[("cookie", &cookie)]).await;
        assert_eq!(plans.len(), 1);
    }
    assert_eq!(app.database.ids_in_table().await, rows_before);
    assert_eq!(
        app.metric("plan_cache_invalidations_total").await,
        invalidations
    );
    // Still serving, and a good header is still honoured.
    assert_eq!(
        list_with(&app, Some(1), None, &[(CONSISTENCY, &mine)])
            .await
            .len(),
        1
    );
    other.stop().await;
    app.stop().await;
}

async fn the_cookie_can_be_turned_off(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions::tweaked(|config| {
            config.consistency.consistency_cookie = false;
        }),
    )
    .await;
    let auth = format!("Bearer {TOKEN}");
    let response = post(
        &app,
        json!({ "query": CREATE, "variables": new_plan(1, "PPPOE", "x") }),
        &[("authorization", &auth)],
    )
    .await;
    assert!(header(&response, CONSISTENCY).is_some());
    assert!(header(&response, "set-cookie").is_none());
    app.stop().await;
}

async fn cors_lets_a_browser_send_and_read_the_token(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::cors_list(&["https://portal.example"])).await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("origin", "https://portal.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,plans-consistency",
        )
        .send()
        .await
        .unwrap();
    let allowed = header(&preflight, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("plans-consistency"), "{allowed}");
    let auth = format!("Bearer {TOKEN}");
    let response = post(
        &app,
        json!({ "query": CREATE, "variables": new_plan(1, "PPPOE", "x") }),
        &[
            ("authorization", auth.as_str()),
            ("origin", "https://portal.example"),
        ],
    )
    .await;
    let exposed = header(&response, "access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("plans-consistency"), "{exposed}");
    app.stop().await;
}

/// The kinds of write a client reads back.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Create,
    UpdateInPlace,
    Move,
    Delete,
}

async fn a_token_makes_the_other_replica_read_the_write_for_every_kind_of_write() {
    const PAIRS: usize = 1_000;
    let (_database, a, b) = two_replicas(AppOptions::default).await;
    let mut stale = Vec::new();
    let mut untokened_stale = 0;
    for kind in [Kind::Create, Kind::UpdateInPlace, Kind::Move, Kind::Delete] {
        // Plans to update, move or delete, made (and seen by B) beforehand.
        let mut targets = Vec::new();
        if !matches!(kind, Kind::Create) {
            // In batches of ten: setting up is not what this test measures.
            for chunk in 0..PAIRS / 10 {
                let batch: Vec<Value> = (0..10)
                    .map(|i| json!({ "query": CREATE, "variables": new_plan(10, "HOTSPOT", &format!("{kind:?}-{chunk}-{i}")) }))
                    .collect();
                let auth = format!("Bearer {TOKEN}");
                let items =
                    json_of(post(&a, Value::Array(batch), &[("authorization", &auth)]).await).await;
                for item in items.as_array().unwrap() {
                    assert_no_errors(item);
                    targets.push(
                        item["data"]["createPlan"]["id"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                    );
                }
            }
            let last = targets.last().unwrap().clone();
            let (_, token) = create(&a, 99, "STATIC", "fence").await;
            assert!(
                ids(&list_with(&b, Some(10), None, &[(CONSISTENCY, &token)]).await)
                    .contains(&last.as_str())
            );
        }
        let target = |i: usize| targets.get(i).cloned().expect("a plan made for pair i");
        for i in 0..PAIRS {
            // B has the key cached (the previous pair's read): a stale answer would come from its
            // caches.
            let (user, kind_filter) = (Some(10), Some("HOTSPOT"));
            if i == 0 {
                list_with(&b, user, kind_filter, &[]).await;
            }
            let (id, token, moved_to) = match kind {
                Kind::Create => {
                    let (id, token) = create(&a, 10, "HOTSPOT", &format!("new-{i}")).await;
                    (id, token, None)
                }
                Kind::UpdateInPlace => {
                    let id = target(i);
                    let (_, token) = write(
                        &a,
                        UPDATE,
                        json!({ "id": id, "input": { "priceCents": 5000 + i } }),
                    )
                    .await;
                    (id, token, None)
                }
                Kind::Move => {
                    let id = target(i);
                    let (_, token) = write(
                        &a,
                        UPDATE,
                        json!({ "id": id, "input": { "userId": 11, "connectionType": "PPPOE" } }),
                    )
                    .await;
                    (id, token, Some(11))
                }
                Kind::Delete => {
                    let id = target(i);
                    let (_, token) = write(&a, DELETE, json!({ "id": id })).await;
                    (id, token, None)
                }
            };
            // Every eighth pair also reads without the token, to show the window it closes.
            if i % 8 == 0 {
                let plans = list_with(&b, user, kind_filter, &[]).await;
                if !answer_includes(kind, &plans, &id, i) {
                    untokened_stale += 1;
                }
            }
            let plans = list_with(&b, user, kind_filter, &[(CONSISTENCY, &token)]).await;
            if !answer_includes(kind, &plans, &id, i) {
                stale.push(format!("{kind:?} #{i}: plan {id}"));
            }
            if let Some(owner) = moved_to {
                let theirs = list_with(&b, Some(owner), None, &[(CONSISTENCY, &token)]).await;
                if !ids(&theirs).contains(&id.as_str()) {
                    stale.push(format!(
                        "{kind:?} #{i}: plan {id} missing from its new owner"
                    ));
                }
            }
        }
    }
    let outcomes = [
        b.metric(&outcome("current")).await,
        b.metric(&outcome("waited")).await,
        b.metric(&outcome("database")).await,
    ];
    eprintln!(
        "{} write-then-read pairs across replicas: {} stale with the token; without it {} of {} \
         were stale; B's outcomes: current {}, waited {}, database {}",
        4 * PAIRS,
        stale.len(),
        untokened_stale,
        4 * PAIRS / 8,
        outcomes[0],
        outcomes[1],
        outcomes[2]
    );
    assert_no_violations("stale reads with a token", &stale);
    a.stop().await;
    b.stop().await;
}

/// Whether `plans` (user 10's hotspot plans) reflects write `i` of `kind` on plan `id`.
fn answer_includes(kind: Kind, plans: &[(String, String, i64)], id: &str, i: usize) -> bool {
    let found = plans.iter().find(|(plan, _, _)| plan == id);
    match kind {
        Kind::Create => found.is_some(),
        Kind::UpdateInPlace => found.is_some_and(|(_, _, price)| *price == 5000 + i as i64),
        Kind::Move | Kind::Delete => found.is_none(),
    }
}

async fn the_cookie_a_get_and_a_batch_carry_the_token_to_the_other_replica() {
    let (_database, a, b) = two_replicas(AppOptions::default).await;
    let auth = format!("Bearer {TOKEN}");
    for round in 0..100 {
        list_with(&b, Some(5), None, &[]).await;
        // A batch writes on A; the cookie it set goes with a GET to B.
        let response = post(
            &a,
            json!([
                { "query": CREATE, "variables": new_plan(5, "STATIC", &format!("b{round}")) },
                { "query": LIST, "variables": { "userId": 5 } },
            ]),
            &[("authorization", &auth)],
        )
        .await;
        let set_cookie = header(&response, "set-cookie").unwrap().to_owned();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let items = json_of(response).await;
        let id = items[0]["data"]["createPlan"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let response = get(
            &b,
            "query($u: Int) { plans(userId: $u) { id } }",
            Some(json!({ "u": 5 })),
            None,
            &[("cookie", &cookie)],
        )
        .await;
        assert_eq!(response.status().as_u16(), 200);
        let served = plan_ids_of(&json_of(response).await);
        assert!(
            served.contains(&id),
            "round {round}: the GET with the cookie missed plan {id}"
        );
    }
    a.stop().await;
    b.stop().await;
}

const SUBSCRIPTION: &str = "subscription($u: Int) { plans(userId: $u) { id } }";

/// The first event of an SSE subscription to user `user`'s plans on `app`, with `headers`.
async fn first_sse_event(app: &TestApp, user: i32, headers: &[(&str, &str)]) -> Vec<String> {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": SUBSCRIPTION, "variables": { "u": user } }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let mut buffer = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(5), response.chunk())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .expect("the stream goes on");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        if let Some(start) = buffer.find("event: next\ndata: ")
            && let Some(end) = buffer[start..].find("\n\n")
        {
            let data = &buffer[start + "event: next\ndata: ".len()..start + end];
            return plan_ids_of(&serde_json::from_str(data).unwrap());
        }
    }
}

/// The first event of a graphql-transport-ws subscription whose `connection_init` carries
/// `token`.
async fn first_ws_event(app: &TestApp, user: i32, token: &str) -> Vec<String> {
    let (mut socket, _) = connect_ws(app.addr).await;
    let send = |value: Value| Message::text(value.to_string());
    socket
        .send(send(
            json!({"type": "connection_init", "payload": { "plansConsistency": token }}),
        ))
        .await
        .unwrap();
    socket
        .send(send(json!({"id": "1", "type": "subscribe",
            "payload": { "query": SUBSCRIPTION, "variables": { "u": user } }})))
        .await
        .unwrap();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message within 5 s")
            .unwrap()
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        let message: Value = serde_json::from_str(&text).unwrap();
        if message["type"] == "next" {
            let _ = socket.close(None).await;
            return plan_ids_of(&message["payload"]);
        }
    }
}

async fn a_subscriptions_first_event_on_the_other_replica_includes_the_write() {
    let (_database, a, b) = two_replicas(AppOptions::default).await;
    for round in 0..50 {
        // B has a live list of the key already: the first event must not be its older list.
        let user = 20 + round % 2;
        first_sse_event(&b, user, &[]).await;
        let (id, token) = create(&a, user, "HOTSPOT", &format!("s{round}")).await;
        let over_sse = first_sse_event(&b, user, &[(CONSISTENCY, &token)]).await;
        assert!(over_sse.contains(&id), "round {round}: SSE missed {id}");
        let (id, token) = create(&a, user, "HOTSPOT", &format!("w{round}")).await;
        let over_ws = first_ws_event(&b, user, &token).await;
        assert!(
            over_ws.contains(&id),
            "round {round}: WebSocket missed {id}"
        );
    }
    a.stop().await;
    b.stop().await;
}

async fn with_the_other_replicas_feed_cut_it_reads_the_database() {
    let (database, a, b) = two_replicas(AppOptions::default).await;
    let mut checked = 0;
    for round in 0..20 {
        list_with(&b, Some(30), None, &[]).await;
        assert!(
            database.kill_change_feeds().await >= 1,
            "a listener was cut"
        );
        // Right after the cut, before B's listener is back: writes on A, reads on B.
        for i in 0..5 {
            let (id, token) = create(&a, 30, "STATIC", &format!("cut{round}-{i}")).await;
            let plans = list_with(&b, Some(30), None, &[(CONSISTENCY, &token)]).await;
            assert!(
                ids(&plans).contains(&id.as_str()),
                "round {round}: B missed {id} with its feed cut"
            );
            checked += 1;
        }
        // Let the listeners come back before the next cut.
        crate::helpers::eventually(
            "B's listener is back",
            Duration::from_secs(10),
            Duration::from_millis(10),
            async || b.metric("plan_cache_listener_connected").await == 1.0,
        )
        .await;
    }
    let database_reads = b.metric(&outcome("database")).await;
    eprintln!(
        "{checked} reads with tokens while B's feed was cut: {database_reads} read the database"
    );
    assert!(
        database_reads >= 1.0,
        "some reads had to go to the database"
    );
    a.stop().await;
    b.stop().await;
}

async fn with_the_feed_off_a_token_of_another_replica_reads_the_database() {
    let (_database, a, b) = two_replicas(|| AppOptions {
        listen: false,
        ..AppOptions::default()
    })
    .await;
    for round in 0..20 {
        list_with(&b, Some(40), None, &[]).await;
        let (id, token) = create(&a, 40, "PPPOE", &format!("off{round}")).await;
        // Without the token B serves its cached list (the feed is off) ...
        assert!(!ids(&list_with(&b, Some(40), None, &[]).await).contains(&id.as_str()));
        // ... with it, the database.
        let plans = list_with(&b, Some(40), None, &[(CONSISTENCY, &token)]).await;
        assert!(ids(&plans).contains(&id.as_str()), "round {round}");
        // A's own token is one A can vouch for.
        assert!(
            ids(&list_with(&a, Some(40), None, &[(CONSISTENCY, &token)]).await)
                .contains(&id.as_str())
        );
    }
    assert_eq!(b.metric(&outcome("database")).await, 20.0);
    assert_eq!(a.metric(&outcome("current")).await, 20.0);
    a.stop().await;
    b.stop().await;
}

/// A write that returned on A: the plan, its token, and the writes that had returned before it
/// started (its token covers those too).
#[derive(Clone)]
struct Returned {
    id: String,
    token: String,
    deleted: bool,
    returned_before_it_started: usize,
}

async fn readers_with_tokens_on_b_never_miss_a_write_returned_on_a() {
    let (_database, a, b) = two_replicas(AppOptions::default).await;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let log: Arc<RwLock<Vec<Returned>>> = Arc::default();
    let deleting: Arc<RwLock<HashSet<String>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (a, log, deleting) = (a.clone(), log.clone(), deleting.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                for i in 0..60 {
                    let returned_before_it_started = log.read().unwrap().len();
                    let (id, token, deleted) = if i % 3 == 2 {
                        let id: String = mine.pop().unwrap();
                        deleting.write().unwrap().insert(id.clone());
                        let (_, token) = write(&a, DELETE, json!({ "id": id })).await;
                        (id, token, true)
                    } else {
                        let (id, token) = create(&a, 50, "PPPOE", &format!("w{w}-{i}")).await;
                        mine.push(id.clone());
                        (id, token, false)
                    };
                    log.write().unwrap().push(Returned {
                        id,
                        token,
                        deleted,
                        returned_before_it_started,
                    });
                }
            })
        })
        .collect();
    let reads = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..16)
        .map(|r| {
            let (b, log, deleting, done, reads) = (
                b.clone(),
                log.clone(),
                deleting.clone(),
                done.clone(),
                reads.clone(),
            );
            tokio::spawn(async move {
                let mut violations = Vec::new();
                let mut turn = r;
                while !done.load(Ordering::SeqCst) {
                    let returned = log.read().unwrap().clone();
                    let Some(newest) = returned.len().checked_sub(1) else {
                        tokio::task::yield_now().await;
                        continue;
                    };
                    // The token of one write that returned before this read began: the newest,
                    // or an older one.
                    turn += 1;
                    let chosen = &returned[newest - turn % 3.min(newest + 1)];
                    let served: HashSet<String> =
                        ids(&list_with(&b, Some(50), None, &[(CONSISTENCY, &chosen.token)]).await)
                            .into_iter()
                            .map(str::to_owned)
                            .collect();
                    let deleting = deleting.read().unwrap().clone();
                    reads.fetch_add(1, Ordering::SeqCst);
                    let covered = returned[..chosen.returned_before_it_started]
                        .iter()
                        .chain(std::iter::once(chosen));
                    let deleted: HashSet<&str> = returned
                        .iter()
                        .filter(|write| write.deleted)
                        .map(|write| write.id.as_str())
                        .collect();
                    for write in covered {
                        let present = served.contains(&write.id);
                        if write.deleted && present {
                            violations.push(format!("B served {} after its delete", write.id));
                        }
                        if !write.deleted
                            && !present
                            && !deleted.contains(write.id.as_str())
                            && !deleting.contains(&write.id)
                        {
                            violations.push(format!("B missed created {}", write.id));
                        }
                    }
                }
                violations
            })
        })
        .collect();
    let violations = finish_race(writers, &done, readers).await;
    let outcomes = [
        b.metric(&outcome("current")).await,
        b.metric(&outcome("waited")).await,
        b.metric(&outcome("database")).await,
    ];
    eprintln!(
        "{} token reads on B raced 240 writes on A; {} violations; outcomes current {}, waited {}, database {}",
        reads.load(Ordering::SeqCst),
        violations.len(),
        outcomes[0],
        outcomes[1],
        outcomes[2]
    );
    assert_no_violations("stale reads with tokens across replicas", &violations);
}
