//! A live subscription ends when its credential does: at the moment the server would refuse the
//! token (`exp` plus the 30 s leeway), the WebSocket closes with `4403 Forbidden` and the SSE
//! stream ends with an `UNAUTHENTICATED` error; no event after that. A key removed from the JWKS
//! when it is read again ends the subscriptions it signed. The admin token, anonymous readers and
//! valid credentials are untouched.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use jsonwebtoken::Algorithm;
use plans_api::config::ReadAccess;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::backend_tests;
use crate::helpers::live::{self, connect_ws};
use crate::helpers::tokens::{EC_A, RSA_A, RSA_B, hs256, operator_claims, public_jwk, signed};
use crate::helpers::{AppOptions, Backend, TOKEN, TestApp, spawn_app_with};
use crate::jwks::{JwksServer, claims, jwks};
use crate::operators::spawn_with_jwt;
use crate::subscriptions::{Received, SUBSCRIPTION, received_of};

backend_tests!(
    both: an_expired_credential_ends_its_subscriptions_on_both_transports,
        a_key_removed_from_the_jwks_ends_the_subscriptions_it_signed,
        anonymous_subscriptions_under_public_reads_are_untouched;
);

const LEEWAY: u64 = plans_api::auth::LEEWAY_SECONDS;

/// What a live subscription saw, and when.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Event(Received),
    /// The WebSocket closed (its code), or the SSE response ended (`None`).
    Closed(Option<u16>),
}

struct Live {
    seen: mpsc::UnboundedReceiver<(SystemTime, Seen)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Live {
    /// The next thing seen, failing after `within`.
    async fn next_within(&mut self, within: Duration) -> (SystemTime, Seen) {
        tokio::time::timeout(within, self.seen.recv())
            .await
            .expect("something within the time")
            .expect("the reader is running")
    }

    async fn next_list(&mut self) -> Vec<String> {
        match self.next_within(Duration::from_secs(5)).await.1 {
            Seen::Event(Received::List(ids)) => ids,
            other => panic!("expected a list, got {other:?}"),
        }
    }

    /// Nothing at all within `quiet` (the channel is empty and open).
    async fn assert_quiet(&mut self, quiet: Duration) {
        // `None`: the reader ended after what it saw last (a close), nothing more came.
        if let Ok(Some(seen)) = tokio::time::timeout(quiet, self.seen.recv()).await {
            panic!("expected nothing, got {seen:?}");
        }
    }
}

/// A graphql-transport-ws subscription to `plans(userId: user)` on its own connection, whose
/// `connection_init` carries `token`.
async fn ws(app: &TestApp, token: Option<&str>, user: i32) -> Live {
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
    let ack = stream.next().await.expect("a reply").expect("a message");
    assert_eq!(
        serde_json::from_str::<Value>(ack.to_text().unwrap()).unwrap()["type"],
        "connection_ack"
    );
    sink.send(Message::text(
        json!({"id": "1", "type": "subscribe",
               "payload": {"query": SUBSCRIPTION, "variables": {"userId": user}}})
        .to_string(),
    ))
    .await
    .unwrap();
    let (sender, seen) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Some(message) = stream.next().await {
            let seen = match message {
                Ok(Message::Text(text)) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    match message["type"].as_str().unwrap() {
                        "next" => Seen::Event(received_of(&message["payload"])),
                        "complete" => Seen::Event(Received::Complete),
                        "ping" => {
                            let _ = sink.send(Message::text(r#"{"type":"pong"}"#)).await;
                            continue;
                        }
                        _ => continue,
                    }
                }
                Ok(Message::Close(frame)) => Seen::Closed(frame.map(|frame| frame.code.into())),
                Ok(_) => continue,
                Err(_) => Seen::Closed(None),
            };
            let closed = matches!(seen, Seen::Closed(_));
            let _ = sender.send((SystemTime::now(), seen));
            if closed {
                return;
            }
        }
    });
    Live { seen, task }
}

/// A graphql-sse (distinct connections) subscription to `plans(userId: user)` with `token`.
async fn sse(app: &TestApp, token: Option<&str>, user: i32) -> Live {
    // Not the app's client: its 30 s timeout would end a long subscription.
    let mut request = reqwest::Client::new()
        .post(app.url("/graphql"))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": SUBSCRIPTION, "variables": {"userId": user} }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("SSE request");
    assert_eq!(response.status().as_u16(), 200);
    let (sender, seen) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        live::read_sse(response, |event| {
            let seen = match event.event.as_deref() {
                Some("next") => received_of(&serde_json::from_str(&event.data).expect("JSON")),
                Some("complete") => Received::Complete,
                _ => return true,
            };
            let _ = sender.send((SystemTime::now(), Seen::Event(seen)));
            true
        })
        .await;
        let _ = sender.send((SystemTime::now(), Seen::Closed(None)));
    });
    Live { seen, task }
}

/// An operator's HS256 token the server stops accepting `valid_for` from now (whole seconds:
/// `exp` is), and that moment.
fn expiring_token(operator: i32, valid_for: u64) -> (String, SystemTime) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = operator_claims(operator);
    let exp = now + valid_for - LEEWAY;
    claims["exp"] = exp.into();
    (
        hs256(&claims),
        UNIX_EPOCH + Duration::from_secs(exp + LEEWAY),
    )
}

/// Asserts `at` is at `moment` or up to a second after it.
fn within_a_second_of(at: SystemTime, moment: SystemTime, what: &str) {
    let late = at.duration_since(moment).unwrap_or_else(|early| {
        panic!(
            "{what}: {:?} before the credential expired",
            early.duration()
        )
    });
    assert!(
        late < Duration::from_secs(1),
        "{what}: {late:?} after expiry"
    );
}

async fn an_expired_credential_ends_its_subscriptions_on_both_transports(backend: Backend) {
    let app = spawn_with_jwt(backend, ReadAccess::Authenticated).await;
    let (expiring, expires) = expiring_token(7, 3);
    let valid = hs256(&operator_claims(7));
    let mut ws_expiring = ws(&app, Some(&expiring), 7).await;
    let mut sse_expiring = sse(&app, Some(&expiring), 7).await;
    let mut ws_valid = ws(&app, Some(&valid), 7).await;
    let mut sse_valid = sse(&app, Some(&valid), 7).await;
    let mut ws_admin = ws(&app, Some(TOKEN), 7).await;
    let mut sse_admin = sse(&app, Some(TOKEN), 7).await;
    for live in [
        &mut ws_expiring,
        &mut sse_expiring,
        &mut ws_valid,
        &mut sse_valid,
        &mut ws_admin,
        &mut sse_admin,
    ] {
        assert!(live.next_list().await.is_empty());
    }
    // Before expiry, a change reaches everyone.
    let first = app.create_ok(7, "HOTSPOT", "before expiry").await;
    for live in [
        &mut ws_expiring,
        &mut sse_expiring,
        &mut ws_valid,
        &mut sse_valid,
        &mut ws_admin,
        &mut sse_admin,
    ] {
        assert_eq!(live.next_list().await, std::slice::from_ref(&first));
    }

    // WebSocket: closed with 4403 within a second of expiry.
    let (at, seen) = ws_expiring.next_within(Duration::from_secs(6)).await;
    assert_eq!(seen, Seen::Closed(Some(4403)));
    within_a_second_of(at, expires, "WebSocket close");
    // SSE: an UNAUTHENTICATED error, `complete`, and the end of the response.
    let (at, seen) = sse_expiring.next_within(Duration::from_secs(6)).await;
    assert_eq!(seen, Seen::Event(Received::Error("UNAUTHENTICATED".into())));
    within_a_second_of(at, expires, "SSE error");
    let (_, seen) = sse_expiring.next_within(Duration::from_secs(1)).await;
    assert_eq!(seen, Seen::Event(Received::Complete));
    let (_, seen) = sse_expiring.next_within(Duration::from_secs(1)).await;
    assert_eq!(seen, Seen::Closed(None));

    // After expiry: a change reaches the valid and the admin subscribers, and nobody else.
    let second = app.create_ok(7, "HOTSPOT", "after expiry").await;
    for live in [&mut ws_valid, &mut sse_valid, &mut ws_admin, &mut sse_admin] {
        assert_eq!(live.next_list().await, [first.clone(), second.clone()]);
    }
    ws_expiring.assert_quiet(Duration::from_millis(300)).await;
    sse_expiring.assert_quiet(Duration::from_millis(300)).await;

    // The expired token admits nothing new either.
    let refused = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "text/event-stream")
        .bearer_auth(&expiring)
        .json(&json!({ "query": SUBSCRIPTION, "variables": {"userId": 7} }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );
}

async fn a_key_removed_from_the_jwks_ends_the_subscriptions_it_signed(backend: Backend) {
    let (jwks_server, url) = JwksServer::start(Some(jwks(&[
        public_jwk(Algorithm::RS256, RSA_A, "a"),
        public_jwk(Algorithm::ES256, EC_A, "e"),
    ])))
    .await;
    let app = spawn_app_with(
        backend,
        AppOptions {
            configure: Some(Box::new(move |config| {
                config.auth.jwt_jwks_url = Some(url);
                config.auth.read_access = ReadAccess::Authenticated;
            })),
            ..AppOptions::default()
        },
    )
    .await;
    let with_a = signed(Algorithm::RS256, RSA_A, "a", &claims(7));
    let with_e = signed(Algorithm::ES256, EC_A, "e", &claims(7));
    let mut ws_a = ws(&app, Some(&with_a), 7).await;
    let mut sse_a = sse(&app, Some(&with_a), 7).await;
    let mut ws_e = ws(&app, Some(&with_e), 7).await;
    let mut sse_e = sse(&app, Some(&with_e), 7).await;
    for live in [&mut ws_a, &mut sse_a, &mut ws_e, &mut sse_e] {
        assert!(live.next_list().await.is_empty());
    }

    // The provider retires key A and publishes B. The server reads the JWKS again when a token
    // names a kid it does not know, at most once per 30 s.
    jwks_server.set(Some(jwks(&[
        public_jwk(Algorithm::ES256, EC_A, "e"),
        public_jwk(Algorithm::RS256, RSA_B, "b"),
    ])));
    tokio::time::sleep(Duration::from_secs(31)).await;
    let with_b = signed(Algorithm::RS256, RSA_B, "b", &claims(8));
    let (_, body) = app
        .post_graphql_as(Some(&with_b), "{ plans(userId: 8) { id } }", json!({}))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let reread = SystemTime::now();

    // A's subscriptions end at once; E's go on.
    let (at, seen) = ws_a.next_within(Duration::from_secs(2)).await;
    assert_eq!(seen, Seen::Closed(Some(4403)));
    within_a_second_of(at, reread - Duration::from_millis(100), "WebSocket close");
    let (at, seen) = sse_a.next_within(Duration::from_secs(2)).await;
    assert_eq!(seen, Seen::Event(Received::Error("UNAUTHENTICATED".into())));
    within_a_second_of(at, reread - Duration::from_millis(100), "SSE error");
    let id = app.create_ok(7, "HOTSPOT", "after the rotation").await;
    for live in [&mut ws_e, &mut sse_e] {
        assert_eq!(live.next_list().await, std::slice::from_ref(&id));
    }
    assert_eq!(
        sse_a.next_within(Duration::from_secs(1)).await.1,
        Seen::Event(Received::Complete)
    );
    // A token signed with A, verified before, is not taken from the cache of verified tokens.
    let (_, body) = app
        .post_graphql_as(Some(&with_a), "{ plans(userId: 7) { id } }", json!({}))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{body}"
    );
}

async fn anonymous_subscriptions_under_public_reads_are_untouched(backend: Backend) {
    let app = spawn_with_jwt(backend, ReadAccess::Public).await;
    let (expiring, expires) = expiring_token(7, 1);
    let mut ws_anonymous = ws(&app, None, 7).await;
    let mut sse_anonymous = sse(&app, None, 7).await;
    let mut ws_expiring = ws(&app, Some(&expiring), 7).await;
    for live in [&mut ws_anonymous, &mut sse_anonymous, &mut ws_expiring] {
        assert!(live.next_list().await.is_empty());
    }
    // Even under READ_ACCESS=public, a credential that admitted a subscription ends it.
    let (at, seen) = ws_expiring.next_within(Duration::from_secs(4)).await;
    assert_eq!(seen, Seen::Closed(Some(4403)));
    within_a_second_of(at, expires, "WebSocket close");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let id = app.create_ok(7, "HOTSPOT", "later").await;
    for live in [&mut ws_anonymous, &mut sse_anonymous] {
        assert_eq!(live.next_list().await, std::slice::from_ref(&id));
    }
}
