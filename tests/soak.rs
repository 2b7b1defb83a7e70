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

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::Mutex;

const TOKEN: &str = "soak-admin-token-0123456789";
const TYPES: [&str; 3] = ["HOTSPOT", "PPPOE", "STATIC"];

/// Soak test of plans-api: mixed load on the real server binary; reports errors and RSS over time.
#[derive(Parser, Debug)]
#[command(name = "soak")]
struct Args {
    /// Seconds of mixed load (after start-up and seeding).
    #[arg(long, default_value_t = 600)]
    duration: u64,
    /// Concurrent reading clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Tenants (user ids 1..=N), each seeded with one plan.
    #[arg(long, default_value_t = 1000)]
    tenants: i32,
    /// Milliseconds between writes (a create or a delete).
    #[arg(long, default_value_t = 100)]
    write_every_ms: u64,
    /// Seconds between RSS samples [default: duration / 30, between 1 and 10].
    #[arg(long)]
    sample_every: Option<u64>,
    /// How much the last third's peak RSS may exceed the middle third's, in percent.
    #[arg(long, default_value_t = 10.0)]
    max_growth_percent: f64,
    /// PLAN_CACHE_TTL for the server, in seconds.
    #[arg(long, default_value_t = 60)]
    ttl: u64,
    /// The server binary [default: the plans-api cargo built alongside this test].
    #[arg(long)]
    server: Option<PathBuf>,
}

/// The server process; killed when dropped, so a failing soak leaves nothing running.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(args: &Args) -> Result<Self, String> {
        let binary = args
            .server
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_plans-api")));
        let dir = tempfile::tempdir().map_err(|err| format!("temp dir: {err}"))?;
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log).map_err(|err| format!("log file: {err}"))?;
        let addr = free_port()?;
        let child = Command::new(&binary)
            .env(
                "DATABASE_URL",
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("plans.db").display()
                ),
            )
            .env("BIND_ADDR", addr.to_string())
            .env("ADMIN_TOKEN", TOKEN)
            .env("PLAN_CACHE_TTL", args.ttl.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|err| err.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", binary.display()))?;
        Ok(Self {
            child,
            addr,
            log,
            _dir: dir,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Resident memory in KiB.
    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|err| err.to_string())?;
    listener.local_addr().map_err(|err| err.to_string())
}

/// Counts shared by the load tasks.
#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    errors: AtomicU64,
    writes: AtomicU64,
    first_errors: Mutex<Vec<String>>,
}

impl Stats {
    async fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_errors.lock().await;
        if first.len() < 10 {
            first.push(what);
        }
    }
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    /// One GraphQL request; `Err` for anything but a 200 with data and no errors.
    async fn graphql(&self, query: &str, variables: Value, admin: bool) -> Result<Value, String> {
        let mut request = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if admin {
            request = request.bearer_auth(TOKEN);
        }
        let response = request.send().await.map_err(|err| err.to_string())?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|err| err.to_string())?;
        if status != reqwest::StatusCode::OK || body.get("errors").is_some() {
            return Err(format!("{status}: {body}"));
        }
        body.get("data")
            .cloned()
            .ok_or_else(|| format!("no data: {body}"))
    }

    async fn create(&self, user_id: i32, connection_type: &str) -> Result<String, String> {
        let data = self
            .graphql(
                "mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }",
                json!({ "input": {
                    "userId": user_id,
                    "name": format!("soak plan of {user_id}"),
                    "connectionType": connection_type,
                    "priceCents": 1000,
                    "durationMinutes": 60,
                }}),
                true,
            )
            .await?;
        data["createPlan"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no id: {data}"))
    }

    async fn user_plan_ids(&self, user_id: i32) -> Result<Vec<String>, String> {
        let data = self
            .graphql(
                "query($userId: Int) { plans(userId: $userId) { id } }",
                json!({ "userId": user_id }),
                false,
            )
            .await?;
        Ok(data["plans"]
            .as_array()
            .ok_or_else(|| format!("no list: {data}"))?
            .iter()
            .filter_map(|plan| plan["id"].as_str().map(str::to_owned))
            .collect())
    }
}

/// One random read; returns its latency.
async fn read_once(client: &Client, rng: &mut SmallRng, tenants: i32) -> Result<Duration, String> {
    let user_id = rng.random_range(1..=tenants);
    let kind = TYPES[rng.random_range(0..TYPES.len())];
    let (query, variables) = match rng.random_range(0..100) {
        0..40 => (
            "query($u: Int) { plans(userId: $u) { id name connectionType priceCents durationMinutes createdAt } }",
            json!({ "u": user_id }),
        ),
        40..75 => (
            "query($u: Int, $t: ConnectionType) { plans(userId: $u, connectionType: $t) { id name priceCents } }",
            json!({ "u": user_id, "t": kind }),
        ),
        75..88 => (
            "query($t: ConnectionType) { plans(connectionType: $t) { id } }",
            json!({ "t": kind }),
        ),
        88..90 => ("{ plans { id userId } }", json!({})),
        _ => (
            "query($id: ID!) { plan(id: $id) { id name } }",
            json!({ "id": rng.random_range(1..=tenants).to_string() }),
        ),
    };
    let started = Instant::now();
    let data = client.graphql(query, variables, false).await?;
    let answered = match data.get("plans") {
        Some(list) => list.is_array(),
        // Seeded plans (ids 1..=tenants) are never deleted: `plan` must find one.
        None => data.get("plan").is_some_and(Value::is_object),
    };
    if answered {
        Ok(started.elapsed())
    } else {
        Err(format!("unexpected data: {data}"))
    }
}

async fn reader(
    client: Client,
    seed: u64,
    tenants: i32,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
) -> Vec<u32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match read_once(&client, &mut rng, tenants).await {
            Ok(latency) => {
                latencies.push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
            }
            Err(err) => stats.error(format!("read: {err}")).await,
        }
        stats.requests.fetch_add(1, Ordering::Relaxed);
    }
    latencies
}

/// Creates and deletes now and then; after each write, the tenant's list must show it.
async fn writer(
    client: Client,
    args_tenants: i32,
    every: Duration,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
) {
    let mut rng = SmallRng::seed_from_u64(u64::MAX);
    let mut created: std::collections::VecDeque<(i32, String)> = Default::default();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        let delete = created.len() >= 50 || (!created.is_empty() && rng.random_bool(0.5));
        let result = if delete {
            let (user_id, id) = created.pop_front().expect("a created plan");
            delete_and_check(&client, user_id, &id).await
        } else {
            let user_id = rng.random_range(1..=args_tenants);
            let kind = TYPES[rng.random_range(0..TYPES.len())];
            match create_and_check(&client, user_id, kind).await {
                Ok(id) => {
                    created.push_back((user_id, id));
                    Ok(())
                }
                Err(err) => Err(err),
            }
        };
        stats.writes.fetch_add(1, Ordering::Relaxed);
        stats.requests.fetch_add(2, Ordering::Relaxed);
        if let Err(err) = result {
            stats.error(format!("write: {err}")).await;
        }
    }
}

async fn create_and_check(client: &Client, user_id: i32, kind: &str) -> Result<String, String> {
    let id = client.create(user_id, kind).await?;
    if !client.user_plan_ids(user_id).await?.contains(&id) {
        return Err(format!(
            "stale read: plan {id} missing from user {user_id}'s list after createPlan returned"
        ));
    }
    Ok(id)
}

async fn delete_and_check(client: &Client, user_id: i32, id: &str) -> Result<(), String> {
    let data = client
        .graphql(
            "mutation($id: ID!) { deletePlan(id: $id) }",
            json!({ "id": id }),
            true,
        )
        .await?;
    if data["deletePlan"] != json!(true) {
        return Err(format!("deletePlan({id}) = {data}"));
    }
    if client
        .user_plan_ids(user_id)
        .await?
        .iter()
        .any(|plan| plan == id)
    {
        return Err(format!(
            "stale read: plan {id} still in user {user_id}'s list after deletePlan returned"
        ));
    }
    Ok(())
}

struct Sample {
    at: Duration,
    rss_kib: u64,
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The leveling-off criterion (see the module doc). Returns (passed, explanation).
fn leveled_off(samples: &[Sample], max_growth_percent: f64) -> (bool, String) {
    if samples.len() < 6 {
        return (
            false,
            format!("only {} RSS samples; need at least 6", samples.len()),
        );
    }
    let third = samples.len() / 3;
    let peak = |part: &[Sample]| part.iter().map(|sample| sample.rss_kib).max().unwrap_or(0);
    let (first, middle, last) = (
        peak(&samples[..third]),
        peak(&samples[third..2 * third]),
        peak(&samples[2 * third..]),
    );
    let growth = (last as f64 - middle as f64) / middle.max(1) as f64 * 100.0;
    let passed = growth <= max_growth_percent;
    (
        passed,
        format!(
            "peak RSS by third: {:.1} / {:.1} / {:.1} MiB; last vs middle {growth:+.1} % (limit +{max_growth_percent} %)",
            mib(first),
            mib(middle),
            mib(last)
        ),
    )
}

async fn wait_ready(server: &mut Server, http: &reqwest::Client) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if !server.is_running() {
            return Err(format!(
                "server exited during start-up:\n{}",
                server.log_tail()
            ));
        }
        if let Ok(response) = http.get(server.url("/health/ready")).send().await
            && response.status() == reqwest::StatusCode::OK
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("server not ready within 60 s".to_owned())
}

async fn soak(args: Args) -> Result<(), String> {
    let mut server = Server::start(&args)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(args.clients + 4)
        .build()
        .map_err(|err| err.to_string())?;
    wait_ready(&mut server, &http).await?;
    let pid = server.child.id();
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
