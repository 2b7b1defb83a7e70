//! Writes side by side (`cargo bench --bench writes`): `createPlan` against `updatePlan` (a price
//! change, and a move to another operator and type), through the server's own HTTP service on a
//! temporary SQLite file with the demo data set.
//!
//! A write's time is mostly the database's (a transaction, a journal write), which wanders with
//! whatever else the machine does; measured one after another, as criterion does, the three
//! would meet different weather. Here they run interleaved: each round times a batch of each, in
//! an order rotated from round to round, and every update is compared with the create batch of
//! its own round. The figures are the medians over the rounds; the ratios are medians of the
//! per-round ratios.
//!
//! `cargo bench --bench writes -- [ROUNDS] [BATCH]` (default 30 rounds of 20 writes each). With
//! `BENCH_POSTGRES_URL` set (e.g. `postgres://postgres@127.0.0.1:5432/test`) the same runs on
//! PostgreSQL too, in a schema of its own.

#[path = "support/fixture.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{Fixture, TOKEN, post, runtime, serve};
use tokio::runtime::Runtime;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn main() {
    // `cargo bench` passes `--bench`; the numbers are ours.
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    let rounds = numbers.first().copied().unwrap_or(30).max(1);
    let batch = numbers.get(1).copied().unwrap_or(20).max(1);

    let rt = runtime();
    let sqlite = Fixture::new(&rt, 2_000);
    side_by_side(&rt, &sqlite, "SQLite", rounds, batch);
    if let Ok(url) = std::env::var("BENCH_POSTGRES_URL") {
        let postgres = Fixture::on_postgres(&rt, &url, "bench_writes", 2_000);
        side_by_side(&rt, &postgres, "PostgreSQL", rounds, batch);
        postgres.drop_schema(&rt);
    }
}

/// Times the three kinds of write interleaved on `fixture`'s database and prints the table.
fn side_by_side(rt: &Runtime, fixture: &Fixture, database: &str, rounds: usize, batch: usize) {
    let service = fixture.service(rt, |_| {});

    let create = json!({ "query": "mutation { createPlan(input: { userId: 17, name: \"Bench\", connectionType: HOTSPOT, priceCents: 100, durationMinutes: 60 }) { id } }" }).to_string();
    // The same plan each time: a price change (its four keys), or a move between two operators
    // and types (seven keys), back and forth.
    let reprices = [150, 160].map(|price| {
        json!({ "query": format!("mutation {{ updatePlan(id: \"171\", input: {{ priceCents: {price} }}) {{ id }} }}") }).to_string()
    });
    let moves = [(17, "HOTSPOT"), (18, "PPPOE")].map(|(user, kind)| {
        json!({ "query": format!("mutation {{ updatePlan(id: \"171\", input: {{ userId: {user}, connectionType: {kind} }}) {{ id }} }}") }).to_string()
    });
    let kinds: [(&str, Vec<&String>); 3] = [
        ("createPlan (4 keys)", vec![&create]),
        ("updatePlan, price (4 keys)", reprices.iter().collect()),
        ("updatePlan, move (7 keys)", moves.iter().collect()),
    ];

    let time_batch = |bodies: &[&String]| -> Duration {
        rt.block_on(async {
            let started = Instant::now();
            for i in 0..batch {
                serve(&service, post(bodies[i % bodies.len()], Some(TOKEN))).await;
            }
            started.elapsed()
        })
    };
    // One unmeasured round: the first writes pay for warming the connection pool and the file.
    for (_, bodies) in &kinds {
        time_batch(bodies);
    }
    let mut per_write: [Vec<f64>; 3] = Default::default();
    for round in 0..rounds {
        let mut times = [0.0; 3];
        for offset in 0..kinds.len() {
            let kind = (round + offset) % kinds.len();
            let elapsed = time_batch(&kinds[kind].1);
            times[kind] = elapsed.as_secs_f64() * 1e3 / batch as f64;
        }
        for (kind, time) in times.into_iter().enumerate() {
            per_write[kind].push(time);
        }
    }

    println!(
        "\nWrites side by side: {rounds} rounds x {batch} writes of each kind, interleaved ({database}, through the HTTP service)\n"
    );
    println!("| write | median ms per write | × createPlan (median of per-round ratios) |");
    println!("| --- | ---: | ---: |");
    let creates = per_write[0].clone();
    for (kind, (label, _)) in kinds.iter().enumerate() {
        let mut ratios: Vec<f64> = per_write[kind]
            .iter()
            .zip(&creates)
            .map(|(time, create)| time / create)
            .collect();
        let ratio = median(&mut ratios);
        println!(
            "| {label} | {:.3} | {ratio:.2} (rounds: {:.2}-{:.2}) |",
            median(&mut per_write[kind].clone()),
            ratios[0],
            ratios[ratios.len() - 1]
        );
    }
}
