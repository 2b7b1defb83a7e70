//! What popular clients send besides one plain request: APQ hashes (POST and GET), trusted
//! documents, batches, Apollo's client-awareness headers in a CORS preflight, a body written in
//! full before the client reads its 413, several operations without `operationName`.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::backend_tests;
use crate::helpers::http::{GRAPHQL_RESPONSE_JSON, header, json_of, post, post_body};
use crate::helpers::{
    AppOptions, Backend, TOKEN, assert_no_errors, error_code, plan_ids_of, spawn_app,
    spawn_app_with,
};

backend_tests!(
    both: apq_by_post_registers_then_answers_hashes,
        apq_by_get_registers_then_answers_hashes,
        batches_run_in_order_each_as_if_alone,
        trusted_documents_under_require_run_only_the_manifest,
        trusted_documents_under_allow_are_named_by_document_id;
    sqlite_only: cors_allows_apollo_client_awareness_headers,
        a_client_that_writes_its_whole_body_first_reads_the_413,
        several_operations_without_a_name_get_operation_name_required,
        batches_can_be_turned_off;
    plain: a_bad_manifest_stops_the_server_at_start;
);

const PLANS: &str = "query Plans { plans { id name } }";
const CREATE: &str = "mutation Create($name: String!) { createPlan(input: {userId: 3, name: $name, connectionType: STATIC, priceCents: 5, durationMinutes: 5}) { id } }";

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn apq_extension(query: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": sha256_hex(query) } })
}

fn message(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}

async fn apq_by_post_registers_then_answers_hashes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_ok(1, "STATIC", "one").await;
    let hash_only = json!({ "extensions": apq_extension(PLANS) }).to_string();

    // Unknown: 200 (whatever the media type), PERSISTED_QUERY_NOT_FOUND / PersistedQueryNotFound.
    for accept in ["application/json", GRAPHQL_RESPONSE_JSON] {
        let response = post_body(
            &app,
            Some("application/json"),
            hash_only.clone(),
            &[("accept", accept)],
        )
        .await;
        assert_eq!(response.status(), 200, "{accept}");
        let body = json_of(response).await;
        assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND");
        assert_eq!(message(&body), "PersistedQueryNotFound");
        assert!(body.get("data").is_none(), "{body}");
    }

    // A query whose hash does not match: BAD_REQUEST, nothing kept.
    let wrong = json!({ "query": "{ plans { id } }", "extensions": apq_extension(PLANS) });
    let response = post(&app, wrong, &[]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(&json_of(response).await), "BAD_REQUEST");
    let response = post_body(&app, Some("application/json"), hash_only.clone(), &[]).await;
    assert_eq!(
        error_code(&json_of(response).await),
        "PERSISTED_QUERY_NOT_FOUND"
    );

    // Query and hash (urql's `miss: true` ignored): kept and run.
    let mut register = json!({ "query": PLANS, "extensions": apq_extension(PLANS) });
    register["extensions"]["persistedQuery"]["miss"] = json!(true);
    let response = post(&app, register, &[]).await;
    assert_eq!(response.status(), 200);
    let registered = json_of(response).await;
    assert_no_errors(&registered);
    assert_eq!(plan_ids_of(&registered).len(), 1);

    // The hash alone now: the same answer, and from the second time on straight from the
    // response cache by its bytes.
    let hits = app.metric("graphql_response_cache_hits_total").await;
    for _ in 0..3 {
        let response = post_body(&app, Some("application/json"), hash_only.clone(), &[]).await;
        assert_eq!(response.status(), 200);
        assert_eq!(json_of(response).await, registered);
    }
    assert!(app.metric("graphql_response_cache_hits_total").await >= hits + 3.0);

    // A write shows through the hash too (the cache entry is dropped, the document kept).
    app.create_ok(2, "STATIC", "two").await;
    let response = post_body(&app, Some("application/json"), hash_only.clone(), &[]).await;
    assert_eq!(plan_ids_of(&json_of(response).await).len(), 2);

    // A mutation by hash: registered, then run by hash (never from a cache).
    let create = |name: &str| json!({ "query": CREATE, "variables": { "name": name }, "extensions": apq_extension(CREATE) });
    let by_hash =
        |name: &str| json!({ "variables": { "name": name }, "extensions": apq_extension(CREATE) });
    let auth = format!("Bearer {TOKEN}");
    let response = post(&app, by_hash("three"), &[("authorization", &auth)]).await;
    assert_eq!(
        error_code(&json_of(response).await),
        "PERSISTED_QUERY_NOT_FOUND"
    );
    assert_no_errors(
        &json_of(post(&app, create("three"), &[("authorization", &auth)]).await).await,
    );
    assert_no_errors(
        &json_of(post(&app, by_hash("four"), &[("authorization", &auth)]).await).await,
    );
    assert_eq!(app.plan_ids(Some(3), None).await.len(), 2);
}

async fn apq_by_get_registers_then_answers_hashes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_ok(1, "STATIC", "one").await;
    let get = |params: Vec<(&'static str, String)>| {
        app.client
            .get(app.url("/graphql"))
            .query(&params)
            .header("accept", GRAPHQL_RESPONSE_JSON)
            .send()
    };
    let extensions = apq_extension(PLANS).to_string();
    let hash_only = vec![
        ("operationName", "Plans".to_owned()),
        ("extensions", extensions.clone()),
    ];
    let response = get(hash_only.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        error_code(&json_of(response).await),
        "PERSISTED_QUERY_NOT_FOUND"
    );
    let mut register = hash_only.clone();
    register.push(("query", PLANS.to_owned()));
    let response = get(register).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(header(&response, "etag").is_some());
    let registered = json_of(response).await;
    assert_no_errors(&registered);
    for _ in 0..2 {
        let response = get(hash_only.clone()).await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(header(&response, "etag").is_some());
        assert_eq!(json_of(response).await, registered);
    }

    // A mutation by GET, even by hash: 405, not run, and not kept.
    let mutation = vec![
        ("query", CREATE.to_owned()),
        ("variables", json!({ "name": "x" }).to_string()),
        ("extensions", apq_extension(CREATE).to_string()),
    ];
    let response = get(mutation).await.unwrap();
    assert_eq!(response.status(), 405);
    let by_hash = vec![
        ("variables", json!({ "name": "x" }).to_string()),
        ("extensions", apq_extension(CREATE).to_string()),
    ];
    let response = get(by_hash).await.unwrap();
    assert_eq!(
        error_code(&json_of(response).await),
        "PERSISTED_QUERY_NOT_FOUND"
    );
    assert!(app.plan_ids(Some(3), None).await.is_empty());
}

async fn batches_run_in_order_each_as_if_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    let auth = format!("Bearer {TOKEN}");
    let batch = json!([
        { "query": "query Mine { plans(userId: 3) { id } }" },
        { "query": CREATE, "variables": { "name": "batched" } },
        { "query": "query Mine { plans(userId: 3) { id } }" },
        { "query": "{ plans { id " },
        { "query": "{ nope }" },
        { "extensions": apq_extension(PLANS) },
        { "query": "query A { plans { id } } query B { plans { id } }" },
    ]);
    let response = post(&app, batch, &[("authorization", &auth)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    let body = json_of(response).await;
    let items = body.as_array().expect("an array of responses");
    assert_eq!(items.len(), 7);
    assert_eq!(plan_ids_of(&items[0]).len(), 0);
    assert_no_errors(&items[1]);
    // The mutation is seen by the item after it.
    assert_eq!(plan_ids_of(&items[2]).len(), 1);
    assert_eq!(error_code(&items[3]), "GRAPHQL_PARSE_FAILED");
    assert_eq!(error_code(&items[4]), "GRAPHQL_VALIDATION_FAILED");
    assert_eq!(error_code(&items[5]), "PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(error_code(&items[6]), "OPERATION_NAME_REQUIRED");

    // Each item is guarded as if alone: no token, no mutation.
    let response = post(
        &app,
        json!([{ "query": CREATE, "variables": { "name": "anonymous" } }]),
        &[],
    )
    .await;
    assert_eq!(error_code(&json_of(response).await[0]), "UNAUTHENTICATED");

    // Items share the response cache with requests sent alone.
    let alone = json_of(post(&app, json!({ "query": PLANS }), &[]).await).await;
    let batched =
        json_of(post(&app, json!([{ "query": PLANS }, { "query": PLANS }]), &[]).await).await;
    assert_eq!(batched, json!([alone.clone(), alone]));

    // Over GRAPHQL_MAX_BATCH (10): BAD_REQUEST, nothing runs.
    let eleven: Vec<Value> = (0..11)
        .map(|n| json!({ "query": CREATE, "variables": { "name": format!("over {n}") } }))
        .collect();
    let response = post(&app, Value::Array(eleven), &[("authorization", &auth)]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(&json_of(response).await), "BAD_REQUEST");
    assert_eq!(app.plan_ids(Some(3), None).await.len(), 1);
    // Empty, or not an array of objects: BAD_REQUEST.
    for malformed in [
        json!([]),
        json!(["{ plans { id } }"]),
        json!([{ "query": PLANS }, 7]),
    ] {
        let response = post(&app, malformed.clone(), &[]).await;
        assert_eq!(response.status(), 400, "{malformed}");
        assert_eq!(error_code(&json_of(response).await), "BAD_REQUEST");
    }
    // An item that is not a GraphQL request is that item's error.
    let response = post(&app, json!([{ "qeury": PLANS }, { "query": PLANS }]), &[]).await;
    let body = json_of(response).await;
    assert_eq!(error_code(&body[0]), "BAD_REQUEST");
    assert_no_errors(&body[1]);
    // MAX_REQUEST_BYTES bounds the whole batch.
    let padding = " ".repeat(40 * 1024);
    let big = json!([{ "query": format!("{{ plans {{ id }} {padding}}}") }, { "query": format!("{{ plans {{ id }} {padding}}}") }]);
    let response = post(&app, big, &[]).await;
    assert_eq!(response.status(), 413);
}

async fn batches_can_be_turned_off() {
    let app = spawn_app_with(
        Backend::Sqlite,
        AppOptions::tweaked(|config| config.graphql.graphql_max_batch = 0),
    )
    .await;
    let response = post(&app, json!([{ "query": PLANS }]), &[]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(&json_of(response).await), "BAD_REQUEST");
    assert_no_errors(&json_of(post(&app, json!({ "query": PLANS }), &[]).await).await);
}

async fn cors_allows_apollo_client_awareness_headers() {
    let options = AppOptions {
        tweak: |config| {
            config.http.cors_allowed_headers =
                plans_api::config::HeaderNames(vec!["x-tenant".to_owned()]);
        },
        ..AppOptions::cors_list(&["https://portal.example.com"])
    };
    let app = spawn_app_with(Backend::Sqlite, options).await;
    let response = app
        .client
        .request(Method::OPTIONS, app.url("/graphql"))
        .header("origin", "https://portal.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "apollographql-client-name,apollographql-client-version,content-type,x-tenant",
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let allowed = header(&response, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in [
        "content-type",
        "authorization",
        "apollographql-client-name",
        "apollographql-client-version",
        "x-tenant",
    ] {
        assert!(allowed.contains(name), "{name} not in {allowed}");
    }
}

/// Python's urllib and many SDKs write the whole body, then read: the server must read (and
/// discard) the rest of an over-size body, or the unread bytes reset the connection and the
/// client never sees its 413.
async fn a_client_that_writes_its_whole_body_first_reads_the_413() {
    let app = spawn_app(Backend::Sqlite).await;
    let size = 4 * 1024 * 1024;
    let body = format!(
        r#"{{"query":"{{ plans {{ id }} }}","x":"{}"}}"#,
        "a".repeat(size)
    );
    for chunked in [false, true] {
        let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        let framing = if chunked {
            "transfer-encoding: chunked".to_owned()
        } else {
            format!("content-length: {}", body.len())
        };
        let mut request = format!(
            "POST /graphql HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n{framing}\r\n\r\n",
            app.addr
        )
        .into_bytes();
        if chunked {
            for chunk in body.as_bytes().chunks(64 * 1024) {
                request.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
                request.extend(chunk);
                request.extend(b"\r\n");
            }
            request.extend(b"0\r\n\r\n");
        } else {
            request.extend(body.as_bytes());
        }
        // Everything written before anything is read.
        stream
            .write_all(&request)
            .await
            .expect("the server reads the whole body");
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
            .await
            .expect("the server closes after answering")
            .expect("no reset: the 413 is readable");
        let text = String::from_utf8_lossy(&response);
        assert!(
            text.starts_with("HTTP/1.1 413"),
            "chunked {chunked}: {text}"
        );
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
        assert!(text.contains("BAD_REQUEST"), "{text}");
    }
    assert_eq!(app.get_status("/health/ready").await, 200);
}

async fn several_operations_without_a_name_get_operation_name_required() {
    let app = spawn_app(Backend::Sqlite).await;
    let two = json!({ "query": "query A { plans { id } } query B { plans { id } }" });
    for (accept, status) in [(GRAPHQL_RESPONSE_JSON, 400), ("application/json", 200)] {
        let response = post(&app, two.clone(), &[("accept", accept)]).await;
        assert_eq!(response.status(), status, "{accept}");
        let body = json_of(response).await;
        assert_eq!(error_code(&body), "OPERATION_NAME_REQUIRED");
        assert!(body.get("data").is_none(), "{body}");
    }
    let mut named = two;
    named["operationName"] = json!("B");
    assert_no_errors(&json_of(post(&app, named, &[]).await).await);
}

/// The manifest the trusted-documents tests use: PLANS and CREATE.
fn manifest_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::temp_dir().join(format!(
            "plans-api-test-manifest-{}.json",
            std::process::id()
        ));
        let manifest = json!({ sha256_hex(PLANS): PLANS, sha256_hex(CREATE): CREATE });
        std::fs::write(&path, manifest.to_string()).expect("manifest written");
        path
    })
    .clone()
}

/// How many plans there are, asked with a manifest document (all that runs under `require`).
async fn count_by_document_id(app: &crate::helpers::TestApp) -> usize {
    let body = json_of(post(app, json!({ "documentId": document_id(PLANS) }), &[]).await).await;
    plan_ids_of(&body).len()
}

fn document_id(query: &str) -> String {
    format!("sha256:{}", sha256_hex(query))
}

async fn trusted_documents_under_require_run_only_the_manifest(backend: Backend) {
    manifest_path();
    let app = spawn_app_with(
        backend,
        AppOptions::tweaked(|config| {
            config.graphql.trusted_documents_file = Some(manifest_path());
            config.graphql.trusted_documents = Some(plans_api::config::TrustedDocuments::Require);
        }),
    )
    .await;
    let auth = format!("Bearer {TOKEN}");
    // By documentId, by APQ hash, as text: manifest documents run.
    let body = json_of(post(&app, json!({ "documentId": document_id(PLANS) }), &[]).await).await;
    assert_no_errors(&body);
    let body = json_of(post(&app, json!({ "extensions": apq_extension(PLANS) }), &[]).await).await;
    assert_no_errors(&body);
    assert_no_errors(&json_of(post(&app, json!({ "query": PLANS }), &[]).await).await);
    let create = json!({ "documentId": document_id(CREATE), "variables": { "name": "trusted" } });
    assert_no_errors(&json_of(post(&app, create, &[("authorization", &auth)]).await).await);
    assert_eq!(count_by_document_id(&app).await, 1);

    // Anything else, an APQ registration too: PERSISTED_QUERY_NOT_IN_LIST, nothing runs.
    let other = "mutation { createPlan(input: {userId: 3, name: \"rogue\", connectionType: STATIC, priceCents: 5, durationMinutes: 5}) { id } }";
    for request in [
        json!({ "query": other }),
        json!({ "query": other, "extensions": apq_extension(other) }),
        json!({ "extensions": apq_extension(other) }),
        json!({ "documentId": document_id(other) }),
    ] {
        let response = post(&app, request.clone(), &[("authorization", &auth)]).await;
        let body = json_of(response).await;
        assert_eq!(
            error_code(&body),
            "PERSISTED_QUERY_NOT_IN_LIST",
            "{request}"
        );
        assert!(body.get("data").is_none());
    }
    let response = post(
        &app,
        json!({ "query": other }),
        &[("authorization", &auth), ("accept", GRAPHQL_RESPONSE_JSON)],
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(count_by_document_id(&app).await, 1);
    // In a batch, item by item.
    let body = json_of(
        post(
            &app,
            json!([{ "query": other }, { "documentId": document_id(PLANS) }]),
            &[("authorization", &auth)],
        )
        .await,
    )
    .await;
    assert_eq!(error_code(&body[0]), "PERSISTED_QUERY_NOT_IN_LIST");
    assert_no_errors(&body[1]);

    // By GET: a query by documentId runs; a mutation by documentId is refused like any other.
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[("documentId", document_id(PLANS))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_no_errors(&json_of(response).await);
    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            ("documentId", document_id(CREATE)),
            ("variables", json!({ "name": "by get" }).to_string()),
        ])
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(count_by_document_id(&app).await, 1);
}

async fn trusted_documents_under_allow_are_named_by_document_id(backend: Backend) {
    manifest_path();
    let app = spawn_app_with(
        backend,
        AppOptions::tweaked(|config| config.graphql.trusted_documents_file = Some(manifest_path())),
    )
    .await;
    let body = json_of(post(&app, json!({ "documentId": document_id(PLANS) }), &[]).await).await;
    assert_no_errors(&body);
    // Other documents run too (allow), and an unknown id is not found.
    assert_no_errors(&app.query("{ plans { id } }").await);
    let unknown = json!({ "documentId": document_id("{ plans { id } }") });
    let body = json_of(post(&app, unknown, &[]).await).await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND");
    // Malformed ids: BAD_REQUEST.
    for id in ["abc", "sha256:xyz", "md5:0123"] {
        let response = post(&app, json!({ "documentId": id }), &[]).await;
        assert_eq!(response.status(), 400, "{id}");
        assert_eq!(error_code(&json_of(response).await), "BAD_REQUEST");
    }
    // A documentId and a query that is not that document: BAD_REQUEST.
    let mismatch = json!({ "documentId": document_id(PLANS), "query": "{ plans { id } }" });
    let response = post(&app, mismatch, &[]).await;
    assert_eq!(response.status(), 400);
}

fn a_bad_manifest_stops_the_server_at_start() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.json");
    std::fs::write(
        &wrong,
        json!({ sha256_hex("{ plans { id } }"): PLANS }).to_string(),
    )
    .unwrap();
    for (file, mode) in [
        (Some(wrong.clone()), None),
        (Some(dir.path().join("missing.json")), None),
        (None, Some(plans_api::config::TrustedDocuments::Require)),
    ] {
        let mut config = plans_api::Config::default();
        config.database.database_url = "sqlite::memory:".to_owned();
        config.http.bind_addr = "127.0.0.1:0".parse().unwrap();
        config.graphql.trusted_documents_file = file.clone();
        config.graphql.trusted_documents = mode;
        let started = runtime.block_on(plans_api::Application::build(config));
        let err = started.err().map(|err| err.to_string());
        assert!(err.is_some(), "{file:?} {mode:?} started");
    }
}
