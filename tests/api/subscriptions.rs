//! Live lists (`Subscription.plans`) over both transports at `/graphql`: graphql-transport-ws and
//! graphql-sse's distinct-connections mode. First event, changes through this replica, another
//! replica and plain SQL, precision, ordering, coalescing, limits, shutdown, a killed listener.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use plans_api::plans::{PlanFilter, PlanService, demo_plans};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use plans_api::config::ReadAccess;

use crate::backend_tests;
use crate::helpers::live::{self, connect_ws};
use crate::helpers::{
    AppOptions, Backend, TOKEN, TestApp, TestDatabase, error_code, eventually, spawn_app,
    spawn_app_on, spawn_app_with,
};

backend_tests!(
    both: the_first_event_is_the_current_list_on_both_transports,
        a_change_through_this_replica_is_pushed,
        a_write_to_another_operator_wakes_nobody,
        lists_never_go_back_under_200_rapid_writes,
        a_paused_reader_gets_the_final_list_not_a_backlog,
        subscriptions_beyond_the_limits_are_refused,
        shutdown_completes_every_stream,
        read_access_authenticated_needs_a_credential_on_both_transports;
    postgres_only: changes_through_another_replica_and_plain_sql_are_pushed,
        a_killed_listener_loses_no_change_and_never_goes_back;
);

pub(crate) const SUBSCRIPTION: &str = "subscription($userId: Int, $type: ConnectionType) { plans(userId: $userId, connectionType: $type) { id name } }";

/// What a subscriber receives: lists of plan ids, errors (as their code), or the end.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Received {
    List(Vec<String>),
    Error(String),
    Complete,
}

pub(crate) fn received_of(payload: &Value) -> Received {
    if let Some(errors) = payload["errors"].as_array()
        && !errors.is_empty()
    {
        return Received::Error(
            errors[0]["extensions"]["code"]
                .as_str()
                .unwrap_or("NO_CODE")
                .to_owned(),
        );
    }
    Received::List(
        payload["data"]["plans"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|plan| plan["id"].as_str().expect("id").to_owned())
            .collect(),
    )
}

fn variables(user_id: Option<i32>, kind: Option<&str>) -> Value {
    json!({ "userId": user_id, "type": kind })
}

/// One subscriber; events arrive on a channel (unbounded: the test decides when to look).
struct Subscriber {
    events: mpsc::UnboundedReceiver<Received>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    /// The next event, failing after 5 s.
    async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(5), self.events.recv())
            .await
            .expect("an event within 5 s")
            .expect("the subscriber is running")
    }

    /// The next list event.
    async fn next_list(&mut self) -> Vec<String> {
        match self.next().await {
            Received::List(ids) => ids,
            other => panic!("expected a list, got {other:?}"),
        }
    }

    /// Lists until one satisfies `done`; returns every list seen (the last one satisfies it).
    async fn lists_until(&mut self, done: impl Fn(&[String]) -> bool) -> Vec<Vec<String>> {
        let mut seen = Vec::new();
        loop {
            let ids = self.next_list().await;
            let finished = done(&ids);
            seen.push(ids);
            if finished {
                return seen;
            }
        }
    }

    /// Asserts nothing arrives within `quiet`.
    async fn assert_quiet(&mut self, quiet: Duration) {
        if let Ok(event) = tokio::time::timeout(quiet, self.events.recv()).await {
            panic!("expected no event, got {event:?}");
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Subscribes over graphql-sse (distinct connections: a POST with `Accept: text/event-stream`).
async fn sse(app: &TestApp, variables: Value) -> Subscriber {
    reading(sse_response(app, variables).await)
}

/// An SSE subscription's response, not read yet.
async fn sse_response(app: &TestApp, variables: Value) -> reqwest::Response {
    // A client of its own: the test client's 30 s timeout covers a whole response, and a live
    // stream may outlast it.
    let response = reqwest::Client::new()
        .post(app.url("/graphql"))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": SUBSCRIPTION, "variables": variables }))
        .send()
        .await
        .expect("SSE request");
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    response
}

/// Starts reading an SSE response.
fn reading(response: reqwest::Response) -> Subscriber {
    let (sender, events) = mpsc::unbounded_channel();
    let task = tokio::spawn(read_sse(response, sender));
    Subscriber { events, task }
}

async fn read_sse(response: reqwest::Response, sender: mpsc::UnboundedSender<Received>) {
    live::read_sse(response, |event| {
        let received = match event.event.as_deref() {
            Some("next") => received_of(&serde_json::from_str(&event.data).expect("JSON data")),
            Some("complete") => Received::Complete,
            _ => return true,
        };
        sender.send(received).is_ok()
    })
    .await;
}

/// A graphql-transport-ws connection (acknowledged), on which subscriptions are started.
struct WsConnection {
    outgoing: mpsc::UnboundedSender<Message>,
    routes:
        Arc<std::sync::Mutex<std::collections::HashMap<String, mpsc::UnboundedSender<Received>>>>,
    closed: Arc<tokio::sync::Notify>,
    next_id: u32,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WsConnection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn ws(app: &TestApp) -> WsConnection {
    ws_as(app, Some(TOKEN)).await.expect("acknowledged")
}

/// A WebSocket whose `connection_init` carries `token`; `None` if the server closed it instead of
/// acknowledging.
async fn ws_as(app: &TestApp, token: Option<&str>) -> Option<WsConnection> {
    let (socket, _) = connect_ws(app.addr).await;
    let (mut sink, mut stream) = socket.split();
    let payload = token.map_or(
        json!({}),
        |token| json!({"Authorization": format!("Bearer {token}")}),
    );
    sink.send(Message::text(
        json!({"type": "connection_init", "payload": payload}).to_string(),
    ))
    .await
    .unwrap();
    match stream.next().await {
        Some(Ok(Message::Text(ack))) => assert_eq!(
            serde_json::from_str::<Value>(&ack).unwrap()["type"],
            "connection_ack"
        ),
        _ => return None,
    }
    let (outgoing, mut to_send) = mpsc::unbounded_channel::<Message>();
    let routes: Arc<
        std::sync::Mutex<std::collections::HashMap<String, mpsc::UnboundedSender<Received>>>,
    > = Arc::default();
    let closed = Arc::new(tokio::sync::Notify::new());
    let task = tokio::spawn({
        let (routes, closed, outgoing) = (routes.clone(), closed.clone(), outgoing.clone());
        async move {
            loop {
                tokio::select! {
                    Some(message) = to_send.recv() => {
                        if sink.send(message).await.is_err() { break; }
                    }
                    message = stream.next() => {
                        let Some(Ok(message)) = message else { break };
                        let Message::Text(text) = message else {
                            if let Message::Close(_) = message { break; }
                            continue;
                        };
                        let message: Value = serde_json::from_str(&text).unwrap();
                        let id = message["id"].as_str().unwrap_or_default().to_owned();
                        let received = match message["type"].as_str().unwrap() {
                            "next" => received_of(&message["payload"]),
                            "error" => Received::Error("PROTOCOL_ERROR".into()),
                            "complete" => Received::Complete,
                            "ping" => {
                                let _ = outgoing.send(Message::text(r#"{"type":"pong"}"#));
                                continue;
                            }
                            _ => continue,
                        };
                        if let Some(route) = routes.lock().unwrap().get(&id) {
                            let _ = route.send(received);
                        }
                    }
                }
            }
            closed.notify_waiters();
            closed.notify_one();
        }
    });
    Some(WsConnection {
        outgoing,
        routes,
        closed,
        next_id: 0,
        task,
    })
}

impl WsConnection {
    fn subscribe(&mut self, variables: Value) -> Subscriber {
        self.next_id += 1;
        let id = self.next_id.to_string();
        let (sender, events) = mpsc::unbounded_channel();
        self.routes.lock().unwrap().insert(id.clone(), sender);
        self.outgoing
            .send(Message::text(
                json!({"id": id, "type": "subscribe", "payload": {"query": SUBSCRIPTION, "variables": variables}})
                    .to_string(),
            ))
            .unwrap();
        Subscriber {
            events,
            task: tokio::spawn(async {}),
        }
    }
}

async fn the_first_event_is_the_current_list_on_both_transports(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.create_ok(1, "HOTSPOT", "a").await;
    let second = app.create_ok(1, "PPPOE", "b").await;
    app.create_ok(2, "HOTSPOT", "c").await;
    let mut by_sse = sse(&app, variables(Some(1), None)).await;
    assert_eq!(by_sse.next_list().await, [first.clone(), second.clone()]);
    let mut connection = ws(&app).await;
    let mut by_ws = connection.subscribe(variables(Some(1), Some("PPPOE")));
    assert_eq!(by_ws.next_list().await, std::slice::from_ref(&second));
    // A write that returned before a subscription started is in its first event.
    let third = app.create_ok(1, "PPPOE", "d").await;
    let mut late = connection.subscribe(variables(Some(1), Some("PPPOE")));
    assert_eq!(late.next_list().await, [second, third]);
    assert!(app.metric("plan_subscriptions_active").await >= 3.0);
}

async fn a_change_through_this_replica_is_pushed(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut by_sse = sse(&app, variables(Some(1), None)).await;
    let mut connection = ws(&app).await;
    let mut by_ws = connection.subscribe(variables(None, Some("HOTSPOT")));
    assert_eq!(by_sse.next_list().await, Vec::<String>::new());
    assert_eq!(by_ws.next_list().await, Vec::<String>::new());
    let id = app.create_ok(1, "HOTSPOT", "a").await;
    assert_eq!(by_sse.next_list().await, std::slice::from_ref(&id));
    assert_eq!(by_ws.next_list().await, std::slice::from_ref(&id));
    app.graphql(
        "mutation($id: ID!) { updatePlan(id: $id, input: { connectionType: STATIC }) { id } }",
        json!({ "id": id }),
    )
    .await;
    // Still user 1's (same list, new content); no longer a hotspot.
    assert_eq!(by_sse.next_list().await, std::slice::from_ref(&id));
    assert_eq!(by_ws.next_list().await, Vec::<String>::new());
    app.delete_plan(&id).await;
    assert_eq!(by_sse.next_list().await, Vec::<String>::new());
    by_ws.assert_quiet(Duration::from_millis(200)).await;
    assert!(app.metric("plan_subscription_events_total").await >= 6.0);
}

async fn a_write_to_another_operator_wakes_nobody(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut watcher = sse(&app, variables(Some(1), None)).await;
    let mut connection = ws(&app).await;
    let mut typed = connection.subscribe(variables(Some(1), Some("HOTSPOT")));
    assert!(watcher.next_list().await.is_empty());
    assert!(typed.next_list().await.is_empty());
    let loads = app.metric("plan_cache_db_loads_total").await;
    for i in 0..20 {
        app.create_ok(2, "HOTSPOT", &format!("other {i}")).await;
    }
    watcher.assert_quiet(Duration::from_millis(300)).await;
    // Nothing watched changed: no reload at all.
    assert_eq!(app.metric("plan_cache_db_loads_total").await, loads);
    let id = app.create_ok(1, "HOTSPOT", "mine").await;
    assert_eq!(watcher.next_list().await, std::slice::from_ref(&id));
    assert_eq!(typed.next_list().await, [id]);
}

async fn lists_never_go_back_under_200_rapid_writes(backend: Backend) {
    let app = Arc::new(spawn_app(backend).await);
    let mut by_sse = sse(&app, variables(Some(1), None)).await;
    let mut connection = ws(&app).await;
    let mut by_ws = connection.subscribe(variables(Some(1), None));
    // Four writers at once: creates only, so a list is newer exactly when it is longer.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let app = app.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    app.create_ok(1, "HOTSPOT", &format!("w{w} {i}")).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let loads_per_write = app.metric("plan_cache_db_loads_total").await / 200.0;
    for subscriber in [&mut by_sse, &mut by_ws] {
        let lists = subscriber.lists_until(|ids| ids.len() == 200).await;
        for pair in lists.windows(2) {
            assert!(
                pair[1].len() > pair[0].len(),
                "a list went back or repeated: {} then {}",
                pair[0].len(),
                pair[1].len()
            );
            assert!(pair[0].iter().all(|id| pair[1].contains(id)));
        }
        eprintln!("{} events for 200 writes", lists.len());
    }
    eprintln!("{loads_per_write:.2} database loads per write");
}

/// The domain's own stream, read after 500 writes: at most a few events (the newest list when it
/// reads, and the reloads still under way), the last one the final list: no backlog; and an SSE subscriber that stops reading gets the final list when it resumes, after a bounded
/// number of events (what the socket buffers held).
async fn a_paused_reader_gets_the_final_list_not_a_backlog(backend: Backend) {
    let app = Arc::new(spawn_app(backend).await);
    let plans: Arc<PlanService> = app.plans.clone();
    // Large lists (2,000 plans, ~100 KB an event), so that the socket buffers of the paused SSE
    // reader hold only a few events.
    plans.import(demo_plans(1, 2_000)).await.unwrap();
    let mut live = plans
        .watch(PlanFilter {
            user_id: Some(1),
            connection_type: None,
        })
        .await
        .unwrap();
    assert_eq!(live.next().await.unwrap().list.len(), 2_000);
    // Not read at all while the writes happen.
    let paused = sse_response(&app, variables(Some(1), None)).await;
    for i in 0..500 {
        app.create_ok(1, "HOTSPOT", &format!("p{i}")).await;
    }
    let mut events = 0;
    loop {
        let list = tokio::time::timeout(Duration::from_secs(5), live.next())
            .await
            .unwrap()
            .unwrap()
            .list;
        events += 1;
        if list.len() == 2_500 {
            break;
        }
    }
    eprintln!("the paused domain reader got {events} events on resuming (500 writes)");
    // The newest list when it resumed, then the reloads that were still under way: not 500.
    assert!(events <= 3, "{events} events");
    // Nothing else is waiting.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), live.next())
            .await
            .is_err()
    );
    let lists = reading(paused).lists_until(|ids| ids.len() == 2_500).await;
    eprintln!(
        "the paused SSE reader got {} events on resuming (500 writes)",
        lists.len()
    );
    // What the socket buffers held when the server stopped writing, then the newest list.
    assert!(lists.len() < 100, "{} events", lists.len());
    // Its first event: the list when its stream first ran (the head is sent before that).
    assert!(lists[0].len() >= 2_000, "the first event");
}

async fn subscriptions_beyond_the_limits_are_refused(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions::tweaked(|config| {
            config.subscriptions.subscriptions_max = 3;
            config.subscriptions.subscriptions_per_connection = 2;
        }),
    )
    .await;
    let mut connection = ws(&app).await;
    let mut first = connection.subscribe(variables(Some(1), None));
    let mut second = connection.subscribe(variables(Some(2), None));
    first.next_list().await;
    second.next_list().await;
    // Per connection.
    let mut third = connection.subscribe(variables(Some(3), None));
    assert_eq!(
        third.next().await,
        Received::Error("SUBSCRIPTION_LIMIT".into())
    );
    assert_eq!(third.next().await, Received::Complete);
    // Per process: one more fits (on SSE), then none.
    let mut by_sse = sse(&app, variables(None, None)).await;
    by_sse.next_list().await;
    let mut refused = sse(&app, variables(None, None)).await;
    assert_eq!(
        refused.next().await,
        Received::Error("SUBSCRIPTION_LIMIT".into())
    );
    assert_eq!(refused.next().await, Received::Complete);
    assert_eq!(app.metric("plan_subscriptions_active").await, 3.0);
    // One ends: its place is free again.
    drop(by_sse);
    eventually(
        "the SSE subscription to end",
        Duration::from_secs(5),
        Duration::from_millis(10),
        async || app.metric("plan_subscriptions_active").await == 2.0,
    )
    .await;
    let mut again = sse(&app, variables(None, None)).await;
    assert!(matches!(again.next().await, Received::List(_)));
}

async fn shutdown_completes_every_stream(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut by_sse = sse(&app, variables(Some(1), None)).await;
    let mut connection = ws(&app).await;
    let mut by_ws = connection.subscribe(variables(Some(1), None));
    by_sse.next_list().await;
    by_ws.next_list().await;
    let closed = connection.closed.clone();
    let closed = closed.notified();
    let started = Instant::now();
    app.stop().await;
    assert_eq!(by_sse.next().await, Received::Complete);
    assert_eq!(by_ws.next().await, Received::Complete);
    tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("the WebSocket is closed");
    assert!(started.elapsed() < Duration::from_secs(3));
}

async fn changes_through_another_replica_and_plain_sql_are_pushed() {
    let database = Arc::new(TestDatabase::new(Backend::Postgres).await);
    let a = spawn_app_on(database.clone(), AppOptions::default()).await;
    let b = spawn_app_on(database.clone(), AppOptions::default()).await;
    let mut on_b = sse(&b, variables(Some(1), None)).await;
    let mut connection = ws(&b).await;
    let mut on_b_ws = connection.subscribe(variables(None, Some("STATIC")));
    assert!(on_b.next_list().await.is_empty());
    assert!(on_b_ws.next_list().await.is_empty());
    let id = a.create_ok(1, "HOTSPOT", "on a").await;
    assert_eq!(on_b.next_list().await, std::slice::from_ref(&id));
    database.insert_behind_the_back(1, "static").await;
    let ids = on_b.next_list().await;
    assert_eq!(ids.len(), 2);
    assert_eq!(on_b_ws.next_list().await.len(), 1);
    // A write to another operator through A wakes nobody on B.
    a.create_ok(2, "HOTSPOT", "elsewhere").await;
    on_b.assert_quiet(Duration::from_millis(300)).await;
}

async fn a_killed_listener_loses_no_change_and_never_goes_back() {
    let database = Arc::new(TestDatabase::new(Backend::Postgres).await);
    let a = Arc::new(spawn_app_on(database.clone(), AppOptions::default()).await);
    let b = spawn_app_on(database.clone(), AppOptions::default()).await;
    let mut on_b = sse(&b, variables(Some(1), None)).await;
    assert!(on_b.next_list().await.is_empty());
    let writer = tokio::spawn({
        let a = a.clone();
        async move {
            for i in 0..100 {
                a.create_ok(1, "HOTSPOT", &format!("w{i}")).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let killed = database.kill_change_feeds().await;
    assert!(killed >= 1, "the listeners were killed");
    writer.await.unwrap();
    let lists = on_b.lists_until(|ids| ids.len() == 100).await;
    for pair in lists.windows(2) {
        assert!(pair[1].len() > pair[0].len(), "a list went back");
    }
    assert!(b.metric("plan_cache_listener_reconnects_total").await >= 1.0);
}

async fn read_access_authenticated_needs_a_credential_on_both_transports(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions::tweaked(|config| config.auth.read_access = ReadAccess::Authenticated),
    )
    .await;
    // WebSocket: no credential, or an invalid one, in connection_init: closed, never acknowledged.
    assert!(ws_as(&app, None).await.is_none());
    assert!(ws_as(&app, Some("not-a-token")).await.is_none());
    let mut connection = ws_as(&app, Some(TOKEN)).await.expect("acknowledged");
    assert!(
        connection
            .subscribe(variables(Some(1), None))
            .next_list()
            .await
            .is_empty()
    );
    // SSE: the same rules as any request.
    let refused = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": SUBSCRIPTION, "variables": variables(Some(1), None) }))
        .send()
        .await
        .unwrap();
    let body: Value = refused.json().await.unwrap();
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let mut admitted = reading(
        app.client
            .post(app.url("/graphql"))
            .header("accept", "text/event-stream")
            .bearer_auth(TOKEN)
            .json(&json!({ "query": SUBSCRIPTION, "variables": variables(Some(1), None) }))
            .send()
            .await
            .unwrap(),
    );
    assert!(admitted.next_list().await.is_empty());
}
