//! OpenTelemetry traces against real parts: the `plans-api` binary, started with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at an OTLP/HTTP receiver this test runs on loopback,
//! which decodes the real protobuf export. Checks span names, attributes, parents, the
//! continuation of a W3C `traceparent`, the trace id in the access log, the links from a live
//! list's events to the writes that caused them, and the flush on shutdown (the spans arrive
//! when the server stops, before the batch's 5-second tick).

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use futures::{SinkExt as _, StreamExt as _};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::backend_tests;
use crate::helpers::live::{Socket, connect_ws};
use crate::helpers::{Backend, TOKEN, TestDatabase};

backend_tests!(
    a_traced_server_exports_graphql_spans_with_their_children_and_continues_traceparent,
    a_subscription_event_links_to_the_write_that_caused_it,
    without_an_endpoint_nothing_is_exported_and_the_log_has_no_trace_id,
    requests_not_kept_export_nothing_not_even_their_loads,
    response_cache_hits_are_named_after_their_operation,
    by_default_the_log_has_the_start_up_lines_and_warnings_but_no_access_lines,
);

/// What the receiver was sent: each span with its resource's `service.name`.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Span)>>>);

impl Received {
    fn spans(&self) -> Vec<(String, Span)> {
        self.0.lock().unwrap().clone()
    }
}

/// An OTLP/HTTP receiver on loopback: `POST /v1/traces` with a protobuf body.
async fn start_receiver() -> (SocketAddr, Received) {
    let received = Received::default();
    let sink = received.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP export");
                let mut spans = sink.0.lock().unwrap();
                for resource in request.resource_spans {
                    let service = resource
                        .resource
                        .iter()
                        .flat_map(|resource| &resource.attributes)
                        .find(|kv| kv.key == "service.name")
                        .and_then(|kv| string_of(kv.value.as_ref()?.value.as_ref()?))
                        .unwrap_or_default();
                    for scope in resource.scope_spans {
                        spans.extend(scope.spans.into_iter().map(|span| (service.clone(), span)));
                    }
                }
                // An empty ExportTraceServiceResponse.
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, received)
}

fn string_of(value: &AnyValue) -> Option<String> {
    match value {
        AnyValue::StringValue(text) => Some(text.clone()),
        _ => None,
    }
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a AnyValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn string_attribute(span: &Span, key: &str) -> Option<String> {
    attribute(span, key).and_then(string_of)
}

fn bool_attribute(span: &Span, key: &str) -> Option<bool> {
    match attribute(span, key)? {
        AnyValue::BoolValue(value) => Some(*value),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The `plans-api` binary, serving on a free loopback port with `env`, its log in a file.
/// A server exporting its spans to a receiver of this test's, with `OTEL_TRACES_SAMPLER` (and
/// its argument); the database is returned to live as long as the server.
async fn start_exporting(
    backend: Backend,
    sampler: &str,
    argument: Option<&str>,
) -> (Server, Received, TestDatabase) {
    let (receiver, received) = start_receiver().await;
    let database = TestDatabase::new(backend).await;
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{receiver}")),
        ("OTEL_TRACES_SAMPLER", sampler.to_owned()),
    ];
    if let Some(argument) = argument {
        env.push(("OTEL_TRACES_SAMPLER_ARG", argument.to_owned()));
    }
    let server = Server::start(&database, &env).await;
    (server, received, database)
}

struct Server {
    child: Child,
    addr: SocketAddr,
    log: tempfile::NamedTempFile,
    client: reqwest::Client,
}

impl Server {
    async fn start(database: &TestDatabase, env: &[(&str, String)]) -> Self {
        Self::start_logging(database, env, Some("info")).await
    }

    /// With `RUST_LOG` set to `log`, or unset.
    async fn start_logging(
        database: &TestDatabase,
        env: &[(&str, String)],
        rust_log: Option<&str>,
    ) -> Self {
        let addr = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_plans-api"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", &database.url)
            .env("BIND_ADDR", addr.to_string())
            .env("ADMIN_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            .stdout(Stdio::from(log.reopen().unwrap()))
            .stderr(Stdio::null());
        if let Some(rust_log) = rust_log {
            command.env("RUST_LOG", rust_log);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("plans-api starts");
        let server = Self {
            child,
            addr,
            log,
            client: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = server
                .client
                .get(format!("http://{addr}/health/ready"))
                .send()
                .await
                .is_ok_and(|response| response.status() == 200);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "plans-api did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    async fn post(&self, token: Option<&str>, body: Value, headers: &[(&str, &str)]) -> Value {
        let mut request = self
            .client
            .post(format!("http://{}/graphql", self.addr))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        body
    }

    /// Waits (up to 5 s) until the counter `name` of `/metrics` reaches `at_least`.
    async fn wait_for_counter(&self, name: &str, at_least: f64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let metrics = self
                .client
                .get(format!("http://{}/metrics", self.addr))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let value = metrics
                .lines()
                .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
                .unwrap_or_default();
            if value >= at_least {
                return;
            }
            assert!(Instant::now() < deadline, "{name} stayed under {at_least}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, as an orchestrator stops it; waits for it to exit and returns its log.
    fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "{exit}");
        std::fs::read_to_string(self.log.path()).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const PLANS: &str = "query Plans { plans(userId: 7) { id name } }";
const CREATE: &str = "mutation Create { createPlan(input: {userId: 7, name: \"n\", connectionType: HOTSPOT, priceCents: 1, durationMinutes: 1}) { id } }";

/// An SSE subscription's response, read event by event.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    /// The data of the next `next` event, failing after 5 s.
    async fn next(&mut self) -> Value {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if block.lines().any(|line| line == "event: next") {
                    let data: String = block
                        .lines()
                        .filter_map(|line| line.strip_prefix("data:"))
                        .map(str::trim_start)
                        .collect();
                    return serde_json::from_str(&data).expect("JSON data");
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.response.chunk())
                .await
                .expect("an event within 5 s")
                .expect("the stream reads")
                .expect("the stream goes on");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }
}

/// Requests are sampled at the edge, before any span exists: with a ratio of 0.5, of 24 uncached
/// queries about half are kept, each with its children, and of the others nothing is exported,
/// not even the load they caused (it would otherwise start a trace of its own, sampled by the
/// same ratio: an orphan). A caller's sampled `traceparent` is followed whatever the ratio.
async fn requests_not_kept_export_nothing_not_even_their_loads(backend: Backend) {
    let (server, received, _database) =
        start_exporting(backend, "parentbased_traceidratio", Some("0.5")).await;
    for user in 1..=24 {
        let query = format!("query Sampled {{ plans(userId: {user}) {{ id }} }}");
        server.post(None, json!({ "query": query }), &[]).await;
    }
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let traceparent = format!("00-{trace_id}-b7ad6b7169203331-01");
    server
        .post(
            None,
            json!({ "query": "query Followed { plans(userId: 99) { id } }" }),
            &[("traceparent", traceparent.as_str())],
        )
        .await;
    server.stop();

    let spans: Vec<Span> = received.spans().into_iter().map(|(_, span)| span).collect();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let kept = names
        .iter()
        .filter(|name| **name == "query Sampled")
        .count();
    assert!((1..24).contains(&kept), "about half kept: {kept} of 24");
    // Each the edge's request span: a request not kept may still have its access-log span (the
    // log is at INFO here), but that one is dropped, with everything under it.
    for request in spans.iter().filter(|span| span.name == "query Sampled") {
        assert_eq!(
            string_attribute(request, "http.request.method").as_deref(),
            Some("POST"),
            "{:?}",
            request
                .attributes
                .iter()
                .map(|kv| kv.key.as_str())
                .collect::<Vec<_>>()
        );
    }
    for list in spans.iter().filter(|span| span.name == "plans.list") {
        assert!(
            spans
                .iter()
                .any(|span| span.span_id == list.parent_span_id && span.name.starts_with("query ")),
            "a plans.list without its request: {names:?}"
        );
    }
    assert_eq!(
        names.iter().filter(|name| **name == "plans.list").count(),
        kept + 1,
        "{names:?}"
    );
    let followed: Vec<&Span> = spans
        .iter()
        .filter(|span| hex(&span.trace_id) == trace_id)
        .collect();
    assert!(
        followed.iter().any(|span| span.name == "query Followed"),
        "{names:?}"
    );
}

async fn a_traced_server_exports_graphql_spans_with_their_children_and_continues_traceparent(
    backend: Backend,
) {
    let (server, received, _database) = start_exporting(backend, "always_on", None).await;

    // A write: `mutation Create`, its database write and its invalidation.
    server
        .post(Some(TOKEN), json!({ "query": CREATE }), &[])
        .await;
    if backend == Backend::Postgres {
        // This replica's change feed reports the write too, and drops the keys again: once that
        // is done, so that it cannot come between the two queries below.
        server
            .wait_for_counter("plan_cache_notifications_total", 1.0)
            .await;
    }
    // An uncached query, continuing the caller's trace.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{caller_span}-01");
    server
        .post(
            None,
            json!({ "query": PLANS }),
            &[("traceparent", traceparent.as_str())],
        )
        .await;
    // The same query again: the response cache answers.
    server.post(None, json!({ "query": PLANS }), &[]).await;

    let log = server.stop();
    // Flushed on shutdown: the spans are there as soon as the process has exited.
    let spans = received.spans();
    assert!(
        spans.iter().all(|(service, _)| service == "plans-api"),
        "service.name"
    );
    let spans: Vec<Span> = spans.into_iter().map(|(_, span)| span).collect();
    let named = |name: &str| -> Vec<&Span> { spans.iter().filter(|s| s.name == name).collect() };
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();

    // The mutation, and under it the write and, under that, its invalidation.
    let [mutation] = named("mutation Create")[..] else {
        panic!("one `mutation Create` span: {names:?}");
    };
    assert_eq!(
        string_attribute(mutation, "graphql.operation.type").as_deref(),
        Some("mutation")
    );
    assert_eq!(
        string_attribute(mutation, "graphql.operation.name").as_deref(),
        Some("Create")
    );
    let [create] = named("plans.create")[..] else {
        panic!("one plans.create span: {names:?}");
    };
    assert_eq!(create.parent_span_id, mutation.span_id);
    assert_eq!(create.trace_id, mutation.trace_id);
    let invalidation = named("plans.invalidate");
    assert!(
        invalidation
            .iter()
            .any(|span| span.parent_span_id == create.span_id),
        "plans.invalidate under plans.create: {names:?}"
    );

    // The uncached query: in the caller's trace, under the caller's span.
    let queries = named("query Plans");
    let [query, cached] = queries[..] else {
        panic!("two `query Plans` spans (the cached one too): {names:?}");
    };
    let (query, cached) = if hex(&query.trace_id) == trace_id {
        (query, cached)
    } else {
        (cached, query)
    };
    assert_eq!(hex(&query.trace_id), trace_id);
    assert_eq!(hex(&query.parent_span_id), caller_span);
    assert_eq!(
        string_attribute(query, "graphql.operation.type").as_deref(),
        Some("query")
    );
    assert_eq!(
        string_attribute(query, "graphql.operation.name").as_deref(),
        Some("Plans")
    );
    assert_eq!(
        bool_attribute(query, "plans.response_cache.hit"),
        Some(false)
    );
    // Its plan list missed the plan cache (the mutation had dropped it): a database load.
    let list = spans
        .iter()
        .find(|span| span.name == "plans.list" && span.parent_span_id == query.span_id)
        .unwrap_or_else(|| panic!("plans.list under the query: {names:?}"));
    assert_eq!(bool_attribute(list, "plans.plan_cache.hit"), Some(false));
    assert!(
        spans
            .iter()
            .any(|span| span.name == "plans.load" && span.parent_span_id == list.span_id),
        "plans.load under plans.list: {names:?}"
    );

    // The repeated query: answered by the response cache, nothing below it, named the same.
    assert_eq!(
        string_attribute(cached, "graphql.operation.name").as_deref(),
        Some("Plans")
    );
    assert_eq!(
        bool_attribute(cached, "plans.response_cache.hit"),
        Some(true)
    );
    assert_ne!(hex(&cached.trace_id), trace_id);
    assert!(
        !spans
            .iter()
            .any(|span| span.parent_span_id == cached.span_id)
    );

    // The access log names the trace.
    assert!(
        log.lines()
            .any(|line| line.contains("finished processing request")
                && line.contains(&format!("trace_id={trace_id}"))),
        "{log}"
    );
}

/// A graphql-transport-ws connection, acknowledged, with `query` subscribed as id 1.
async fn ws_subscribe(addr: SocketAddr, query: &str) -> Socket {
    let (mut socket, _) = connect_ws(addr).await;
    socket
        .send(Message::text(r#"{"type":"connection_init"}"#))
        .await
        .unwrap();
    let ack = ws_message(&mut socket).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    socket
        .send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": query}}).to_string(),
        ))
        .await
        .unwrap();
    socket
}

/// The next JSON message (pings left out), failing after 5 s.
async fn ws_message(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message within 5 s")
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(text) = message {
            let message: Value = serde_json::from_str(&text).unwrap();
            if message["type"] != "ping" {
                return message;
            }
        }
    }
}

async fn a_subscription_event_links_to_the_write_that_caused_it(backend: Backend) {
    let (server, received, _database) = start_exporting(backend, "always_on", None).await;
    let response = server
        .client
        .post(format!("http://{}/graphql", server.addr))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": "subscription Live { plans(userId: 7) { id } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = EventStream {
        response,
        buffer: String::new(),
    };
    let mut socket = ws_subscribe(
        server.addr,
        "subscription LiveWs { plans(userId: 7) { id } }",
    )
    .await;
    let first = events.next().await;
    assert!(first["data"]["plans"].is_array(), "{first}");
    let first = ws_message(&mut socket).await;
    assert_eq!(first["type"], "next", "{first}");

    let created = server
        .post(Some(TOKEN), json!({ "query": CREATE }), &[])
        .await;
    let id = &created["data"]["createPlan"]["id"];
    let has_it = |result: &Value| {
        result["data"]["plans"]
            .as_array()
            .is_some_and(|plans| plans.iter().any(|plan| &plan["id"] == id))
    };
    let second = events.next().await;
    assert!(has_it(&second), "{second}");
    let second = ws_message(&mut socket).await;
    assert!(has_it(&second["payload"]), "{second}");
    // Ended by the client, which the server acknowledges once the stream (and its span) is gone:
    // one ended by the shutdown could still be closing when the process flushes and exits.
    socket
        .send(Message::text(r#"{"id":"1","type":"complete"}"#))
        .await
        .unwrap();
    let complete = ws_message(&mut socket).await;
    assert_eq!(complete["type"], "complete", "{complete}");

    server.stop();
    let spans: Vec<Span> = received.spans().into_iter().map(|(_, span)| span).collect();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let named = |name: &str| -> Vec<&Span> { spans.iter().filter(|s| s.name == name).collect() };

    // The subscriptions: named by the conventions, the SSE one under its request's span, the
    // WebSocket's a root span.
    let subscription = |name: &str| {
        let [subscription] = named(&format!("subscription {name}"))[..] else {
            panic!("one `subscription {name}` span: {names:?}");
        };
        assert_eq!(
            string_attribute(subscription, "graphql.operation.type").as_deref(),
            Some("subscription")
        );
        assert_eq!(
            string_attribute(subscription, "graphql.operation.name").as_deref(),
            Some(name)
        );
        subscription
    };
    let (by_sse, by_ws) = (subscription("Live"), subscription("LiveWs"));
    assert!(
        spans
            .iter()
            .any(|span| span.name == "POST /graphql" && span.span_id == by_sse.parent_span_id),
        "under the request's span: {names:?}"
    );
    assert!(by_ws.parent_span_id.is_empty());

    // The write's invalidation, in the mutation's trace.
    let [mutation] = named("mutation Create")[..] else {
        panic!("one `mutation Create` span: {names:?}");
    };
    let [create] = named("plans.create")[..] else {
        panic!("one plans.create span: {names:?}");
    };
    let invalidation = spans
        .iter()
        .find(|span| span.name == "plans.invalidate" && span.parent_span_id == create.span_id)
        .unwrap_or_else(|| panic!("plans.invalidate under plans.create: {names:?}"));
    assert_eq!(invalidation.trace_id, mutation.trace_id);
    let links_to_the_write = |span: &Span| {
        span.links.iter().any(|link| {
            link.trace_id == invalidation.trace_id && link.span_id == invalidation.span_id
        })
    };
    // On PostgreSQL this replica's change feed reports the write too, in a span of its own; when
    // it comes first, the event answers it (and the write's own wake-up finds the list current).
    let links_to_the_change = |span: &Span| {
        links_to_the_write(span)
            || backend == Backend::Postgres
                && span.links.iter().any(|link| {
                    spans.iter().any(|feed| {
                        feed.name == "plans.invalidate"
                            && string_attribute(feed, "source").as_deref() == Some("change feed")
                            && link.trace_id == feed.trace_id
                            && link.span_id == feed.span_id
                    })
                })
    };

    // Each subscription's second event (and only that: none for the first): in the
    // subscription's trace, linked to the invalidation.
    let events = named("plans.live.event");
    assert_eq!(events.len(), 2, "{names:?}");
    for subscription in [by_sse, by_ws] {
        let event = events
            .iter()
            .find(|event| event.parent_span_id == subscription.span_id)
            .unwrap_or_else(|| panic!("an event under `{}`", subscription.name));
        assert_eq!(event.trace_id, subscription.trace_id);
        assert!(links_to_the_change(event), "{:?}", event.links);
    }
    assert_ne!(by_sse.trace_id, mutation.trace_id);
    // The reload that fetched its list: linked too, with the list read under it.
    let reload = spans
        .iter()
        .find(|span| span.name == "plans.live.reload" && links_to_the_change(span))
        .unwrap_or_else(|| panic!("a plans.live.reload linked to the write: {names:?}"));
    assert!(
        spans
            .iter()
            .any(|span| span.name == "plans.list" && span.parent_span_id == reload.span_id),
        "plans.list under plans.live.reload: {names:?}"
    );
}

async fn without_an_endpoint_nothing_is_exported_and_the_log_has_no_trace_id(backend: Backend) {
    let (_, received) = start_receiver().await;
    let database = TestDatabase::new(backend).await;
    let server = Server::start(&database, &[]).await;
    server
        .post(
            None,
            json!({ "query": PLANS }),
            &[(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )],
        )
        .await;
    let log = server.stop();
    assert!(received.spans().is_empty());
    assert!(log.contains("finished processing request"), "{log}");
    assert!(!log.contains("trace_id="), "{log}");
}

/// N identical named queries give N spans named `query ListPlans`, with the operation's type and
/// name, the hits included (stored with the response: the hits parse nothing), whichever way
/// the hit is found: the same POST bytes, another spelling of the same request, a GET.
async fn response_cache_hits_are_named_after_their_operation(backend: Backend) {
    const LIST: &str = "query ListPlans { plans(userId: 3) { id name } }";
    let (server, received, _database) = start_exporting(backend, "always_on", None).await;
    const SAME: usize = 5;
    for _ in 0..SAME {
        server.post(None, json!({ "query": LIST }), &[]).await;
    }
    // Another spelling: found by its normalized key, not its bytes.
    server
        .post(None, json!({ "query": LIST, "variables": {} }), &[])
        .await;
    let get = server
        .client
        .get(format!("http://{}/graphql", server.addr))
        .query(&[("query", LIST)])
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);
    server.stop();
    let spans: Vec<Span> = received.spans().into_iter().map(|(_, span)| span).collect();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let listed: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "query ListPlans")
        .collect();
    assert_eq!(listed.len(), SAME + 2, "{names:?}");
    for span in &listed {
        assert_eq!(
            string_attribute(span, "graphql.operation.type").as_deref(),
            Some("query")
        );
        assert_eq!(
            string_attribute(span, "graphql.operation.name").as_deref(),
            Some("ListPlans")
        );
    }
    let hits = listed
        .iter()
        .filter(|span| bool_attribute(span, "plans.response_cache.hit") == Some(true))
        .count();
    assert_eq!(hits, SAME + 1, "all but the first: {names:?}");
    assert!(!names.contains(&"query"), "{names:?}");
}

/// With `RUST_LOG` unset: the start-up and shutdown lines (INFO) and warnings are written; the
/// access log (a line per request, which would cost the hot path) is not.
async fn by_default_the_log_has_the_start_up_lines_and_warnings_but_no_access_lines(
    backend: Backend,
) {
    let database = TestDatabase::new(backend).await;
    // An idle timeout not above REQUEST_TIMEOUT (30 s) is warned about.
    let server =
        Server::start_logging(&database, &[("HTTP_IDLE_TIMEOUT", "30".to_owned())], None).await;
    for _ in 0..3 {
        let response = server
            .client
            .post(format!("http://{}/graphql", server.addr))
            .json(&json!({ "query": PLANS }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let log = server.stop();
    for line in [
        "connected to the database",
        "plans-api listening",
        "shutting down",
        "HTTP_IDLE_TIMEOUT is not above REQUEST_TIMEOUT",
    ] {
        assert!(
            log.contains(line),
            "{line:?} missing from the default log:\n{log}"
        );
    }
    assert!(!log.contains("finished processing request"), "{log}");
}
