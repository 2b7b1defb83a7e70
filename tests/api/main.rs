//! Integration tests: the real application over HTTP, on SQLite and on PostgreSQL.
//! One binary (faster to build); one module per concern.

mod auth;
mod cache;
mod concurrency;
mod contract;
mod errors;
mod helpers;
mod operations;
mod response_cache;
mod schema_sync;
mod seed;
