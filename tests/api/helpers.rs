//! What the test modules share: the harness (each test as a trial on SQLite and on PostgreSQL),
//! a database of a test's own, the real application on port 0 with a client for it, hand-written
//! HTTP requests, the subscription transports, and checks. Logs are shown only when `TEST_LOG` is set.

mod app;
mod checks;
mod database;
pub mod harness;
pub mod http;
pub mod live;
pub mod raw;
pub mod tokens;

pub use app::{AppOptions, TestApp, spawn_app, spawn_app_at, spawn_app_on, spawn_app_with};
pub use checks::{
    assert_clean_internal_error, assert_coded_error, assert_no_errors, assert_no_violations,
    error_code, eventually, finish_race, plan_ids_of,
};
pub use database::{TestDatabase, postgres_url};

pub const TOKEN: &str = "test-admin-token-0123456789";

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}
