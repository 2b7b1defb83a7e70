//! Micro-benchmarks (`cargo bench --bench micro`), in-process on a temporary SQLite file with the
//! demo data set: a cached query executed through the schema, the same answered by the response
//! cache, a plan-cache miss, a mutation with its invalidation, and warming 100,000 plans.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::{Request, Variables};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use plans_api::cache::{CacheMetrics, CacheSettings};
use plans_api::graphql::{
    AdminToken, AppSchema, Lookup, PresentedToken, ResponseCache, ResponseCacheSettings,
    ResponseKey, SchemaLimits, build_schema, render,
};
use plans_api::plans::{PlanService, demo_plans};
use plans_api::{Config, app};
use serde_json::json;
use tokio::runtime::Runtime;

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

    /// A warmed service (or an uncached one, with `ttl` 0) and a schema over it.
    fn schema(&self, rt: &Runtime, ttl: u64) -> (Arc<PlanService>, AppSchema) {
        rt.block_on(async {
            let plans = Arc::new(Self::service_on(&self.config, ttl, 100_000).await);
            plans.warm_up(100_000).await.expect("warm up");
            let schema = build_schema(
                plans.clone(),
                AdminToken::new(TOKEN),
                SchemaLimits::default(),
            );
            (plans, schema)
        })
    }
}

fn hotspot_request(user: i32) -> Request {
    Request::new(HOTSPOT).variables(Variables::from_json(json!({ "userId": user })))
}

fn queries(c: &mut Criterion) {
    let rt = runtime();
    let fixture = Fixture::new(&rt, 2_000);
    let (plans, schema) = fixture.schema(&rt, 300);
    let mut group = c.benchmark_group("query");

    group.bench_function("plan-cache hit: execute + serialize", |b| {
        b.to_async(&rt).iter(|| async {
            let response = schema.execute(hotspot_request(17)).await;
            assert!(response.errors.is_empty());
            render(&response)
        });
    });

    let responses = ResponseCache::new(
        ResponseCacheSettings {
            max_entries: 10_000,
            ttl: Duration::from_secs(300),
        },
        plans.clone(),
        &prometheus::Registry::new(),
    )
    .expect("metrics")
    .expect("response cache on");
    let body = Bytes::from(json!({ "query": HOTSPOT, "variables": { "userId": 17 } }).to_string());
    rt.block_on(async {
        let Lookup::Miss(keys) = responses.lookup(&body) else {
            panic!("a new request must miss");
        };
        let trace = ResponseCache::trace();
        let response = schema
            .execute(hotspot_request(17).data(trace.clone()))
            .await;
        assert!(responses.store(keys, &trace, &response, &render(&response)));
    });
    group.bench_function("response-cache hit: lookup by request bytes", |b| {
        b.iter(|| match responses.lookup(&body) {
            Lookup::Hit(stored) => stored,
            _ => panic!("stored"),
        });
    });
    group.bench_function("response-cache key: normalize the request", |b| {
        b.iter(|| ResponseKey::of_json_body(&body).expect("key"));
    });

    let (_, uncached) = fixture.schema(&rt, 0);
    group.bench_function(
        "miss (PLAN_CACHE_TTL=0): SQLite query + execute + serialize",
        |b| {
            b.to_async(&rt).iter(|| async {
                let response = uncached.execute(hotspot_request(17)).await;
                assert!(response.errors.is_empty());
                render(&response)
            });
        },
    );
    group.finish();

    let mut group = c.benchmark_group("mutation");
    let create = "mutation { createPlan(input: { userId: 17, name: \"Bench\", connectionType: HOTSPOT, priceCents: 100, durationMinutes: 60 }) { id } }";
    group.bench_function("createPlan + invalidation of its 4 keys (SQLite)", |b| {
        b.to_async(&rt).iter(|| async {
            let request = Request::new(create).data(PresentedToken(Some(TOKEN.to_owned())));
            let response = schema.execute(request).await;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            response
        });
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
