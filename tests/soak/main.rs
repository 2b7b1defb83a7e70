//! Soak: the real server binary under mixed load for a while, watching errors and memory.
//!
//! ```sh
//! cargo test --release --test soak -- --duration 600    # the 10-minute soak
//! cargo test --test soak -- --duration 30               # the short form .ci/run runs
//! cargo test --test soak -- --help                      # every knob
//! ```
//!
//! It starts `plans-api` (the binary cargo built with this test) as a separate process on a
//! temporary SQLite file and a free loopback port, waits for `/health/ready`, seeds one plan per
//! tenant through `createPlan`, then for `--duration` seconds runs:
//!
//! * `--clients` concurrent readers, each request a random tenant of `--tenants` and a random
//!   query shape: `plans(userId)`, `plans(userId, connectionType)`, `plans(connectionType)`, the
//!   whole `plans` list, or `plan(id)`;
//! * one writer that every `--write-every-ms` creates a plan for a random tenant or deletes the
//!   oldest one it created (keeping the table's size steady), and after each write reads that
//!   tenant's list back: it must already show the write (read-your-writes);
//! * a sampler that reads the server's resident memory (`VmRSS` in `/proc/<pid>/status`) every
//!   `--sample-every` seconds and prints it with the request count and rate.
//!
//! The cache TTL is `--ttl` (60 s by default), so over ten minutes every key expires and reloads
//! several times.
//!
//! It fails (exit code 1) if any request failed (transport error, non-200, a GraphQL error, a
//! missing or stale result), if the server died, or if memory did not level off. Leveling off
//! means: split the samples into thirds by time; the peak RSS of the last third may exceed the
//! peak of the middle third by at most `--max-growth-percent` (10 %). The first third is warm-up
//! (the cache filling, allocator arenas growing) and is not judged. A leak grows steadily and so
//! shows up as growth from the middle to the last third; a plateau does not.
//!
//! It only ever talks to 127.0.0.1, and it stops by itself.
//!
//! Modules: `server` (the process), `client` (GraphQL requests), `load` (readers and the writer),
//! `memory` (RSS samples and the leveling-off criterion).

mod client;
mod load;
mod memory;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;

use crate::client::Client;
use crate::load::{Stats, TYPES, reader, writer};
use crate::memory::{Sample, leveled_off, mib};
use crate::server::{Server, wait_ready};

/// Soak test of plans-api: mixed load on the real server binary; reports errors and RSS over time.
#[derive(Parser, Debug)]
#[command(name = "soak")]
pub struct Args {
    /// Seconds of mixed load (after start-up and seeding).
    #[arg(long, default_value_t = 600)]
    pub duration: u64,
    /// Concurrent reading clients.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Tenants (user ids 1..=N), each seeded with one plan.
    #[arg(long, default_value_t = 1000)]
    pub tenants: i32,
    /// Milliseconds between writes (a create or a delete).
    #[arg(long, default_value_t = 100)]
    pub write_every_ms: u64,
    /// Seconds between RSS samples [default: duration / 30, between 1 and 10].
    #[arg(long)]
    pub sample_every: Option<u64>,
    /// How much the last third's peak RSS may exceed the middle third's, in percent.
    #[arg(long, default_value_t = 10.0)]
    pub max_growth_percent: f64,
    /// PLAN_CACHE_TTL for the server, in seconds.
    #[arg(long, default_value_t = 60)]
    pub ttl: u64,
    /// The server binary [default: the plans-api cargo built alongside this test].
    #[arg(long)]
    pub server: Option<PathBuf>,
}

async fn soak(args: Args) -> Result<(), String> {
    let mut server = Server::start(&args)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(args.clients + 4)
        .build()
        .map_err(|err| err.to_string())?;
    wait_ready(&mut server, &http).await?;
    let pid = server.pid();
    println!(
        "soak: server pid {pid} at {}; {} s, {} clients, {} tenants, a write every {} ms, TTL {} s",
        server.addr, args.duration, args.clients, args.tenants, args.write_every_ms, args.ttl
    );

    let client = Client {
        http,
        url: server.url("/graphql"),
    };
    let seeding = Instant::now();
    let seeded: Vec<Result<String, String>> = futures::stream::iter(1..=args.tenants)
        .map(|user_id| {
            let client = client.clone();
            async move {
                client
                    .create(user_id, TYPES[user_id as usize % TYPES.len()])
                    .await
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    if let Some(Err(err)) = seeded.iter().find(|result| result.is_err()) {
        return Err(format!("seeding failed: {err}"));
    }
    println!(
        "soak: seeded {} plans in {:.1} s; RSS {:.1} MiB",
        seeded.len(),
        seeding.elapsed().as_secs_f64(),
        mib(server.rss_kib().unwrap_or(0))
    );

    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Stats::default());
    let readers: Vec<_> = (0..args.clients)
        .map(|i| {
            tokio::spawn(reader(
                client.clone(),
                i as u64,
                args.tenants,
                stop.clone(),
                stats.clone(),
            ))
        })
        .collect();
    let writer = tokio::spawn(writer(
        client.clone(),
        args.tenants,
        Duration::from_millis(args.write_every_ms),
        stop.clone(),
        stats.clone(),
    ));

    let every = Duration::from_secs(args.sample_every.unwrap_or(args.duration / 30).clamp(1, 10));
    let started = Instant::now();
    let duration = Duration::from_secs(args.duration);
    let mut samples = Vec::new();
    let mut last_requests = 0;
    println!(
        "{:>7}  {:>9}  {:>10}  {:>8}  {:>6}",
        "t", "RSS MiB", "requests", "req/s", "errors"
    );
    let mut next = started + every;
    while started.elapsed() < duration {
        tokio::time::sleep_until(next.into()).await;
        next += every;
        if !server.is_running() {
            stop.store(true, Ordering::Relaxed);
            return Err(format!("server died:\n{}", server.log_tail()));
        }
        let rss = server.rss_kib().ok_or("cannot read the server's RSS")?;
        let at = started.elapsed();
        let requests = stats.requests.load(Ordering::Relaxed);
        println!(
            "{:>6.0}s  {:>9.1}  {:>10}  {:>8.0}  {:>6}",
            at.as_secs_f64(),
            mib(rss),
            requests,
            (requests - last_requests) as f64 / every.as_secs_f64(),
            stats.errors.load(Ordering::Relaxed)
        );
        last_requests = requests;
        samples.push(Sample { at, rss_kib: rss });
    }
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for reader in readers {
        latencies.extend(reader.await.map_err(|err| err.to_string())?);
    }
    writer.await.map_err(|err| err.to_string())?;
    let alive = server.is_running();

    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(index).copied().unwrap_or(0) as f64 / 1000.0
    };
    let elapsed = started.elapsed().as_secs_f64();
    let requests = stats.requests.load(Ordering::Relaxed);
    let errors = stats.errors.load(Ordering::Relaxed);
    let (flat, memory) = leveled_off(&samples, args.max_growth_percent);
    let rss: Vec<u64> = samples.iter().map(|sample| sample.rss_kib).collect();
    println!();
    println!("soak summary");
    println!(
        "  duration     {elapsed:.0} s, {} samples every {} s",
        samples.len(),
        every.as_secs()
    );
    println!(
        "  requests     {requests} ({:.0}/s), of which {} writes with a read-back",
        requests as f64 / elapsed,
        stats.writes.load(Ordering::Relaxed)
    );
    println!(
        "  read latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(0.5),
        percentile(0.99),
        percentile(1.0)
    );
    println!("  errors       {errors}");
    println!(
        "  RSS          min {:.1} MiB, max {:.1} MiB, end {:.1} MiB (first sample at {:.0} s)",
        mib(rss.iter().copied().min().unwrap_or(0)),
        mib(rss.iter().copied().max().unwrap_or(0)),
        mib(rss.last().copied().unwrap_or(0)),
        samples.first().map_or(0.0, |s| s.at.as_secs_f64())
    );
    println!(
        "  memory       {memory}: {}",
        if flat { "levels off" } else { "still growing" }
    );
    println!("  server       {}", if alive { "alive" } else { "DIED" });

    let mut failures = Vec::new();
    if errors > 0 {
        let first = stats.first_errors.lock().await;
        failures.push(format!(
            "{errors} failed requests; first ones:\n    {}",
            first.join("\n    ")
        ));
    }
    if !flat {
        failures.push(format!("RSS did not level off: {memory}"));
    }
    if !alive {
        failures.push(format!("server died:\n{}", server.log_tail()));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("soak: cannot start a runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(soak(args)) {
        Ok(()) => {
            println!("soak: PASSED");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("soak: FAILED\n{err}");
            ExitCode::FAILURE
        }
    }
}
