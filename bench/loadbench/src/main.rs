//! Load benchmark of plans-api against the HTTP stack's ceiling.
//!
//! `cargo run --release -p loadbench` builds plans-api (release), seeds the demo data set
//! (2,000 operators x 10 plans) into a temporary SQLite file and a PostgreSQL schema, starts
//! plans-api cached, with the response cache off, and uncached (`PLAN_CACHE_TTL=0`) on each, plus
//! the ceiling (a bare axum handler answering with precomputed bytes identical to plans-api's),
//! then measures each in interleaved rounds with its own load generator and reports requests/s,
//! p50/p99 latency, errors and peak RSS, every figure as a ratio to the ceiling measured in the
//! same run. Writes `docs/load-benchmark.md` and `docs/load-benchmark.svg`.

mod ceiling;
mod client;
mod report;
mod servers;
mod workload;

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use sea_orm::{ConnectionTrait, Database};

use crate::client::{Connection, Load};
use crate::report::{CEILING, Cell};
use crate::servers::{Server, free_port};
use crate::workload::{Mix, Requests, Zipf};

#[derive(Parser)]
#[command(about = "Load benchmark of plans-api against the HTTP stack's ceiling")]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Sub {
    /// Run the benchmark (the default).
    Run,
    /// Load one already running server (e.g. to profile it): fetches the expected responses from
    /// it, then runs one mix for --seconds with --connections and prints the figures.
    Load {
        /// Address of the server, e.g. 127.0.0.1:8000; it must hold the demo data set.
        #[arg(long)]
        addr: std::net::SocketAddr,
        /// Run the realistic mix instead of the hot-only one.
        #[arg(long)]
        realistic: bool,
    },
    /// Internal: serve precomputed responses (the ceiling), until killed.
    Ceiling {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        responses: PathBuf,
    },
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Measured rounds; every server and mix is measured once per round, interleaved.
    /// (Short cells in many rounds average out other processes on a shared machine.)
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Seconds of load per server, mix and round.
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Operators in the data set; requests pick one from a Zipf distribution.
    #[arg(long, default_value_t = 2_000)]
    users: u32,
    /// Plans per operator.
    #[arg(long, default_value_t = 10)]
    plans_per_user: u32,
    /// Zipf exponent.
    #[arg(long, default_value_t = 1.1)]
    zipf_s: f64,
    /// PostgreSQL database to create the `plans_bench` schema in (dropped afterwards).
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres_url: String,
    /// Measure SQLite only.
    #[arg(long)]
    no_postgres: bool,
    /// Use the plans-api binary already in target/release instead of building it.
    #[arg(long)]
    no_build: bool,
    /// Where to write load-benchmark.md and load-benchmark.svg (relative to the workspace).
    #[arg(long, default_value = "docs")]
    out: PathBuf,
}

const PG_SCHEMA: &str = "plans_bench";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Sub::Run) {
        Sub::Ceiling { port, responses } => match ceiling::serve(port, &responses) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("ceiling: {err}");
                ExitCode::FAILURE
            }
        },
        command => {
            // The load generator gets two workers, like wrk's default two threads.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            let result = match command {
                Sub::Load { addr, realistic } => {
                    runtime.block_on(load_one(cli.run, addr, realistic))
                }
                _ => runtime.block_on(run(cli.run)),
            };
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("loadbench: {err}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_path_buf())
}

fn note(message: impl AsRef<str>) {
    eprintln!("[loadbench] {}", message.as_ref());
}

/// A plans-api server to start: key, label, database URL, environment beyond the defaults.
type ServerSpec = (
    &'static str,
    &'static str,
    String,
    Vec<(&'static str, String)>,
);

/// One server under test and the expected responses it must give.
struct Target {
    server: Server,
    label: &'static str,
    expected: Arc<Vec<Bytes>>,
}

async fn run(args: RunArgs) -> io::Result<()> {
    let root = workspace_root();
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let plans_api = target_dir.join("release/plans-api");
    if !args.no_build {
        note("building plans-api (release)");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "-p",
                "plans-api",
                "--bin",
                "plans-api",
            ])
            .current_dir(&root)
            .status()?;
        if !status.success() {
            return Err(io::Error::other("building plans-api failed"));
        }
    }
    let work = std::env::temp_dir().join(format!("loadbench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = run_in(&args, &root, &plans_api, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

async fn run_in(args: &RunArgs, root: &Path, plans_api: &Path, work: &Path) -> io::Result<()> {
    let machine = machine();
    let sqlite_url = format!("sqlite://{}?mode=rwc", work.join("bench.db").display());
    let seeded = seed(plans_api, &sqlite_url, args)?;
    note(format!("seeded SQLite in {seeded:.2?}"));
    let postgres_url = if args.no_postgres {
        None
    } else {
        match prepare_postgres(&args.postgres_url).await {
            Ok(url) => {
                let seeded = seed(plans_api, &url, args)?;
                note(format!("seeded PostgreSQL in {seeded:.2?}"));
                Some(url)
            }
            Err(err) => {
                note(format!(
                    "PostgreSQL unavailable ({err}); measuring SQLite only"
                ));
                None
            }
        }
    };

    // Every server: (key, label, database URL, extra environment).
    let mut specs: Vec<ServerSpec> = vec![
        (
            "sqlite-cached",
            "plans-api cached, SQLite",
            sqlite_url.clone(),
            vec![],
        ),
        (
            "sqlite-plan-cache-only",
            "plans-api, response cache off, SQLite",
            sqlite_url.clone(),
            vec![("RESPONSE_CACHE_MAX_ENTRIES", "0".to_owned())],
        ),
        (
            "sqlite-uncached",
            "plans-api PLAN_CACHE_TTL=0, SQLite",
            sqlite_url.clone(),
            vec![("PLAN_CACHE_TTL", "0".to_owned())],
        ),
    ];
    if let Some(url) = &postgres_url {
        specs.push((
            "pg-cached",
            "plans-api cached, PostgreSQL",
            url.clone(),
            vec![],
        ));
        specs.push((
            "pg-uncached",
            "plans-api PLAN_CACHE_TTL=0, PostgreSQL",
            url.clone(),
            vec![("PLAN_CACHE_TTL", "0".to_owned())],
        ));
    }
    let mut servers = Vec::new();
    for (key, label, url, extra) in specs {
        let port = free_port()?;
        let mut env = vec![
            ("DATABASE_URL", url),
            ("BIND_ADDR", format!("127.0.0.1:{port}")),
            ("ADMIN_TOKEN", "loadbench-admin-token".to_owned()),
            ("RUST_LOG", "warn".to_owned()),
            // Longer than the run: entries must not expire (and reload) mid-measurement.
            ("PLAN_CACHE_TTL", "3600".to_owned()),
        ];
        for (name, value) in extra {
            env.retain(|(existing, _)| *existing != name);
            env.push((name, value));
        }
        let mut server = Server::spawn(
            key,
            plans_api,
            &["serve"],
            &env,
            port,
            &work.join(format!("{key}.log")),
        )?;
        server.wait_ready(Duration::from_secs(120)).await?;
        servers.push((server, label));
    }

    let requests = Arc::new(Requests::new(args.users));
    note(format!(
        "fetching the {} expected responses (this also fills the response caches)",
        requests.len()
    ));
    let sqlite_expected = Arc::new(fetch_all(servers[0].0.addr, &requests).await?);
    let pg_expected = match servers
        .iter()
        .find(|(server, _)| server.name == "pg-cached")
    {
        Some((server, _)) => Some(Arc::new(fetch_all(server.addr, &requests).await?)),
        None => None,
    };
    let biggest = sqlite_expected.iter().map(Bytes::len).max().unwrap_or(0);
    let hot_size = sqlite_expected[0].len();

    let pairs: Vec<(Bytes, Bytes)> = requests
        .bodies
        .iter()
        .cloned()
        .zip(sqlite_expected.iter().cloned())
        .collect();
    let responses_file = work.join("ceiling.bin");
    ceiling::write_responses(&responses_file, &pairs)?;
    let port = free_port()?;
    let port_arg = port.to_string();
    let responses_arg = responses_file.display().to_string();
    let mut ceiling = Server::spawn(
        CEILING,
        &std::env::current_exe()?,
        &[
            "ceiling",
            "--port",
            &port_arg,
            "--responses",
            &responses_arg,
        ],
        &[],
        port,
        &work.join("ceiling.log"),
    )?;
    ceiling.wait_ready(Duration::from_secs(30)).await?;

    let mut targets = vec![Target {
        server: ceiling,
        label: "ceiling: bare axum, precomputed bytes",
        expected: sqlite_expected.clone(),
    }];
    for (server, label) in servers {
        let expected = if server.name.starts_with("pg-") {
            pg_expected
                .clone()
                .unwrap_or_else(|| sqlite_expected.clone())
        } else {
            sqlite_expected.clone()
        };
        targets.push(Target {
            server,
            label,
            expected,
        });
    }

    let zipf = Arc::new(Zipf::new(args.users, args.zipf_s));
    let mixes = [Mix::HotOnly, Mix::Realistic];
    let mut cells: Vec<Cell> = targets
        .iter()
        .flat_map(|target| {
            mixes
                .iter()
                .map(|&mix| Cell::new(target.server.name, target.label, mix))
        })
        .collect();
    let load_of = |target: &Target, mix: Mix| {
        Arc::new(Load {
            addr: target.server.addr,
            requests: requests.clone(),
            expected: target.expected.clone(),
            mix,
            zipf: zipf.clone(),
        })
    };

    note("warming up every server (1 s each, not counted)");
    for target in &targets {
        client::run(
            load_of(target, Mix::Realistic),
            args.connections,
            Duration::from_secs(1),
            0,
        )
        .await;
        target.server.wait_idle(Duration::from_secs(20)).await;
    }
    let started = Instant::now();
    let duration = Duration::from_secs(args.seconds);
    for round in 0..args.rounds as usize {
        // Rotate the order each round, so no server always follows the same neighbour.
        let order: Vec<usize> = (0..targets.len())
            .map(|i| (i + round) % targets.len())
            .collect();
        for index in order {
            let target = &targets[index];
            for (m, &mix) in mixes.iter().enumerate() {
                let seed = (round * 100 + index * 10 + m + 1) as u64;
                let measured =
                    client::run(load_of(target, mix), args.connections, duration, seed).await;
                note(format!(
                    "round {}/{}: {:<24} {:<9} {:>9.0} req/s  p99 {:>8.2} ms  errors {}",
                    round + 1,
                    args.rounds,
                    target.server.name,
                    mix.label(),
                    measured.requests as f64 / measured.elapsed.as_secs_f64(),
                    measured.latency.value_at_quantile(0.99) as f64 / 1_000.0,
                    measured.errors
                ));
                let cell = cells
                    .iter_mut()
                    .find(|cell| cell.server == target.server.name && cell.mix == mix)
                    .expect("a cell per target and mix");
                cell.add(&measured);
                target.server.wait_idle(Duration::from_secs(20)).await;
            }
        }
    }
    let measuring = started.elapsed();
    for target in &targets {
        let rss = target.server.peak_rss_kib();
        for cell in cells
            .iter_mut()
            .filter(|cell| cell.server == target.server.name)
        {
            cell.peak_rss_kib = rss;
        }
    }
    drop(targets);
    if postgres_url.is_some()
        && let Err(err) = drop_postgres_schema(&args.postgres_url).await
    {
        note(format!("could not drop schema {PG_SCHEMA}: {err}"));
    }

    let plans = u64::from(args.users) * u64::from(args.plans_per_user);
    let command = "cargo run --release -p loadbench";
    let markdown = format!(
        "Measured with `{command}` ({rounds} interleaved rounds x {seconds} s per server and mix, \
{connections} keep-alive connections, loopback; {measuring:.0?} of load in total).\n\n\
Machine: {machine}.\n\n\
Data: {users} operators x {per_user} plans = {plans} plans (`plans-api seed-demo`). Requests pick \
an operator from a Zipf distribution (s = {s}; the hottest gets {hottest:.1}% of requests); realistic mix = 90% `plans(userId, connectionType: \
HOTSPOT)` ({hot_size} bytes for the hottest operator), 9% `plans(userId)`, 1% `plans` (all \
{plans}, {biggest} bytes); hot-only mix = 100% the hotspot query. Every response is compared \
byte for byte with the expected one (a difference counts as an error). Servers run with \
`RUST_LOG=warn` and `PLAN_CACHE_TTL=3600` (cached) or `0` (uncached); peak RSS is `VmHWM` at the \
end of the run.\n\n{table}\n{targets}",
        rounds = args.rounds,
        seconds = args.seconds,
        connections = args.connections,
        users = args.users,
        per_user = args.plans_per_user,
        s = args.zipf_s,
        hottest = zipf.probability(0) * 100.0,
        table = report::table(&cells),
        targets = report::targets(&cells),
    );
    println!("\n{markdown}");
    let out = root.join(&args.out);
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("load-benchmark.md"), &markdown)?;
    std::fs::write(
        out.join("load-benchmark.svg"),
        report::chart(
            &cells,
            &format!(
                "plans-api throughput as a ratio to the ceiling ({} connections, {})",
                args.connections,
                machine_short()
            ),
        ),
    )?;
    note(format!(
        "wrote {} and {}",
        out.join("load-benchmark.md").display(),
        out.join("load-benchmark.svg").display()
    ));
    Ok(())
}

async fn load_one(args: RunArgs, addr: std::net::SocketAddr, realistic: bool) -> io::Result<()> {
    let requests = Arc::new(Requests::new(args.users));
    let expected = Arc::new(fetch_all(addr, &requests).await?);
    let mix = if realistic {
        Mix::Realistic
    } else {
        Mix::HotOnly
    };
    let load = Arc::new(Load {
        addr,
        requests,
        expected,
        mix,
        zipf: Arc::new(Zipf::new(args.users, args.zipf_s)),
    });
    let measured = client::run(load, args.connections, Duration::from_secs(args.seconds), 1).await;
    println!(
        "{} {}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
        addr,
        mix.label(),
        measured.requests as f64 / measured.elapsed.as_secs_f64(),
        measured.latency.value_at_quantile(0.5) as f64 / 1_000.0,
        measured.latency.value_at_quantile(0.99) as f64 / 1_000.0,
        measured.errors
    );
    Ok(())
}

/// Runs `plans-api seed-demo`; returns how long it took.
fn seed(plans_api: &Path, url: &str, args: &RunArgs) -> io::Result<Duration> {
    let started = Instant::now();
    let status = Command::new(plans_api)
        .args([
            "seed-demo",
            "--users",
            &args.users.to_string(),
            "--plans-per-user",
            &args.plans_per_user.to_string(),
        ])
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .status()?;
    if !status.success() {
        return Err(io::Error::other("plans-api seed-demo failed"));
    }
    Ok(started.elapsed())
}

/// Creates a fresh `plans_bench` schema; returns the URL that uses it.
async fn prepare_postgres(url: &str) -> Result<String, sea_orm::DbErr> {
    let db = Database::connect(url).await?;
    db.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        .await?;
    db.execute_unprepared(&format!("CREATE SCHEMA {PG_SCHEMA}"))
        .await?;
    db.close().await?;
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{url}{separator}options=-c%20search_path%3D{PG_SCHEMA}"
    ))
}

async fn drop_postgres_schema(url: &str) -> Result<(), sea_orm::DbErr> {
    let db = Database::connect(url).await?;
    db.execute_unprepared(&format!("DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        .await?;
    db.close().await
}

/// Sends every request once and keeps the responses (which must be successful).
async fn fetch_all(addr: std::net::SocketAddr, requests: &Requests) -> io::Result<Vec<Bytes>> {
    let mut connection = Connection::open(addr).await?;
    let mut body = Vec::new();
    let mut responses = Vec::with_capacity(requests.len());
    for request in &requests.http {
        let status = connection.round_trip(request, &mut body).await?;
        if status != 200 || !body.starts_with(b"{\"data\":{\"plans\":[") {
            return Err(io::Error::other(format!(
                "unexpected response {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )));
        }
        responses.push(Bytes::from(body.clone()));
    }
    Ok(responses)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
        })
        .map_or_else(String::new, |kib| {
            format!(", {:.0} GiB RAM", kib / 1024.0 / 1024.0)
        });
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|avg| avg.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    format!(
        "{} cores ({cpu}){memory}, Linux; load average {load} at the start (the cores are shared)",
        std::thread::available_parallelism().map_or(0, usize::from),
    )
}

fn machine_short() -> String {
    format!(
        "{} cores, loopback",
        std::thread::available_parallelism().map_or(0, usize::from)
    )
}
