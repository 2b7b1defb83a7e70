//! A run: build and start the servers, seed them, start the ceiling, measure, write the report.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::cli::RunArgs;
use crate::client::{self, Load};
use crate::data::{self, PG_SCHEMA};
use crate::machine::{machine, machine_short};
use crate::report::{self, CEILING};
use crate::rounds::{self, Plan, Target};
use crate::servers::{Server, free_port};
use crate::workload::{Mix, Requests, Zipf};
use crate::{ceiling, note, workspace_root};

/// A plans-api server to start.
struct ServerSpec {
    key: &'static str,
    label: &'static str,
    database_url: String,
    /// Environment beyond the defaults.
    env: Vec<(&'static str, String)>,
}

impl ServerSpec {
    fn new(key: &'static str, label: &'static str, database_url: &str) -> Self {
        Self {
            key,
            label,
            database_url: database_url.to_owned(),
            env: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, value: &str) -> Self {
        self.env.push((name, value.to_owned()));
        self
    }
}

pub async fn run(args: RunArgs) -> io::Result<()> {
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
    let seeded = data::seed(plans_api, &sqlite_url, args.users, args.plans_per_user)?;
    note(format!("seeded SQLite in {seeded:.2?}"));
    let postgres_url = if args.no_postgres {
        None
    } else {
        match data::prepare_postgres(&args.postgres_url).await {
            Ok(url) => {
                let seeded = data::seed(plans_api, &url, args.users, args.plans_per_user)?;
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

    let mut specs = vec![
        ServerSpec::new("sqlite-cached", "plans-api cached, SQLite", &sqlite_url),
        ServerSpec::new(
            "sqlite-plan-cache-only",
            "plans-api, response cache off, SQLite",
            &sqlite_url,
        )
        .with("RESPONSE_CACHE_MAX_ENTRIES", "0"),
        ServerSpec::new(
            "sqlite-uncached",
            "plans-api PLAN_CACHE_TTL=0, SQLite",
            &sqlite_url,
        )
        .with("PLAN_CACHE_TTL", "0"),
    ];
    if let Some(url) = &postgres_url {
        specs.push(ServerSpec::new(
            "pg-cached",
            "plans-api cached, PostgreSQL",
            url,
        ));
        specs.push(
            ServerSpec::new("pg-uncached", "plans-api PLAN_CACHE_TTL=0, PostgreSQL", url)
                .with("PLAN_CACHE_TTL", "0"),
        );
    }
    let mut servers = Vec::new();
    for spec in specs {
        servers.push((start(plans_api, &spec, work).await?, spec.label));
    }

    let requests = Arc::new(Requests::new(args.users));
    note(format!(
        "fetching the {} expected responses (this also fills the response caches)",
        requests.len()
    ));
    let sqlite_expected = Arc::new(data::fetch_all(servers[0].0.addr, &requests).await?);
    let pg_expected = match servers
        .iter()
        .find(|(server, _)| server.name == "pg-cached")
    {
        Some((server, _)) => Some(Arc::new(data::fetch_all(server.addr, &requests).await?)),
        None => None,
    };
    let biggest = sqlite_expected.iter().map(Bytes::len).max().unwrap_or(0);
    let hot_size = sqlite_expected[0].len();

    let ceiling = start_ceiling(&requests, &sqlite_expected, work).await?;
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

    let plan = Plan {
        rounds: args.rounds,
        seconds: args.seconds,
        connections: args.connections,
        requests: requests.clone(),
        zipf: Arc::new(Zipf::new(args.users, args.zipf_s)),
    };
    let (mut cells, measuring) = rounds::measure(&plan, &targets).await;
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
        && let Err(err) = data::drop_postgres_schema(&args.postgres_url).await
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
        hottest = plan.zipf.probability(0) * 100.0,
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

/// Starts one plans-api server and waits until it is ready.
async fn start(plans_api: &Path, spec: &ServerSpec, work: &Path) -> io::Result<Server> {
    let port = free_port()?;
    let mut env = vec![
        ("DATABASE_URL", spec.database_url.clone()),
        ("BIND_ADDR", format!("127.0.0.1:{port}")),
        ("ADMIN_TOKEN", "loadbench-admin-token".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
        // Longer than the run: entries must not expire (and reload) mid-measurement.
        ("PLAN_CACHE_TTL", "3600".to_owned()),
    ];
    for (name, value) in &spec.env {
        env.retain(|(existing, _)| existing != name);
        env.push((name, value.clone()));
    }
    let mut server = Server::spawn(
        spec.key,
        plans_api,
        &["serve"],
        &env,
        port,
        &work.join(format!("{}.log", spec.key)),
    )?;
    server.wait_ready(Duration::from_secs(120)).await?;
    Ok(server)
}

/// Starts the ceiling (this binary's `ceiling` subcommand) with the expected responses.
async fn start_ceiling(
    requests: &Requests,
    expected: &[Bytes],
    work: &Path,
) -> io::Result<Server> {
    let pairs: Vec<(Bytes, Bytes)> = requests
        .bodies
        .iter()
        .cloned()
        .zip(expected.iter().cloned())
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
    Ok(ceiling)
}

/// `loadbench load`: loads one already running server.
pub async fn load_one(args: RunArgs, addr: SocketAddr, realistic: bool) -> io::Result<()> {
    let requests = Arc::new(Requests::new(args.users));
    let expected = Arc::new(data::fetch_all(addr, &requests).await?);
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
