//! What tests assert about responses, and waiting for something to become true.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::task::JoinHandle;

pub fn assert_no_errors(body: &Value) {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
}

/// The `extensions.code` of the first error, asserting there is one.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code: {body}"))
}

/// Asserts the first error has a code, whichever it is.
pub fn assert_coded_error(body: &Value) {
    error_code(body);
}

/// The ids of `data.plans`, in the order served, asserting the request succeeded.
pub fn plan_ids_of(body: &Value) -> Vec<String> {
    assert_no_errors(body);
    body["data"]["plans"]
        .as_array()
        .expect("plans list")
        .iter()
        .map(|plan| plan["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Asserts the first error is `INTERNAL_SERVER_ERROR` with a message that names no SQL, table,
/// host, credential or driver detail.
pub fn assert_clean_internal_error(body: &Value) {
    assert_eq!(error_code(body), "INTERNAL_SERVER_ERROR", "{body}");
    let message = body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_lowercase();
    for leak in [
        "select",
        "insert",
        "delete",
        "plans",
        "table",
        "sql",
        "relation",
        "127.0.0.1",
        "postgres",
        "connection",
        "refused",
        "pool",
        "timed out",
        "lock",
        "busy",
    ] {
        assert!(!message.contains(leak), "message leaks {leak:?}: {message}");
    }
}

/// Polls `condition` every `every` until it holds; fails after `within`.
pub async fn eventually(
    what: &str,
    within: Duration,
    every: Duration,
    mut condition: impl AsyncFnMut() -> bool,
) {
    let start = Instant::now();
    while !condition().await {
        assert!(start.elapsed() < within, "timed out waiting for: {what}");
        tokio::time::sleep(every).await;
    }
}

/// Ends a race of writers and readers: waits for every writer, then tells the readers (`done`)
/// to stop; returns the violations they found.
pub async fn finish_race(
    writers: Vec<JoinHandle<()>>,
    done: &AtomicBool,
    readers: Vec<JoinHandle<Vec<String>>>,
) -> Vec<String> {
    for writer in writers {
        writer.await.expect("writer");
    }
    done.store(true, Ordering::SeqCst);
    let mut violations = Vec::new();
    for reader in readers {
        violations.extend(reader.await.expect("reader"));
    }
    violations
}

/// Asserts a race found no violations, showing the first 20.
pub fn assert_no_violations(what: &str, violations: &[String]) {
    assert!(
        violations.is_empty(),
        "{what}: {:#?}",
        &violations[..violations.len().min(20)]
    );
}
