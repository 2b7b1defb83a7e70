//! Integration tests: the real application over HTTP, on SQLite and on PostgreSQL.
//! One binary (faster to build); one module per concern; its own harness (see
//! `helpers::harness`), so that PostgreSQL tests that cannot run are reported as ignored.

mod auth;
mod cache;
mod clients;
mod concurrency;
mod consistency;
mod contract;
mod errors;
mod graphiql;
mod helpers;
mod hoarding;
mod http_caching;
mod http_compression_and_ids;
mod http_cors;
mod http_get_post;
mod isolation;
mod jwks;
mod limits;
mod metrics_red;
mod operations;
mod operators;
mod outages;
mod pagination;
mod rate_limits;
mod refusals;
mod replicas;
mod response_cache;
mod schema_sync;
mod seed;
mod subscription_credentials;
mod subscriptions;
mod traces;
mod update;

fn main() {
    let trials = [
        auth::trials(),
        cache::trials(),
        clients::trials(),
        concurrency::trials(),
        consistency::trials(),
        contract::trials(),
        errors::trials(),
        graphiql::trials(),
        hoarding::trials(),
        http_caching::trials(),
        http_compression_and_ids::trials(),
        http_cors::trials(),
        http_get_post::trials(),
        isolation::trials(),
        jwks::trials(),
        limits::trials(),
        metrics_red::trials(),
        operations::trials(),
        operators::trials(),
        outages::trials(),
        pagination::trials(),
        rate_limits::trials(),
        refusals::trials(),
        replicas::trials(),
        response_cache::trials(),
        schema_sync::trials(),
        seed::trials(),
        subscription_credentials::trials(),
        subscriptions::trials(),
        traces::trials(),
        update::trials(),
    ];
    helpers::harness::run(trials.into_iter().flatten().collect());
}
