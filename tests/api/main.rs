//! Integration tests: the real application over HTTP, on SQLite and on PostgreSQL.
//! One binary (faster to build); one module per concern.

mod auth;
mod cache;
mod concurrency;
mod contract;
mod errors;
mod helpers;
mod http_conventions;
mod limits;
mod operations;
mod outages;
mod replicas;
mod response_cache;
mod schema_sync;
mod seed;
