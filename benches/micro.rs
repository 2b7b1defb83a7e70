//! Micro-benchmarks (`cargo bench --bench micro`), in-process on a temporary SQLite file with the
//! demo data set. Requests go through the server's own router (`Application::router`, driven with
//! `tower::ServiceExt::oneshot`, no socket), so each figure is the code that serves that request:
//! a response-cache hit by POST and by GET, a plan-cache hit (response cache off), a plan-cache
//! miss (`PLAN_CACHE_TTL=0`), mutations (createPlan, updatePlan) with their invalidation; plus the response cache's key
//! normalization and warming 100,000 plans.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use criterion::{Criterion, criterion_group, criterion_main};
use plans_api::cache::{CacheMetrics, CacheSettings};
use plans_api::http::ResponseKey;
use plans_api::plans::{PlanService, demo_plans};
use plans_api::{Application, Config, app};
use serde_json::json;
use tokio::runtime::Runtime;
use tower::ServiceExt;

const HOTSPOT: &str = "query Hotspot($userId: Int!) { plans(userId: $userId, connectionType: HOTSPOT) { id userId name connectionType priceCents durationMinutes createdAt } }";
const TOKEN: &str = "bench-admin-token";

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A migrated SQLite file holding `users` x 10 demo plans.
struct Fixture {
    _dir: tempfile::TempDir,
    config: Config,
}

impl Fixture {
    fn new(rt: &Runtime, users: u32) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config {
            database_url: format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            ),
            bind_addr: "127.0.0.1:0".parse().expect("address"),
            admin_token: Some(TOKEN.to_owned()),
            log_filter: "warn".to_owned(),
            ..Config::default()
        };
        rt.block_on(async {
            let service = Self::service_on(&config, 300, 100_000).await;
            service
                .import(demo_plans(users, 10))
                .await
                .expect("seed demo plans");
        });
        Self { _dir: dir, config }
    }

    async fn service_on(config: &Config, ttl: u64, max_entries: u64) -> PlanService {
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

    /// The server's router (migrated, warmed), with `change` applied to the configuration.
    fn router(&self, rt: &Runtime, change: impl FnOnce(&mut Config)) -> Router {
        let mut config = self.config.clone();
        change(&mut config);
        rt.block_on(async {
            Application::build(config)
                .await
                .expect("application")
                .router()
        })
    }
}

fn post(body: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::from(body.to_owned())).expect("request")
}

fn get(query_string: &str) -> Request<Body> {
    Request::get(format!("/graphql?{query_string}"))
        .body(Body::empty())
        .expect("request")
}

/// Sends `request` through `router` and reads the whole body, as a connection would.
async fn serve(router: &Router, request: Request<Body>) -> axum::body::Bytes {
    let response = router.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), 200);
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body")
}

fn queries(c: &mut Criterion) {
    let rt = runtime();
    let fixture = Fixture::new(&rt, 2_000);
    let hot_body = json!({ "query": HOTSPOT, "variables": { "userId": 17 } }).to_string();
    let hot_query_string =
        serde_urlencoded::to_string([("query", HOTSPOT), ("variables", r#"{"userId":17}"#)])
            .expect("query string");

    let mut group = c.benchmark_group("request");
    let cached = fixture.router(&rt, |_| {});
    group.bench_function("POST hot query: response-cache hit", |b| {
        b.to_async(&rt)
            .iter(|| serve(&cached, post(&hot_body, None)));
    });
    group.bench_function("GET hot query: response-cache hit (ETag)", |b| {
        b.to_async(&rt)
            .iter(|| serve(&cached, get(&hot_query_string)));
    });

    let plan_cache_only = fixture.router(&rt, |config| config.response_cache_max_entries = 0);
    group.bench_function(
        "POST hot query: plan-cache hit (parse, validate, execute, serialize)",
        |b| {
            b.to_async(&rt)
                .iter(|| serve(&plan_cache_only, post(&hot_body, None)));
        },
    );

    let uncached = fixture.router(&rt, |config| config.plan_cache_ttl = 0);
    group.bench_function("POST hot query: uncached (PLAN_CACHE_TTL=0, SQLite)", |b| {
        b.to_async(&rt)
            .iter(|| serve(&uncached, post(&hot_body, None)));
    });

    let create = json!({ "query": "mutation { createPlan(input: { userId: 17, name: \"Bench\", connectionType: HOTSPOT, priceCents: 100, durationMinutes: 60 }) { id } }" }).to_string();
    group.bench_function(
        "POST createPlan + invalidation of its 4 keys (SQLite)",
        |b| {
            b.to_async(&rt)
                .iter(|| serve(&cached, post(&create, Some(TOKEN))));
        },
    );

    // The same plan each time: a price change (its four keys), or a move between two operators
    // and types (seven keys), back and forth.
    let reprice = json!({ "query": "mutation { updatePlan(id: \"171\", input: { priceCents: 150 }) { id } }" }).to_string();
    group.bench_function(
        "POST updatePlan + invalidation of its 4 keys (SQLite)",
        |b| {
            b.to_async(&rt)
                .iter(|| serve(&cached, post(&reprice, Some(TOKEN))));
        },
    );
    let moves = [(17, "HOTSPOT"), (18, "PPPOE")].map(|(user, kind)| {
        json!({ "query": format!("mutation {{ updatePlan(id: \"171\", input: {{ userId: {user}, connectionType: {kind} }}) {{ id }} }}") }).to_string()
    });
    let mut next = 0;
    group.bench_function(
        "POST updatePlan moving the plan + invalidation of 7 keys (SQLite)",
        |b| {
            b.to_async(&rt).iter(|| {
                next += 1;
                serve(&cached, post(&moves[next % 2], Some(TOKEN)))
            });
        },
    );
    group.finish();

    let mut group = c.benchmark_group("response_cache");
    let variables = json!({ "userId": 17 });
    group.bench_function("normalized key of the hot query", |b| {
        b.iter(|| ResponseKey::new(HOTSPOT, None, variables.as_object(), None));
    });
    group.finish();
}

fn warming(c: &mut Criterion) {
    let rt = runtime();
    let fixture = Fixture::new(&rt, 10_000);
    let mut group = c.benchmark_group("warm_up");
    group.sample_size(10);
    group.bench_function("100,000 plans from SQLite (40,004 keys)", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let config = fixture.config.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // A fresh, empty cache each time; connecting is not part of warming.
                    let plans = Fixture::service_on(&config, 300, 100_000).await;
                    let started = Instant::now();
                    let report = plans.warm_up(100_000).await.expect("warm up");
                    total += started.elapsed();
                    assert_eq!(report.plans, 100_000);
                }
                total
            }
        });
    });
    group.finish();
}

criterion_group!(benches, queries, warming);
criterion_main!(benches);
