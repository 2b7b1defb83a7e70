//! Micro-benchmarks (`cargo bench --bench micro`), in-process on a temporary SQLite file with the
//! demo data set. Requests go through the server's own HTTP service (`Application::service`, driven with
//! `tower::ServiceExt::oneshot`, no socket), so each figure is the code that serves that request:
//! a response-cache hit by POST and by GET, a plan-cache hit (response cache off), a plan-cache
//! miss (`PLAN_CACHE_TTL=0`), mutations (createPlan, updatePlan) with their invalidation; plus the response cache's key
//! normalization and warming 100,000 plans.

#[path = "support/fixture.rs"]
mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use plans_api::http::ResponseKey;
use serde_json::json;

use support::{Fixture, TOKEN, get, post, runtime, serve};

const HOTSPOT: &str = "query Hotspot($userId: Int!) { plans(userId: $userId, connectionType: HOTSPOT) { id userId name connectionType priceCents durationMinutes createdAt } }";
fn queries(c: &mut Criterion) {
    let rt = runtime();
    let fixture = Fixture::new(&rt, 2_000);
    let hot_body = json!({ "query": HOTSPOT, "variables": { "userId": 17 } }).to_string();
    let hot_query_string =
        serde_urlencoded::to_string([("query", HOTSPOT), ("variables", r#"{"userId":17}"#)])
            .expect("query string");

    let mut group = c.benchmark_group("request");
    let cached = fixture.service(&rt, |_| {});
    group.bench_function("POST hot query: response-cache hit", |b| {
        b.to_async(&rt)
            .iter(|| serve(&cached, post(&hot_body, None)));
    });
    group.bench_function("GET hot query: response-cache hit (ETag)", |b| {
        b.to_async(&rt)
            .iter(|| serve(&cached, get(&hot_query_string)));
    });

    let plan_cache_only =
        fixture.service(&rt, |config| config.database.response_cache_max_entries = 0);
    group.bench_function(
        "POST hot query: plan-cache hit (parse, validate, execute, serialize)",
        |b| {
            b.to_async(&rt)
                .iter(|| serve(&plan_cache_only, post(&hot_body, None)));
        },
    );

    let uncached = fixture.service(&rt, |config| config.database.plan_cache_ttl = 0);
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
