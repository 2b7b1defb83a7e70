//! What the benchmarks share: a seeded SQLite fixture, the server's HTTP service over it,
//! and requests sent through it as a connection would send them.

#![allow(dead_code)] // each bench uses its own part of this

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, header};
use plans_api::cache::{CacheMetrics, CacheSettings};
use plans_api::http::HttpService;
use plans_api::plans::{PlanService, demo_plans};
use plans_api::{Application, Config, app};
use tokio::runtime::Runtime;
use tower::ServiceExt;

pub const TOKEN: &str = "bench-admin-token";

pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A migrated database holding `users` x 10 demo plans: a temporary SQLite file, or a fresh
/// schema of a PostgreSQL database (dropped again when the fixture is).
pub struct Fixture {
    _dir: tempfile::TempDir,
    postgres: Option<(String, &'static str)>,
    pub config: Config,
}

impl Fixture {
    pub fn new(rt: &Runtime, users: u32) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        Self::seeded(rt, dir, None, url, users)
    }

    /// The same data in the schema `schema` of the PostgreSQL database at `url`.
    pub fn on_postgres(rt: &Runtime, url: &str, schema: &'static str, users: u32) -> Self {
        rt.block_on(async {
            let db = sea_orm::Database::connect(url).await.expect("PostgreSQL");
            for sql in [
                format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
                format!("CREATE SCHEMA {schema}"),
            ] {
                sea_orm::ConnectionTrait::execute_unprepared(&db, &sql)
                    .await
                    .expect("schema");
            }
        });
        let separator = if url.contains('?') { '&' } else { '?' };
        let in_schema = format!("{url}{separator}options=-c%20search_path%3D{schema}");
        let dir = tempfile::tempdir().expect("temp dir");
        Self::seeded(rt, dir, Some((url.to_owned(), schema)), in_schema, users)
    }

    fn seeded(
        rt: &Runtime,
        dir: tempfile::TempDir,
        postgres: Option<(String, &'static str)>,
        database_url: String,
        users: u32,
    ) -> Self {
        let mut config = Config::default();
        config.database.database_url = database_url;
        config.http.bind_addr = "127.0.0.1:0".parse().expect("address");
        config.auth.admin_token = Some(TOKEN.to_owned());
        config.telemetry.log_filter = "warn".to_owned();
        rt.block_on(async {
            let service = Self::service_on(&config, 300, 100_000).await;
            service
                .import(demo_plans(users, 10))
                .await
                .expect("seed demo plans");
        });
        Self {
            _dir: dir,
            postgres,
            config,
        }
    }

    /// Drops the PostgreSQL schema, if the fixture made one.
    pub fn drop_schema(&self, rt: &Runtime) {
        if let Some((url, schema)) = &self.postgres {
            rt.block_on(async {
                let db = sea_orm::Database::connect(url).await.expect("PostgreSQL");
                let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                let _ = sea_orm::ConnectionTrait::execute_unprepared(&db, &sql).await;
            });
        }
    }

    pub async fn service_on(config: &Config, ttl: u64, max_entries: u64) -> PlanService {
        let db = app::connect_and_migrate(config).await.expect("database");
        let metrics =
            CacheMetrics::register(&prometheus::Registry::new(), "bench_cache").expect("metrics");
        PlanService::new(
            db,
            CacheSettings {
                ttl: Duration::from_secs(ttl),
                max_entries,
            },
            metrics,
        )
    }

    /// The server's HTTP service (migrated, warmed), with `change` applied to the configuration.
    pub fn service(&self, rt: &Runtime, change: impl FnOnce(&mut Config)) -> HttpService {
        let mut config = self.config.clone();
        change(&mut config);
        rt.block_on(async {
            Application::build(config)
                .await
                .expect("application")
                .service()
        })
    }
}

pub fn post(body: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::from(body.to_owned())).expect("request")
}

pub fn get(query_string: &str) -> Request<Body> {
    Request::get(format!("/graphql?{query_string}"))
        .body(Body::empty())
        .expect("request")
}

/// Sends `request` through `service` and reads the whole body, as a connection would.
pub async fn serve(service: &HttpService, request: Request<Body>) -> axum::body::Bytes {
    let response = service.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), 200);
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body")
}
