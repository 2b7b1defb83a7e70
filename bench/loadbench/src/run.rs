//! A run: build and start the servers, seed them, start the ceiling, measure, write the report.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::cli::{ReadAccess, RunArgs};
use crate::client::{self, Load};
use crate::data::{self, PG_SCHEMA};
use crate::document::{self, Facts};
use crate::machine::{machine, machine_short};
use crate::report::{self, CEILING};
use crate::rounds::{self, Plan, Target};
use crate::servers::{Server, free_port};
use crate::workload::{Mix, Requests, Zipf};
use crate::{ceiling, note, workspace_root};

/// A plans-api server to start.
pub struct ServerSpec {
    key: &'static str,
    label: &'static str,
    database_url: String,
    /// Environment beyond the defaults.
    pub env: Vec<(&'static str, String)>,
    /// With both caches on: measured at one connection too.
    cached: bool,
}

impl ServerSpec {
    pub fn new(key: &'static str, label: &'static str, database_url: &str) -> Self {
        Self {
            key,
            label,
            database_url: database_url.to_owned(),
            env: Vec::new(),
            cached: true,
        }
    }

    /// A server with one of its caches off.
    fn uncached(mut self, name: &'static str, value: &str) -> Self {
        self.env.push((name, value.to_owned()));
        self.cached = false;
        self
    }
}

pub async fn run(args: RunArgs) -> io::Result<()> {
    let levels = args.levels().map_err(io::Error::other)?;
    let root = workspace_root();
    let plans_api = plans_api_binary(&args)?;
    let work = std::env::temp_dir().join(format!("loadbench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = run_in(&args, &levels, &root, &plans_api, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

/// The release plans-api binary, built first unless `--no-build`.
pub fn plans_api_binary(args: &RunArgs) -> io::Result<PathBuf> {
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
    Ok(plans_api)
}

async fn run_in(
    args: &RunArgs,
    levels: &[usize],
    root: &Path,
    plans_api: &Path,
    work: &Path,
) -> io::Result<()> {
    let machine = machine();
    let sqlite_url = format!("sqlite://{}?mode=rwc", work.join("bench.db").display());
    let seeded = data::seed(plans_api, &sqlite_url, args.users, args.plans_per_user)?;
    note(format!("seeded SQLite in {seeded:.2?}"));
    let postgres_url = if !args.postgres() {
        None
    } else {
        match data::prepare_postgres(&args.postgres_url, PG_SCHEMA).await {
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
        .uncached("RESPONSE_CACHE_MAX_ENTRIES", "0"),
        ServerSpec::new(
            "sqlite-uncached",
            "plans-api PLAN_CACHE_TTL=0, SQLite",
            &sqlite_url,
        )
        .uncached("PLAN_CACHE_TTL", "0"),
    ];
    // What a new user gets: `RUST_LOG` unset (the server's default filter), beside the quiet
    // `RUST_LOG=warn` of the others.
    let mut default_log = ServerSpec::new(
        "sqlite-default-log",
        "plans-api cached, SQLite, default logging (RUST_LOG unset)",
        &sqlite_url,
    );
    default_log.env.push(("RUST_LOG", String::new()));
    specs.insert(1, default_log);
    if args.traced {
        let endpoint = match &args.otlp_endpoint {
            Some(endpoint) => endpoint.clone(),
            None => format!("http://{}", start_otlp_sink().await?),
        };
        let mut traced = ServerSpec::new(
            "sqlite-traced",
            "plans-api cached, SQLite, OTLP traces (--trace-ratio sampled)",
            &sqlite_url,
        );
        traced.env = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
            ("OTEL_TRACES_SAMPLER", "traceidratio".to_owned()),
            ("OTEL_TRACES_SAMPLER_ARG", args.trace_ratio.to_string()),
        ];
        specs.push(traced);
    }
    if let Some(url) = &postgres_url {
        specs.push(ServerSpec::new(
            "pg-cached",
            "plans-api cached, PostgreSQL",
            url,
        ));
        specs.push(
            ServerSpec::new("pg-uncached", "plans-api PLAN_CACHE_TTL=0, PostgreSQL", url)
                .uncached("PLAN_CACHE_TTL", "0"),
        );
    }
    // READ_ACCESS=authenticated: every server wants a JWT on every read, and gets one.
    let token = if args.read_access == ReadAccess::Authenticated {
        for spec in &mut specs {
            spec.env.push(("JWT_SECRET", BENCH_JWT_SECRET.to_owned()));
            spec.env.push(("READ_ACCESS", "authenticated".to_owned()));
        }
        Some(mint_token(plans_api)?)
    } else {
        None
    };
    // The servers without caches are measured only at more than one connection.
    let all = args.all_servers() && document::throughput_level(levels).is_some();
    let mut servers = Vec::new();
    for spec in specs.into_iter().filter(|spec| all || spec.cached) {
        servers.push((
            start(plans_api, &spec, work).await?,
            spec.label,
            spec.cached,
        ));
    }

    // The page requests (and their cached responses) only when the paging mix is measured.
    let cursors = if args.mixes().contains(&Mix::Paging) {
        Some(data::page_cursors(servers[0].0.addr, token.as_deref()).await?)
    } else {
        None
    };
    let requests = Arc::new(Requests::new(
        args.users,
        cursors.as_deref(),
        token.as_deref(),
    ));
    note(format!(
        "fetching the {} expected responses (this also fills the response caches)",
        requests.len()
    ));
    let sqlite_expected = Arc::new(data::fetch_all(servers[0].0.addr, &requests).await?);
    let pg_expected = match servers
        .iter()
        .find(|(server, ..)| server.name == "pg-cached")
    {
        Some((server, ..)) => Some(Arc::new(data::fetch_all(server.addr, &requests).await?)),
        None => None,
    };
    if plan_mixes_use_apq(args) {
        note("registering the APQ documents and checking every hash-only request");
        for (server, ..) in &servers {
            let expected = match (&pg_expected, server.name.starts_with("pg-")) {
                (Some(pg), true) => pg,
                _ => &sqlite_expected,
            };
            data::register_apq(server.addr, &requests, expected).await?;
        }
    }
    let biggest = sqlite_expected.iter().map(Bytes::len).max().unwrap_or(0);
    let hot_size = sqlite_expected[0].len();

    let ceiling = start_ceiling(&requests, &sqlite_expected, work).await?;
    let mut targets = vec![Target {
        server: ceiling,
        label: "ceiling: bare axum, precomputed bytes",
        expected: sqlite_expected.clone(),
        single: true,
    }];
    for (server, label, cached) in servers {
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
            single: cached,
        });
    }

    let plan = Plan {
        rounds: args.rounds,
        seconds: args.seconds,
        levels: levels.to_vec(),
        mixes: args.mixes(),
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
        && let Err(err) = data::drop_postgres_schema(&args.postgres_url, PG_SCHEMA).await
    {
        note(format!("could not drop schema {PG_SCHEMA}: {err}"));
    }

    let facts = Facts {
        machine,
        measuring,
        hottest: plan.zipf.probability(0),
        hot_size,
        biggest,
    };
    let markdown = document::markdown(args, levels, &facts, &cells);
    println!("\n{markdown}");
    let Some(out) = args.out() else {
        return Ok(());
    };
    let out = root.join(out);
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("load-benchmark.md"), &markdown)?;
    note(format!("wrote {}", out.join("load-benchmark.md").display()));
    if let Some(connections) = document::throughput_level(levels) {
        let title = format!(
            "plans-api throughput as a ratio to the ceiling ({connections} connections, {})",
            machine_short()
        );
        std::fs::write(
            out.join("load-benchmark.svg"),
            report::chart(&cells, connections, &title),
        )?;
        note(format!(
            "wrote {}",
            out.join("load-benchmark.svg").display()
        ));
    }
    Ok(())
}

/// An OTLP/HTTP endpoint that accepts every export and drops it (for --traced without
/// --otlp-endpoint): the server's exporter does all its work, nothing is kept.
async fn start_otlp_sink() -> io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let sink = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(|_body: Bytes| async { axum::http::StatusCode::OK }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, sink).await;
    });
    Ok(addr)
}

/// `JWT_SECRET` of the servers under `--read-access authenticated` (32 bytes or more).
pub const BENCH_JWT_SECRET: &str = "loadbench-jwt-secret-0123456789abcdef";

/// An operator's JWT for the benchmark's requests, from `plans-api token` (valid for a day).
fn mint_token(plans_api: &Path) -> io::Result<String> {
    mint(plans_api, &["--operator", "1"])
}

/// An admin-role JWT (valid for a day), for subscribers to every operator's lists.
pub fn mint_admin_token(plans_api: &Path) -> io::Result<String> {
    mint(plans_api, &["--role", "admin"])
}

fn mint(plans_api: &Path, who: &[&str]) -> io::Result<String> {
    let output = Command::new(plans_api)
        .arg("token")
        .args(who)
        .args(["--ttl", "86400"])
        .env("JWT_SECRET", BENCH_JWT_SECRET)
        .env_remove("JWT_ISSUER")
        .env_remove("JWT_AUDIENCE")
        .env_remove("JWT_OPERATOR_CLAIM")
        .env_remove("JWT_ROLE_CLAIM")
        .output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "plans-api token failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Starts one plans-api server and waits until it is ready.
pub async fn start(plans_api: &Path, spec: &ServerSpec, work: &Path) -> io::Result<Server> {
    let port = free_port()?;
    let mut env = vec![
        ("DATABASE_URL", spec.database_url.clone()),
        ("BIND_ADDR", format!("127.0.0.1:{port}")),
        ("ADMIN_TOKEN", "loadbench-admin-token".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
        // Longer than the run: entries must not expire (and reload) mid-measurement.
        ("PLAN_CACHE_TTL", "3600".to_owned()),
    ];
    // An empty value unsets the variable (`Server::spawn` leaves it out).
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

fn plan_mixes_use_apq(args: &RunArgs) -> bool {
    args.mixes().contains(&Mix::HotApq)
}

/// Starts the ceiling (this binary's `ceiling` subcommand) with the expected responses.
pub async fn start_ceiling(
    requests: &Requests,
    expected: &[Bytes],
    work: &Path,
) -> io::Result<Server> {
    // The ceiling answers the hash-only bodies too: to it, they are just other bytes.
    let pairs: Vec<(Bytes, Bytes)> = requests
        .bodies
        .iter()
        .chain(&requests.apq_bodies)
        .cloned()
        .zip(expected.iter().chain(expected).cloned())
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
pub async fn load_one(args: RunArgs, addr: SocketAddr, mixes: Vec<Mix>) -> io::Result<()> {
    let cursors = if mixes.contains(&Mix::Paging) {
        Some(data::page_cursors(addr, None).await?)
    } else {
        None
    };
    let requests = Arc::new(Requests::new(args.users, cursors.as_deref(), None));
    let expected = Arc::new(data::fetch_all(addr, &requests).await?);
    if mixes.contains(&Mix::HotApq) {
        data::register_apq(addr, &requests, &expected).await?;
    }
    let zipf = Arc::new(Zipf::new(args.users, args.zipf_s));
    let levels = args.levels().map_err(io::Error::other)?;
    for (connections, &mix) in levels
        .iter()
        .flat_map(|&connections| mixes.iter().map(move |mix| (connections, mix)))
    {
        let load = Arc::new(Load {
            addr,
            requests: requests.clone(),
            expected: expected.clone(),
            mix,
            zipf: zipf.clone(),
        });
        let measured = client::run(load, connections, Duration::from_secs(args.seconds), 1).await;
        println!(
            "{} {} x{}: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, {} errors",
            addr,
            mix.label(),
            connections,
            measured.requests as f64 / measured.elapsed.as_secs_f64(),
            measured.latency.value_at_quantile(0.5) as f64 / 1_000.0,
            measured.latency.value_at_quantile(0.99) as f64 / 1_000.0,
            measured.errors
        );
    }
    Ok(())
}
