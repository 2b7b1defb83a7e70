//! `loadbench subscribers`: live lists at scale. Two plans-api replicas share one fresh
//! PostgreSQL schema; N subscriptions (half WebSocket `graphql-transport-ws`, half SSE) are opened
//! to replica A, on operators drawn from the reads' Zipf law; writes go through replica B and
//! reach A through the change feed (LISTEN/NOTIFY). Reports the latency from a write's response to
//! each affected subscriber's event, A's database loads per write against the subscribed keys the
//! write changed, A's RSS per idle subscriber (per transport), A's CPU per event delivered, and
//! hot-only read throughput on A while every subscriber is connected, as a ratio to the ceiling.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::Semaphore;

use crate::cli::RunArgs;
use crate::client::{self, Connection, Load, new_histogram};
use crate::live_client::{self, Shared, Slot, Transport, Watch};
use crate::run::{
    BENCH_JWT_SECRET, ServerSpec, mint_admin_token, plans_api_binary, start, start_ceiling,
};
use crate::servers::Server;
use crate::workload::{Mix, Requests, Rng, Zipf};
use crate::{data, note};

/// The schema a subscribers run seeds (its own, so a full run can share the database).
const SCHEMA: &str = "plans_subscribers_bench";
/// Subscriptions being opened at once.
const OPENING_AT_ONCE: usize = 256;
/// How long a write waits for every affected subscriber's event before counting the missing.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);
/// `/proc/PID/stat` ticks per second (`CLK_TCK`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;
const ADMIN_TOKEN: &str = "loadbench-admin-token";

/// The knobs of a subscribers run.
pub struct Options {
    pub subscribers: usize,
    pub writes: usize,
    /// Subscribers send a JWT (`--with-jwt`).
    pub with_jwt: bool,
}

/// Everything a subscribers run measured.
struct Figures {
    subscribers: usize,
    failed: u64,
    rss_ws_kib: f64,
    rss_sse_kib: f64,
    writes: usize,
    latency: Histogram<u64>,
    missed: u64,
    unmarked: u64,
    events: u64,
    server_events: u64,
    loads: u64,
    subscribed_keys_changed: u64,
    cpu_ms: f64,
    plans_api_rps: f64,
    ceiling_rps: f64,
    read_errors: u64,
}

pub async fn run(args: RunArgs, options: Options) -> io::Result<()> {
    if options.subscribers < 2 {
        return Err(io::Error::other("--subscribers: at least 2"));
    }
    let plans_api = plans_api_binary(&args)?;
    let work = std::env::temp_dir().join(format!("loadbench-subs-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let url = data::prepare_postgres(&args.postgres_url, SCHEMA)
        .await
        .map_err(io::Error::other)?;
    let result = run_in(&args, &options, &plans_api, &url, &work).await;
    if let Err(err) = data::drop_postgres_schema(&args.postgres_url, SCHEMA).await {
        note(format!("could not drop schema {SCHEMA}: {err}"));
    }
    let _ = std::fs::remove_dir_all(&work);
    let figures = result?;
    println!("\n{}", markdown(&args, &figures));
    if options.with_jwt {
        println!("Every subscriber sent a JWT (admin role, valid for a day; --with-jwt).");
    }
    Ok(())
}

async fn run_in(
    args: &RunArgs,
    options: &Options,
    plans_api: &Path,
    url: &str,
    work: &Path,
) -> io::Result<Figures> {
    let seeded = data::seed(plans_api, url, args.users, args.plans_per_user)?;
    note(format!("seeded PostgreSQL in {seeded:.2?}"));
    // Room for every subscriber on A (and one more, so the limit is never what is measured).
    let mut replica_a = ServerSpec::new("pg-replica-a", "plans-api replica A", url);
    replica_a
        .env
        .push(("SUBSCRIPTIONS_MAX", (options.subscribers + 1).to_string()));
    let token: Option<Arc<str>> = if options.with_jwt {
        replica_a
            .env
            .push(("JWT_SECRET", BENCH_JWT_SECRET.to_owned()));
        Some(mint_admin_token(plans_api)?.into())
    } else {
        None
    };
    let a = start(plans_api, &replica_a, work).await?;
    let b = start(
        plans_api,
        &ServerSpec::new("pg-replica-b", "plans-api replica B", url),
        work,
    )
    .await?;

    let zipf = Arc::new(Zipf::new(args.users, args.zipf_s));
    let watches = watches(options.subscribers, &zipf);
    let shared = Arc::new(Shared::new());
    let slots: Arc<[Arc<Slot>]> = (0..watches.len()).map(|_| Arc::default()).collect();

    a.wait_idle(Duration::from_secs(5)).await;
    let rss_before = rss_kib(&a)?;
    note(format!(
        "opening {} subscriptions to A over WebSocket",
        options.subscribers / 2
    ));
    let half = options.subscribers / 2;
    let mut tasks = open(a.addr, &watches[..half], &slots[..half], &shared, &token).await;
    a.wait_idle(Duration::from_secs(5)).await;
    let rss_ws = rss_kib(&a)?;
    note(format!(
        "opening {} subscriptions to A over SSE",
        watches.len() - half
    ));
    tasks.extend(open(a.addr, &watches[half..], &slots[half..], &shared, &token).await);
    a.wait_idle(Duration::from_secs(5)).await;
    let rss_sse = rss_kib(&a)?;
    let failed = slots
        .iter()
        .filter(|slot| {
            slot.failed.load(Ordering::SeqCst) != 0 || slot.events.load(Ordering::SeqCst) == 0
        })
        .count() as u64;

    note("hot-only reads on A while every subscriber is connected, against the ceiling");
    let (plans_api_rps, ceiling_rps, read_errors) = hot_only(args, &a, &zipf, work).await?;

    note(format!("{} writes through B", options.writes));
    let writes = write_phase(&a, b.addr, options.writes, &zipf, &watches, &slots, &shared).await?;

    for task in tasks {
        task.abort();
    }
    Ok(Figures {
        subscribers: options.subscribers,
        failed,
        rss_ws_kib: (rss_ws as f64 - rss_before as f64) / half as f64,
        rss_sse_kib: (rss_sse as f64 - rss_ws as f64) / (watches.len() - half) as f64,
        writes: options.writes,
        latency: writes.latency,
        missed: writes.missed,
        unmarked: shared.unmarked.load(Ordering::SeqCst),
        events: writes.events,
        server_events: writes.server_events,
        loads: writes.loads,
        subscribed_keys_changed: writes.subscribed_keys_changed,
        cpu_ms: writes.cpu_ms,
        plans_api_rps,
        ceiling_rps,
        read_errors,
    })
}

/// Who watches what: operators from the Zipf law, every other pair also filtered to HOTSPOT; the
/// first half over WebSocket, the second over SSE.
fn watches(subscribers: usize, zipf: &Zipf) -> Vec<Watch> {
    let mut rng = Rng::new(13);
    (0..subscribers)
        .map(|index| Watch {
            user: zipf.sample(rng.unit()) as u32 + 1,
            hotspot: index % 4 >= 2,
            transport: if index < subscribers / 2 {
                Transport::WebSocket
            } else {
                Transport::Sse
            },
        })
        .collect()
}

/// Opens one subscriber per watch (a bounded number at a time) and waits until each has its first
/// event or has failed.
async fn open(
    addr: SocketAddr,
    watches: &[Watch],
    slots: &[Arc<Slot>],
    shared: &Arc<Shared>,
    token: &Option<Arc<str>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let opening = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let mut tasks = Vec::with_capacity(watches.len());
    for (&watch, slot) in watches.iter().zip(slots) {
        let permit = opening
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let (slot, shared, token) = (slot.clone(), shared.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let started = live_client::subscribe(addr, watch, slot.clone(), shared, token);
            tokio::pin!(started);
            // The permit is given back once the first event (or a failure) is in.
            let mut permit = Some(permit);
            loop {
                tokio::select! {
                    () = &mut started => return,
                    () = tokio::time::sleep(Duration::from_millis(5)), if permit.is_some() => {
                        if slot.events.load(Ordering::SeqCst) > 0 {
                            permit = None;
                        }
                    }
                }
            }
        }));
    }
    // Every permit back: every subscriber has its first event or has ended.
    let _all = opening
        .acquire_many(OPENING_AT_ONCE as u32)
        .await
        .expect("the semaphore is never closed");
    tasks
}

/// Hot-only at 64 connections on A and on the ceiling, interleaved, `--rounds` x `--seconds`
/// each. Returns A's and the ceiling's requests/s and A's errors.
async fn hot_only(
    args: &RunArgs,
    a: &Server,
    zipf: &Arc<Zipf>,
    work: &Path,
) -> io::Result<(f64, f64, u64)> {
    let requests = Arc::new(Requests::new(args.users, None, None));
    let expected = Arc::new(data::fetch_all(a.addr, &requests).await?);
    let ceiling = start_ceiling(&requests, &expected, work).await?;
    let load = |addr| {
        Arc::new(Load {
            addr,
            requests: requests.clone(),
            expected: expected.clone(),
            mix: Mix::HotOnly,
            zipf: zipf.clone(),
        })
    };
    let (a_load, ceiling_load) = (load(a.addr), load(ceiling.addr));
    let seconds = Duration::from_secs(args.seconds);
    // Warm-up, not counted.
    client::run(a_load.clone(), 64, Duration::from_secs(1), 0).await;
    client::run(ceiling_load.clone(), 64, Duration::from_secs(1), 0).await;
    let (mut a_requests, mut ceiling_requests, mut errors) = (0, 0, 0);
    let mut elapsed = (Duration::ZERO, Duration::ZERO);
    for round in 0..u64::from(args.rounds.max(1)) {
        let measured = client::run(a_load.clone(), 64, seconds, round + 1).await;
        a_requests += measured.requests;
        errors += measured.errors;
        elapsed.0 += measured.elapsed;
        let measured = client::run(ceiling_load.clone(), 64, seconds, round + 1).await;
        ceiling_requests += measured.requests;
        elapsed.1 += measured.elapsed;
    }
    Ok((
        a_requests as f64 / elapsed.0.as_secs_f64(),
        ceiling_requests as f64 / elapsed.1.as_secs_f64(),
        errors,
    ))
}

struct Writes {
    latency: Histogram<u64>,
    missed: u64,
    events: u64,
    server_events: u64,
    loads: u64,
    subscribed_keys_changed: u64,
    cpu_ms: f64,
}

/// The writes, one at a time through B: a plan created for a Zipf-drawn operator (HOTSPOT, so it
/// changes both of its subscribed lists), then renamed, then deleted. After each, waits until
/// every subscriber of the changed lists got its event and records each event's delay from the
/// write's response.
async fn write_phase(
    a: &Server,
    b: SocketAddr,
    writes: usize,
    zipf: &Zipf,
    watches: &[Watch],
    slots: &[Arc<Slot>],
    shared: &Shared,
) -> io::Result<Writes> {
    let mut by_user: HashMap<u32, Vec<usize>> = HashMap::new();
    for (index, watch) in watches.iter().enumerate() {
        by_user.entry(watch.user).or_default().push(index);
    }
    let mut connection = Connection::open(b).await?;
    let mut body = Vec::new();
    let mut rng = Rng::new(16);
    let mut latency = new_histogram();
    let (mut missed, mut events, mut subscribed_keys_changed) = (0, 0, 0);
    let metrics_before = metrics(a.addr).await?;
    let cpu_before = a.cpu_ticks().unwrap_or_default();
    let mut current: Option<(u32, i64)> = None;
    for write in 0..writes {
        let marker = format!("lb-{write}");
        let (user, mutation, expect) = match (write % 3, current) {
            (1, Some((user, id))) => (
                user,
                format!(
                    r#"mutation {{ updatePlan(id: "{id}", input: {{ name: "{marker}" }}) {{ id }} }}"#
                ),
                Some(marker),
            ),
            (2, Some((user, id))) => (
                user,
                format!(r#"mutation {{ deletePlan(id: "{id}") }}"#),
                None,
            ),
            _ => {
                let user = zipf.sample(rng.unit()) as u32 + 1;
                (
                    user,
                    format!(
                        r#"mutation {{ createPlan(input: {{ userId: {user}, name: "{marker}", connectionType: HOTSPOT, priceCents: 1000, durationMinutes: 60 }}) {{ id }} }}"#
                    ),
                    Some(marker),
                )
            }
        };
        let affected: &[usize] = by_user.get(&user).map_or(&[], Vec::as_slice);
        subscribed_keys_changed += [false, true]
            .iter()
            .filter(|&&hotspot| {
                affected
                    .iter()
                    .any(|&index| watches[index].hotspot == hotspot)
            })
            .count() as u64;
        let before: Vec<u64> = affected
            .iter()
            .map(|&index| slots[index].events.load(Ordering::SeqCst))
            .collect();
        *shared
            .marker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = expect.map(String::into_bytes);
        let request = serde_json::json!({ "query": mutation }).to_string();
        let http = format!(
            "POST /graphql HTTP/1.1\r\nHost: {b}\r\nContent-Type: application/json\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: {}\r\n\r\n{request}",
            request.len()
        );
        let status = connection.round_trip(http.as_bytes(), &mut body).await?;
        let returned_us = shared.now_us();
        let answer: serde_json::Value = serde_json::from_slice(&body).map_err(io::Error::other)?;
        if status != 200 || answer.get("errors").is_some() {
            return Err(io::Error::other(format!("write refused: {answer}")));
        }
        if let Some(id) = answer["data"]["createPlan"]["id"].as_str() {
            current = Some((user, id.parse().map_err(io::Error::other)?));
        }
        // Every affected subscriber's event, or the timeout.
        let deadline = Instant::now() + EVENT_TIMEOUT;
        let mut waiting: Vec<(usize, u64)> = affected.iter().copied().zip(before).collect();
        loop {
            waiting.retain(|&(index, before)| {
                let slot = &slots[index];
                if slot.events.load(Ordering::SeqCst) <= before {
                    return slot.failed.load(Ordering::SeqCst) == 0;
                }
                let at = slot.last_at_us.load(Ordering::SeqCst);
                latency.saturating_record(at.saturating_sub(returned_us).max(1));
                events += 1;
                false
            });
            if waiting.is_empty() || Instant::now() >= deadline {
                missed += waiting.len() as u64;
                break;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
    let cpu_ticks = a.cpu_ticks().unwrap_or_default() - cpu_before;
    let metrics_after = metrics(a.addr).await?;
    let delta = |name: &str| {
        metrics_after.get(name).copied().unwrap_or_default()
            - metrics_before.get(name).copied().unwrap_or_default()
    };
    Ok(Writes {
        latency,
        missed,
        events,
        server_events: delta("plan_subscription_events_total") as u64,
        loads: delta("plan_cache_db_loads_total") as u64,
        subscribed_keys_changed,
        cpu_ms: cpu_ticks as f64 * 1_000.0 / TICKS_PER_SECOND,
    })
}

/// A server's counters, from `/metrics` (each sample by its name and labels).
pub async fn metrics(addr: SocketAddr) -> io::Result<HashMap<String, f64>> {
    let mut connection = Connection::open(addr).await?;
    let mut body = Vec::new();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    connection.round_trip(request.as_bytes(), &mut body).await?;
    Ok(String::from_utf8_lossy(&body)
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.split_once(' ')?;
            Some((name.to_owned(), value.trim().parse().ok()?))
        })
        .collect())
}

/// Resident set size now (`VmRSS`), in KiB.
fn rss_kib(server: &Server) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))?;
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix("VmRSS:")?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
        .ok_or_else(|| io::Error::other("no VmRSS"))
}

fn markdown(args: &RunArgs, figures: &Figures) -> String {
    let ms = |quantile: f64| figures.latency.value_at_quantile(quantile) as f64 / 1_000.0;
    let (p50, p99) = (ms(0.50), ms(0.99));
    let loads_per_write = figures.loads as f64 / figures.writes as f64;
    let keys_per_write = figures.subscribed_keys_changed as f64 / figures.writes as f64;
    let cpu_us_per_event = figures.cpu_ms * 1_000.0 / figures.server_events.max(1) as f64;
    let ratio = figures.plans_api_rps / figures.ceiling_rps;
    let verdict = |met: bool| if met { "met" } else { "**missed**" };
    format!(
        "## Live lists: {subscribers} subscribers on replica A, writes through replica B (PostgreSQL)\n\n\
{users} operators (Zipf s = {s}); subscribers: half WebSocket (`graphql-transport-ws`), half SSE; \
{failed} failed to open. {writes} writes (create, rename, delete) through B, one at a time, \
each reaching A through LISTEN/NOTIFY. Hot-only: 64 connections, {rounds} x {seconds} s.\n\n\
| figure | value | target | |\n| --- | --- | --- | --- |\n\
| write's response to each affected subscriber's event, p50 | {p50:.1} ms | | |\n\
| same, p99 | {p99:.1} ms | <= 50 ms | {p99_ok} |\n\
| events measured (missed after {timeout} s; without the write's marker) | {events} ({missed}; {unmarked}) | 0 missed | {missed_ok} |\n\
| A's database loads per write / subscribed keys it changed | {loads_per_write:.2} / {keys_per_write:.2} | loads <= keys | {loads_ok} |\n\
| A's RSS per idle subscriber, WebSocket | {ws:.1} KiB | <= 10 KiB | {ws_ok} |\n\
| A's RSS per idle subscriber, SSE | {sse:.1} KiB | <= 10 KiB | {sse_ok} |\n\
| A's CPU per event (user + system, {server_events} events) | {cpu_us_per_event:.1} µs | | |\n\
| hot-only on A while connected / ceiling | {a_rps:.0} / {c_rps:.0} req/s = {ratio:.2}x ({read_errors} errors) | >= 0.70x | {ratio_ok} |\n",
        subscribers = figures.subscribers,
        users = args.users,
        s = args.zipf_s,
        failed = figures.failed,
        writes = figures.writes,
        rounds = args.rounds.max(1),
        seconds = args.seconds,
        p99_ok = verdict(p99 <= 50.0),
        timeout = EVENT_TIMEOUT.as_secs(),
        events = figures.events,
        missed = figures.missed,
        unmarked = figures.unmarked,
        missed_ok = verdict(figures.missed == 0),
        loads_ok = verdict(figures.loads <= figures.subscribed_keys_changed),
        ws = figures.rss_ws_kib,
        ws_ok = verdict(figures.rss_ws_kib <= 10.0),
        sse = figures.rss_sse_kib,
        sse_ok = verdict(figures.rss_sse_kib <= 10.0),
        server_events = figures.server_events,
        a_rps = figures.plans_api_rps,
        c_rps = figures.ceiling_rps,
        read_errors = figures.read_errors,
        ratio_ok = verdict(ratio >= 0.70),
    )
}
