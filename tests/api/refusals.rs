//! Every refusal leaves its keep-alive connection usable, over raw TCP: for each kind of request
//! refused before its body is read (a bad credential, no credential under
//! `READ_ACCESS=authenticated`, 406, 415, 405, 404, a rate limit), a client that writes the head
//! and then the body a few milliseconds later, one that writes the whole request before reading,
//! and one that pipelines two requests each get the second answer, or a `Connection: close` on
//! the first. Then random sequences of refused and accepted requests on one connection: no reset.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::http::{GRAPHQL_RESPONSE_JSON, PLANS};
use crate::helpers::raw::{RawConnection, RawRequest, RawResponse};
use crate::helpers::{AppOptions, Backend, TOKEN, TestApp, spawn_app_with};
use plans_api::config::ReadAccess;

backend_tests!(
    each_refusal_keeps_the_connection_for_every_client,
    random_sequences_of_refused_and_accepted_requests_meet_no_reset,
);

/// How a client writes a request (and the one after it).
#[derive(Debug, Clone, Copy)]
enum Style {
    /// The head, then the body a few milliseconds later (Python's `http.client`).
    HeadThenBody,
    /// The whole request, then a read.
    Whole,
    /// Both requests in one write, then the reads.
    Pipelined,
}

const STYLES: [Style; 3] = [Style::HeadThenBody, Style::Whole, Style::Pipelined];

fn graphql_body() -> Vec<u8> {
    json!({ "query": PLANS }).to_string().into_bytes()
}

fn mutation_body() -> Vec<u8> {
    json!({ "query": "mutation { deletePlan(id: \"0\") }" })
        .to_string()
        .into_bytes()
}

/// The refusals of an app with the default settings: (what, request, expected status, a code
/// its body names).
fn refusals() -> Vec<(&'static str, RawRequest, u16, &'static str)> {
    let json = ("content-type", "application/json");
    let accept = ("accept", GRAPHQL_RESPONSE_JSON);
    vec![
        (
            "bad credential",
            RawRequest::new(
                "POST",
                "/graphql",
                &[json, accept, ("authorization", "Bearer not-a-valid-token")],
                &mutation_body(),
            ),
            200,
            "UNAUTHENTICATED",
        ),
        (
            "406",
            RawRequest::new(
                "POST",
                "/graphql",
                &[json, ("accept", "image/png")],
                &graphql_body(),
            ),
            406,
            "BAD_REQUEST",
        ),
        (
            "415",
            RawRequest::new(
                "POST",
                "/graphql",
                &[("content-type", "text/plain")],
                &graphql_body(),
            ),
            415,
            "BAD_REQUEST",
        ),
        (
            "405",
            RawRequest::new("PUT", "/graphql", &[json], &graphql_body()),
            405,
            "BAD_REQUEST",
        ),
        (
            "404",
            RawRequest::new("POST", "/nowhere", &[json], &graphql_body()),
            404,
            "",
        ),
    ]
}

fn accepted_post() -> RawRequest {
    RawRequest::new(
        "POST",
        "/graphql",
        &[
            ("content-type", "application/json"),
            ("accept", GRAPHQL_RESPONSE_JSON),
        ],
        &graphql_body(),
    )
}

fn liveness() -> RawRequest {
    RawRequest::new("GET", "/health/live", &[], b"")
}

/// Sends `first` then `second` on `connection` as `style` writes them. Returns the first
/// response, and the second unless the first closed the connection. Panics on a reset or a
/// connection closed without `Connection: close`.
async fn exchange(
    connection: &mut RawConnection,
    style: Style,
    first: &RawRequest,
    second: &RawRequest,
    what: &str,
) -> (RawResponse, Option<RawResponse>) {
    let context = format!("{what}, {style:?}");
    match style {
        Style::HeadThenBody => {
            connection.write(&first.head).await.expect(&context);
            tokio::time::sleep(Duration::from_millis(3)).await;
            if !first.body.is_empty() {
                // The server may have answered and closed already: then the read says so.
                let _ = connection.write(&first.body).await;
            }
        }
        Style::Whole => connection.write(&first.whole()).await.expect(&context),
        Style::Pipelined => {
            let both = [first.whole(), second.whole()].concat();
            connection.write(&both).await.expect(&context);
        }
    }
    let response = connection
        .read_response()
        .await
        .unwrap_or_else(|ended| panic!("{context}: the first request ended with {ended:?}"));
    if response.closes() {
        return (response, None);
    }
    if !matches!(style, Style::Pipelined) {
        connection
            .write(&second.whole())
            .await
            .unwrap_or_else(|err| panic!("{context}: writing the next request: {err}"));
    }
    let next = connection.read_response().await.unwrap_or_else(|ended| {
        panic!("{context}: the next request on the connection ended with {ended:?}")
    });
    (response, Some(next))
}

async fn assert_keeps_connection(
    app: &TestApp,
    what: &str,
    refused: &RawRequest,
    status: u16,
    code: &str,
) {
    for style in STYLES {
        let mut connection = RawConnection::open(app.addr).await;
        let (first, second) = exchange(&mut connection, style, refused, &liveness(), what).await;
        assert_eq!(first.status, status, "{what}, {style:?}: {first:?}");
        let body = String::from_utf8_lossy(&first.body);
        assert!(body.contains(code), "{what}, {style:?}: {body}");
        if let Some(second) = second {
            assert_eq!(second.status, 200, "{what}, {style:?}: {second:?}");
        }
        // Small bodies sent promptly are read and discarded: the connection stays.
        assert!(
            !first.closes(),
            "{what}, {style:?}: closed a connection it could keep"
        );
    }
}

async fn each_refusal_keeps_the_connection_for_every_client(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::default()).await;
    for (what, request, status, code) in refusals() {
        assert_keeps_connection(&app, what, &request, status, code).await;
    }
    // A larger body than MAX_REQUEST_BYTES is not read: the refusal says it closes.
    let huge = vec![b' '; 70_000];
    let mut connection = RawConnection::open(app.addr).await;
    let refused = RawRequest::new("POST", "/graphql", &[("content-type", "text/plain")], &huge);
    connection.write(&refused.head).await.unwrap();
    let response = connection.read_response().await.expect("an answer");
    assert_eq!(response.status, 415);
    assert!(response.closes(), "{response:?}");
    app.stop().await;

    let app = spawn_app_with(
        backend,
        AppOptions::tweaked(|config| config.auth.read_access = ReadAccess::Authenticated),
    )
    .await;
    assert_keeps_connection(
        &app,
        "no credential",
        &accepted_post(),
        200,
        "UNAUTHENTICATED",
    )
    .await;
    app.stop().await;

    let app = spawn_app_with(
        backend,
        AppOptions::tweaked(|config| {
            config.rate_limit.rate_limit_per_second = 1;
            config.rate_limit.rate_limit_burst = Some(1);
        }),
    )
    .await;
    let mut connection = RawConnection::open(app.addr).await;
    let (first, _) = exchange(
        &mut connection,
        Style::Whole,
        &accepted_post(),
        &liveness(),
        "the burst",
    )
    .await;
    assert_eq!(first.status, 200);
    assert_keeps_connection(&app, "429", &accepted_post(), 429, "RATE_LIMITED").await;
    app.stop().await;
}

async fn random_sequences_of_refused_and_accepted_requests_meet_no_reset(backend: Backend) {
    let seed: u64 = rand::rng().random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let app = spawn_app_with(backend, AppOptions::default()).await;
    let mut requests: Vec<(String, RawRequest, u16)> = refusals()
        .into_iter()
        .map(|(what, request, status, _)| (what.to_owned(), request, status))
        .collect();
    requests.push(("accepted POST".to_owned(), accepted_post(), 200));
    requests.push(("liveness".to_owned(), liveness(), 200));
    requests.push((
        "admin POST".to_owned(),
        RawRequest::new(
            "POST",
            "/graphql",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {TOKEN}")),
            ],
            &graphql_body(),
        ),
        200,
    ));
    let mut connection = RawConnection::open(app.addr).await;
    let (mut sent, mut closes) = (0, 0);
    while sent < 150 {
        let (what, first, status) = &requests[rng.random_range(0..requests.len())];
        let (what_next, second, status_next) = &requests[rng.random_range(0..requests.len())];
        let style = STYLES[rng.random_range(0..STYLES.len())];
        let what = format!("seed {seed}, request {sent}: {what} then {what_next}");
        let (response, next) = exchange(&mut connection, style, first, second, &what).await;
        assert_eq!(response.status, *status, "{what}: {response:?}");
        sent += 1;
        match next {
            Some(next) => {
                assert_eq!(next.status, *status_next, "{what}: {next:?}");
                sent += 1;
                if next.closes() {
                    closes += 1;
                    connection = RawConnection::open(app.addr).await;
                }
            }
            None => {
                closes += 1;
                connection = RawConnection::open(app.addr).await;
            }
        }
    }
    // Every body here is small and prompt: none should have cost its connection.
    assert_eq!(closes, 0, "seed {seed}: connections closed");
    app.stop().await;
}
