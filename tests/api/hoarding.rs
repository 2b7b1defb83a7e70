//! Connections cannot be hoarded (slowloris): heads that never finish and idle connections are
//! closed after the timeouts while a normal client is served throughout; the subscription
//! transports are spared; at the connection limit the clients already connected are still
//! served, `/health/live` still answers, and the server recovers when they leave.

use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::backend_tests;
use crate::helpers::http::{GRAPHQL_RESPONSE_JSON, PLANS};
use crate::helpers::live::connect_ws;
use crate::helpers::raw::{RawConnection, RawRequest};
use crate::helpers::{AppOptions, Backend, TOKEN, TestApp, assert_no_errors, spawn_app_with};

backend_tests!(
    sqlite_only: slow_heads_and_idle_connections_are_closed_while_clients_are_served,
        subscriptions_outlive_the_idle_timeout,
        at_the_connection_limit_connected_clients_and_liveness_are_served_and_it_recovers;
);

fn liveness() -> RawRequest {
    RawRequest::new("GET", "/health/live", &[], b"")
}

fn plans_post() -> RawRequest {
    RawRequest::new(
        "POST",
        "/graphql",
        &[
            ("content-type", "application/json"),
            ("accept", GRAPHQL_RESPONSE_JSON),
        ],
        json!({ "query": PLANS }).to_string().as_bytes(),
    )
}

/// A normal client's request through `reqwest`, which must succeed.
async fn served(app: &TestApp) {
    let body = app.query(PLANS).await;
    assert_no_errors(&body);
}

async fn slow_heads_and_idle_connections_are_closed_while_clients_are_served() {
    let app = spawn_app_with(
        Backend::Sqlite,
        AppOptions::tweaked(|config| {
            config.http.http_header_read_timeout = 1;
            config.http.http_idle_timeout = 2;
        }),
    )
    .await;
    let opened = Instant::now();
    let mut half_heads = Vec::new();
    for _ in 0..2_000 {
        let mut connection = RawConnection::open(app.addr).await;
        connection
            .write(b"POST /graphql HTTP/1.1\r\nhost: localhost\r\ncontent-type: app")
            .await
            .unwrap();
        half_heads.push(connection);
    }
    let mut idle = Vec::new();
    for index in 0..1_000 {
        let mut connection = RawConnection::open(app.addr).await;
        if index % 2 == 0 {
            // Kept alive after one answer, then silent.
            connection.write(&liveness().whole()).await.unwrap();
            assert_eq!(connection.read_response().await.unwrap().status, 200);
        }
        idle.push(connection);
    }
    // A slowloris keeps its head coming, a byte at a time: still closed at the header timeout.
    let mut trickle = RawConnection::open(app.addr).await;
    let trickle_started = Instant::now();
    let trickled = async {
        for byte in b"GET /health/live HTTP/1.1\r\nhost: localhost\r\nx-slow: "
            .iter()
            .cycle()
        {
            if trickle.write(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if trickle_started.elapsed() > Duration::from_secs(10) {
                panic!("a trickled head was not closed");
            }
        }
        trickle_started.elapsed()
    };
    let normal_client = async {
        while opened.elapsed() < Duration::from_secs(4) {
            served(&app).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (trickled_for, ()) = tokio::join!(trickled, normal_client);
    assert!(
        trickled_for < Duration::from_secs(4),
        "trickled for {trickled_for:?}"
    );
    for (what, connections) in [("half head", &mut half_heads), ("idle", &mut idle)] {
        for connection in connections.iter_mut() {
            assert!(
                connection
                    .discard_for(Duration::from_secs(2))
                    .await
                    .is_some(),
                "a {what} connection is still open {:?} after it was opened",
                opened.elapsed()
            );
        }
    }
    // Within the bounds: everything was closed by about 1.25 x the idle timeout.
    assert!(
        opened.elapsed() < Duration::from_secs(8),
        "{:?}",
        opened.elapsed()
    );
    served(&app).await;
    app.stop().await;
}

async fn subscriptions_outlive_the_idle_timeout() {
    let app = spawn_app_with(
        Backend::Sqlite,
        AppOptions::tweaked(|config| {
            config.http.http_header_read_timeout = 1;
            config.http.http_idle_timeout = 2;
            config.subscriptions.subscription_keepalive = 1;
        }),
    )
    .await;
    // SSE: its keep-alive comments count as activity.
    let mut sse = RawConnection::open(app.addr).await;
    let subscribe = RawRequest::new(
        "POST",
        "/graphql",
        &[
            ("content-type", "application/json"),
            ("accept", "text/event-stream"),
        ],
        json!({ "query": "subscription { plans(userId: 1) { id } }" })
            .to_string()
            .as_bytes(),
    );
    sse.write(&subscribe.whole()).await.unwrap();
    let response = sse.read_response_head().await.expect("an event stream");
    assert_eq!(response.status, 200);
    // WebSocket: upgraded, so no longer watched; its pings come from the server.
    let (socket, _) = connect_ws(app.addr).await;
    let (mut sink, mut stream) = socket.split();
    sink.send(Message::text(
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {TOKEN}")}})
            .to_string(),
    ))
    .await
    .unwrap();
    let ws_open = async {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            match tokio::time::timeout(Duration::from_millis(500), stream.next()).await {
                Err(_) | Ok(Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_)))) => {}
                other => panic!("the WebSocket ended: {other:?}"),
            }
        }
    };
    let (sse_ended, ()) = tokio::join!(sse.discard_for(Duration::from_secs(5)), ws_open);
    assert_eq!(sse_ended, None, "the SSE stream was closed");
    sink.send(Message::text(json!({"type": "ping"}).to_string()))
        .await
        .expect("the WebSocket is still open");
    app.stop().await;
}

async fn at_the_connection_limit_connected_clients_and_liveness_are_served_and_it_recovers() {
    let app = spawn_app_with(
        Backend::Sqlite,
        AppOptions::tweaked(|config| config.http.http_max_connections = 20),
    )
    .await;
    // Twenty clients connected, each answered once and kept alive.
    let mut connected = Vec::new();
    for _ in 0..20 {
        let mut connection = RawConnection::open(app.addr).await;
        connection.write(&liveness().whole()).await.unwrap();
        assert_eq!(connection.read_response().await.unwrap().status, 200);
        connected.push(connection);
    }
    // Past the limit: a liveness probe is answered, anything else is asked to come back later.
    let mut probe = RawConnection::open(app.addr).await;
    probe.write(&liveness().whole()).await.unwrap();
    let answer = probe
        .read_response()
        .await
        .expect("liveness past the limit");
    assert_eq!(answer.status, 200);
    assert!(answer.closes(), "{answer:?}");
    let mut late = RawConnection::open(app.addr).await;
    late.write(&plans_post().whole()).await.unwrap();
    let answer = late
        .read_response()
        .await
        .expect("an answer past the limit");
    assert_eq!(answer.status, 503, "{answer:?}");
    assert!(answer.header("retry-after").is_some());
    assert!(answer.closes());
    // The clients already connected are served as before.
    for connection in &mut connected {
        connection.write(&plans_post().whole()).await.unwrap();
        let answer = connection.read_response().await.expect("served");
        assert_eq!(answer.status, 200);
        let body: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_no_errors(&body);
    }
    // Half of them leave: newcomers are served again.
    connected.truncate(10);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..5 {
        let mut connection = RawConnection::open(app.addr).await;
        connection.write(&plans_post().whole()).await.unwrap();
        let answer = connection.read_response().await.expect("served");
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(!answer.closes());
        connected.push(connection);
    }
    app.stop().await;
}
