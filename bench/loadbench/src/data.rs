//! The data behind a run: seeding the demo data set, the PostgreSQL schema it lives in, and the
//! expected response of every request.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sea_orm::{ConnectionTrait, Database};

use crate::client::Connection;
use crate::workload::{Requests, WALK_PAGES};

pub const PG_SCHEMA: &str = "plans_bench";

/// Runs `plans-api seed-demo`; returns how long it took.
pub fn seed(plans_api: &Path, url: &str, users: u32, plans_per_user: u32) -> io::Result<Duration> {
    let started = Instant::now();
    let status = Command::new(plans_api)
        .args([
            "seed-demo",
            "--users",
            &users.to_string(),
            "--plans-per-user",
            &plans_per_user.to_string(),
        ])
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .status()?;
    if !status.success() {
        return Err(io::Error::other("plans-api seed-demo failed"));
    }
    Ok(started.elapsed())
}

/// Creates a fresh `schema` (e.g. [`PG_SCHEMA`]); returns the URL that uses it.
pub async fn prepare_postgres(url: &str, schema: &str) -> Result<String, sea_orm::DbErr> {
    let db = Database::connect(url).await?;
    db.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await?;
    db.execute_unprepared(&format!("CREATE SCHEMA {schema}"))
        .await?;
    db.close().await?;
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{url}{separator}options=-c%20search_path%3D{schema}"
    ))
}

pub async fn drop_postgres_schema(url: &str, schema: &str) -> Result<(), sea_orm::DbErr> {
    let db = Database::connect(url).await?;
    db.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await?;
    db.close().await
}

/// Walks the whole list a page (100 plans) at a time and returns each page's `after` cursor
/// (`None` for the first page), as a client paging through it learns them.
pub async fn page_cursors(
    addr: SocketAddr,
    token: Option<&str>,
) -> io::Result<Vec<Option<String>>> {
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let mut connection = Connection::open(addr).await?;
    let mut body = Vec::new();
    let mut cursors = vec![None];
    loop {
        let after = cursors.last().cloned().flatten();
        let request = serde_json::json!({ "query": WALK_PAGES, "variables": { "after": after } });
        let request = request.to_string();
        let http = format!(
            "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{authorization}Content-Length: {}\r\n\r\n{request}",
            request.len()
        );
        let status = connection.round_trip(http.as_bytes(), &mut body).await?;
        let page: serde_json::Value = serde_json::from_slice(&body).map_err(io::Error::other)?;
        let info = &page["data"]["plansConnection"]["pageInfo"];
        if status != 200 || !info.is_object() {
            return Err(io::Error::other(format!(
                "walking the pages failed: {page}"
            )));
        }
        match (info["hasNextPage"].as_bool(), info["endCursor"].as_str()) {
            (Some(true), Some(end)) => cursors.push(Some(end.to_owned())),
            _ => return Ok(cursors),
        }
    }
}

/// Sends every request once and keeps the responses (which must be successful).
/// Registers the workload's documents for APQ, then checks that every hash-only request gets
/// exactly `expected` (this also fills the response cache's entries for their bytes).
pub async fn register_apq(
    addr: SocketAddr,
    requests: &Requests,
    expected: &[Bytes],
) -> io::Result<()> {
    let mut connection = Connection::open(addr).await?;
    let mut body = Vec::new();
    for request in &requests.apq_registrations {
        let status = connection.round_trip(request, &mut body).await?;
        if status != 200 || !body.starts_with(b"{\"data\":") {
            return Err(io::Error::other(format!(
                "APQ registration refused ({status}): {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )));
        }
    }
    for (request, expected) in requests.apq_http.iter().zip(expected) {
        let status = connection.round_trip(request, &mut body).await?;
        if status != 200 || body != *expected {
            return Err(io::Error::other(format!(
                "APQ hash-only request answered {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )));
        }
    }
    Ok(())
}

pub async fn fetch_all(addr: SocketAddr, requests: &Requests) -> io::Result<Vec<Bytes>> {
    let mut connection = Connection::open(addr).await?;
    let mut body = Vec::new();
    let mut responses = Vec::with_capacity(requests.len());
    for request in &requests.http {
        let status = connection.round_trip(request, &mut body).await?;
        let successful = body.starts_with(b"{\"data\":{\"plans")
            && !body.windows(9).any(|window| window == b"\"errors\":");
        if status != 200 || !successful {
            return Err(io::Error::other(format!(
                "unexpected response {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )));
        }
        responses.push(Bytes::from(body.clone()));
    }
    Ok(responses)
}
