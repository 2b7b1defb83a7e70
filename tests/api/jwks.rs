//! RS256 and ES256 tokens verified with the keys of a JWKS that the test serves itself over HTTP
//! on loopback: unknown `kid`s, algorithm confusion, key rotation (the JWKS is read again when a
//! token names an unknown `kid`, at most once per 30 s), and `JWT_JWKS_FILE`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsonwebtoken::Algorithm;
use plans_api::config::ReadAccess;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::tokens::{
    self, EC_A, JWT_SECRET, RSA_A, RSA_B, hs256_with_rsa_public_key, operator_claims, public_jwk,
    signed,
};
use crate::helpers::{AppOptions, Backend, TestApp, assert_no_errors, error_code, spawn_app_with};
use crate::operators::create_as;

backend_tests!(
    both: rs256_and_es256_tokens_from_a_jwks_over_http;
    sqlite_only: keys_rotate_through_the_jwks_at_most_one_fetch_per_30_seconds,
        a_jwks_file_works_too,
);

/// A JWKS endpoint whose answer the test changes, counting the fetches.
#[derive(Clone, Default)]
pub(crate) struct JwksServer {
    document: Arc<Mutex<Option<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    /// Serves `document` (`None`: 503) at `http://<addr>/jwks.json`; returns its URL.
    pub(crate) async fn start(document: Option<Value>) -> (Self, String) {
        let server = Self::default();
        server.set(document);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let router = Router::new()
            .route("/jwks.json", get(serve))
            .with_state(server.clone());
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        (server, url)
    }

    pub(crate) fn set(&self, document: Option<Value>) {
        *self.document.lock().unwrap() = document;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn serve(State(server): State<JwksServer>) -> Response {
    server.fetches.fetch_add(1, Ordering::SeqCst);
    match server.document.lock().unwrap().clone() {
        Some(document) => axum::Json(document).into_response(),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

pub(crate) fn jwks(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}

async fn spawn_with_jwks_url(backend: Backend, url: String, secret: bool) -> TestApp {
    spawn_app_with(
        backend,
        AppOptions {
            configure: Some(Box::new(move |config| {
                config.auth.jwt_jwks_url = Some(url);
                if secret {
                    config.auth.jwt_secret = Some(JWT_SECRET.to_owned());
                }
                config.auth.read_access = ReadAccess::Public;
            })),
            ..AppOptions::default()
        },
    )
    .await
}

/// Claims without issuer or audience (none is configured here).
pub(crate) fn claims(operator: i32) -> Value {
    let mut claims = operator_claims(operator);
    let object = claims.as_object_mut().unwrap();
    object.remove("iss");
    object.remove("aud");
    claims
}

async fn accepted(app: &TestApp, token: &str, operator: i32) {
    let body = create_as(app, token, None, "signed").await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["createPlan"]["userId"], operator);
}

async fn refused(app: &TestApp, token: &str, what: &str) {
    let body = create_as(app, token, None, "refused").await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{what}: {body}");
    let (_, body) = app
        .post_graphql_as(Some(token), "{ plans { id } }", json!({}))
        .await;
    assert_eq!(
        error_code(&body),
        "UNAUTHENTICATED",
        "{what} (a read): {body}"
    );
}

async fn rs256_and_es256_tokens_from_a_jwks_over_http(backend: Backend) {
    let (jwks_server, url) = JwksServer::start(Some(jwks(&[
        public_jwk(Algorithm::RS256, RSA_A, "rsa-a"),
        public_jwk(Algorithm::ES256, EC_A, "ec-a"),
    ])))
    .await;
    // With JWT_SECRET too: HS256 is then allowed, but only with that secret.
    let app = spawn_with_jwks_url(backend, url, true).await;
    assert_eq!(jwks_server.fetches(), 1, "fetched at start");

    accepted(
        &app,
        &signed(Algorithm::RS256, RSA_A, "rsa-a", &claims(7)),
        7,
    )
    .await;
    accepted(&app, &signed(Algorithm::ES256, EC_A, "ec-a", &claims(8)), 8).await;
    accepted(&app, &tokens::hs256(&claims(9)), 9).await;

    // Signed by a key the JWKS does not hold, under a kid it does hold: bad signature.
    refused(
        &app,
        &signed(Algorithm::RS256, RSA_B, "rsa-a", &claims(7)),
        "wrong key",
    )
    .await;
    // The token names the algorithm of another kind of key.
    refused(
        &app,
        &signed(Algorithm::ES256, EC_A, "rsa-a", &claims(7)),
        "ES256 under an RSA kid",
    )
    .await;
    // Algorithm confusion: HS256 keyed with the RSA public key the JWKS publishes.
    refused(
        &app,
        &hs256_with_rsa_public_key("rsa-a", &claims(7)),
        "HS256 signed with the RSA public key",
    )
    .await;
    // No kid, and an unknown kid (the JWKS was fetched less than 30 s ago: not again).
    let mut no_kid = jsonwebtoken::Header::new(Algorithm::RS256);
    no_kid.kid = None;
    let token = jsonwebtoken::encode(
        &no_kid,
        &claims(7),
        &jsonwebtoken::EncodingKey::from_rsa_pem(RSA_A.as_bytes()).unwrap(),
    )
    .unwrap();
    refused(&app, &token, "no kid").await;
    refused(
        &app,
        &signed(Algorithm::RS256, RSA_B, "rsa-b", &claims(7)),
        "unknown kid",
    )
    .await;
    assert_eq!(jwks_server.fetches(), 1, "not fetched again within 30 s");
    // Expired is expired whatever the key.
    let mut expired = claims(7);
    expired["exp"] = (tokens::now() - 120).into();
    refused(
        &app,
        &signed(Algorithm::RS256, RSA_A, "rsa-a", &expired),
        "expired",
    )
    .await;
}

async fn keys_rotate_through_the_jwks_at_most_one_fetch_per_30_seconds() {
    // The identity provider is down when the server starts: it starts anyway, with no keys.
    let (jwks_server, url) = JwksServer::start(None).await;
    let app = spawn_with_jwks_url(Backend::Sqlite, url, false).await;
    assert_eq!(jwks_server.fetches(), 1);

    // It comes up with key A: the first token naming A makes the server fetch, and that very
    // request is verified with the new keys.
    jwks_server.set(Some(jwks(&[public_jwk(Algorithm::RS256, RSA_A, "a")])));
    accepted(&app, &signed(Algorithm::RS256, RSA_A, "a", &claims(7)), 7).await;
    assert_eq!(jwks_server.fetches(), 2);

    // The provider rotates to key B. Within 30 s of the last fetch, a token naming B is refused
    // and the JWKS is not fetched again, however many such tokens come.
    jwks_server.set(Some(jwks(&[public_jwk(Algorithm::RS256, RSA_B, "b")])));
    let with_b = signed(Algorithm::RS256, RSA_B, "b", &claims(8));
    for _ in 0..5 {
        refused(&app, &with_b, "unknown kid within 30 s").await;
    }
    assert_eq!(jwks_server.fetches(), 2);

    // After 30 s, the next token naming B fetches the new set, and is accepted.
    tokio::time::sleep(Duration::from_secs(31)).await;
    accepted(&app, &with_b, 8).await;
    assert_eq!(jwks_server.fetches(), 3);
    // A new token naming A (a kid no longer published) is refused, without another fetch.
    let mut fresh = claims(7);
    fresh["jti"] = "fresh".into();
    refused(
        &app,
        &signed(Algorithm::RS256, RSA_A, "a", &fresh),
        "retired kid",
    )
    .await;
    assert_eq!(jwks_server.fetches(), 3);
}

async fn a_jwks_file_works_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(
        &path,
        jwks(&[
            public_jwk(Algorithm::ES256, EC_A, "file-ec"),
            // Keys it cannot use are skipped, not fatal.
            json!({ "kty": "oct", "kid": "secret", "k": "c2VjcmV0" }),
            json!({ "kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB" }),
        ])
        .to_string(),
    )
    .unwrap();
    let app = spawn_app_with(
        Backend::Sqlite,
        AppOptions {
            configure: Some(Box::new(move |config| {
                config.auth.jwt_jwks_file = Some(path);
            })),
            ..AppOptions::default()
        },
    )
    .await;
    accepted(
        &app,
        &signed(Algorithm::ES256, EC_A, "file-ec", &claims(5)),
        5,
    )
    .await;
    // No JWT_SECRET: HS256 is refused outright.
    refused(&app, &tokens::hs256(&claims(5)), "HS256 without JWT_SECRET").await;
    drop(dir);
}
