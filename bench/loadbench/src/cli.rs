//! The command line: subcommands and the knobs of a run.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::workload::Mix;

#[derive(Parser)]
#[command(
    about = "Load benchmark of plans-api against the HTTP stack's ceiling",
    after_help = "Quick form (hot-only at 64 and at 1 connection, plans-api cached on SQLite vs \
the ceiling; prints the report, writes nothing): loadbench --quick [--rounds 3 --seconds 2]; \
with the APQ hash-only hit beside it: loadbench --quick --mixes hot-only,hot-apq"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand)]
pub enum Sub {
    /// Run the benchmark (the default).
    Run,
    /// Load one already running server (e.g. to profile it): fetches the expected responses from
    /// it, then runs one mix for --seconds at each of --connections and prints the figures.
    Load {
        /// Address of the server, e.g. 127.0.0.1:8000; it must hold the demo data set.
        #[arg(long)]
        addr: SocketAddr,
        /// The mixes to send, one after another at each connection count, comma-separated
        /// (e.g. `hot-only,hot-apq` compares the byte-identical hit with the APQ hash-only one).
        #[arg(long, value_enum, value_delimiter = ',', default_value = "hot-only")]
        mix: Vec<Mix>,
    },
    /// Live lists at scale: two plans-api replicas on one fresh PostgreSQL schema; --subscribers
    /// live subscriptions to replica A (half WebSocket, half SSE, operators by the Zipf law),
    /// hot-only reads on A against the ceiling while they are connected, then --writes writes
    /// through replica B. Prints event latency, A's loads per write, RSS per idle subscriber and
    /// CPU per event (uses --rounds, --seconds, --users, --zipf-s, --postgres-url, --no-build).
    Subscribers {
        /// Live subscriptions to open to replica A.
        #[arg(long, default_value_t = 10_000)]
        subscribers: usize,
        /// Writes through replica B (create, rename, delete, one at a time).
        #[arg(long, default_value_t = 300)]
        writes: usize,
        /// Every subscriber sends a JWT (an admin-role token valid for a day, from `plans-api
        /// token`; A gets `JWT_SECRET`): each subscription is then armed to end when it expires.
        /// Reads stay public.
        #[arg(long)]
        with_jwt: bool,
    },
    /// Consistency tokens across replicas: two plans-api replicas on one fresh PostgreSQL schema.
    /// (1) hot-only on A with a current `Plans-Consistency` token against without, interleaved
    /// rounds (uses --rounds, --seconds, the largest --connections); (2) --pairs writes on A each
    /// followed at once by a read on B with the token, and as many without; (3) the realistic mix
    /// with writes, --clients round robin over A and B carrying their tokens, and how often each
    /// outcome occurs. Prints the figures (uses --users, --zipf-s, --postgres-url, --no-build).
    Consistency {
        /// Write-on-A, read-on-B pairs with the token (and as many without).
        #[arg(long, default_value_t = 1_000)]
        pairs: usize,
        /// Clients of the mixed run, each alternating between the replicas.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Share of the mixed run's requests that are writes, in percent.
        #[arg(long, default_value_t = 1.0)]
        write_percent: f64,
        /// Seconds of the mixed run.
        #[arg(long, default_value_t = 10)]
        mix_seconds: u64,
    },
    /// Internal: serve precomputed responses (the ceiling), until killed.
    Ceiling {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        responses: PathBuf,
    },
}

/// Which plans-api servers a run starts.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Servers {
    /// Cached, response cache off, and uncached (`PLAN_CACHE_TTL=0`), on each database.
    All,
    /// Only plans-api cached, on each database.
    Cached,
}

/// What reads need on the plans-api servers a run starts (`READ_ACCESS`).
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReadAccess {
    /// `READ_ACCESS=public` (the server's default); requests carry no credential.
    Public,
    /// `READ_ACCESS=authenticated` and `JWT_SECRET` on every plans-api server; every request
    /// carries an operator's JWT (`Authorization: Bearer`, minted with `plans-api token`), which
    /// the server verifies (through its cache of verified tokens) before its response cache. The
    /// ceiling gets the same requests.
    Authenticated,
}

#[derive(Args, Clone)]
pub struct RunArgs {
    /// Measured rounds; every server, mix and connection count is measured once per round,
    /// interleaved. (Short cells in many rounds average out other processes on a shared machine.)
    #[arg(long, default_value_t = 5)]
    pub rounds: u32,
    /// Seconds of load per server, mix, connection count and round.
    #[arg(long, default_value_t = 3)]
    pub seconds: u64,
    /// Keep-alive connection counts to measure, comma-separated. A count above 1 measures every
    /// server with every --mixes mix (throughput); 1 measures one connection, closed loop,
    /// hot-only mix, on the ceiling and plans-api cached (latency).
    #[arg(long, value_delimiter = ',', default_value = "64,1")]
    pub connections: Vec<usize>,
    /// Mixes measured at more than one connection, comma-separated [default: all four; with
    /// --quick, hot-only]. hot-apq is hot-only sent as APQ hash-only requests (the hash-only hit
    /// against hot-only's byte-identical hit).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub mixes: Option<Vec<Mix>>,
    /// Which plans-api servers to start.
    #[arg(long, value_enum, default_value_t = Servers::All)]
    pub servers: Servers,
    /// What reads need: `authenticated` runs every plans-api server with
    /// `READ_ACCESS=authenticated` and sends a JWT with every request (e.g.
    /// `--quick --read-access authenticated` for hot-only with a JWT on every read).
    #[arg(long, value_enum, default_value_t = ReadAccess::Public)]
    pub read_access: ReadAccess,
    /// The quick form: --mixes hot-only (unless given) --servers cached --no-postgres, and
    /// nothing written unless --out is given. With the default --connections: hot-only at 64 and at 1
    /// connection, plans-api cached on SQLite against the ceiling.
    #[arg(long)]
    pub quick: bool,
    /// Operators in the data set; requests pick one from a Zipf distribution.
    #[arg(long, default_value_t = 2_000)]
    pub users: u32,
    /// Plans per operator.
    #[arg(long, default_value_t = 10)]
    pub plans_per_user: u32,
    /// Zipf exponent.
    #[arg(long, default_value_t = 1.1)]
    pub zipf_s: f64,
    /// PostgreSQL database to create the `plans_bench` schema in (dropped afterwards).
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub postgres_url: String,
    /// Measure SQLite only.
    #[arg(long)]
    pub no_postgres: bool,
    /// Use the plans-api binary already in target/release instead of building it.
    #[arg(long)]
    pub no_build: bool,
    /// Also measure plans-api cached on SQLite with OpenTelemetry traces exported
    /// (`OTEL_EXPORTER_OTLP_ENDPOINT` set, `OTEL_TRACES_SAMPLER=traceidratio` with --trace-ratio);
    /// target: hot-only >= 0.70 x the ceiling.
    #[arg(long)]
    pub traced: bool,
    /// The sampled share of traces with --traced.
    #[arg(long, default_value_t = 0.01)]
    pub trace_ratio: f64,
    /// Where the traced server sends its spans (OTLP/HTTP base URL, e.g. a collector at
    /// http://127.0.0.1:4318) [default: a sink this program runs, which accepts and drops them].
    #[arg(long)]
    pub otlp_endpoint: Option<String>,
    /// Where to write load-benchmark.md and load-benchmark.svg (relative to the workspace)
    /// [default: docs/src/benchmarks, which the book includes; with --quick, nothing is written
    /// unless this is given].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl RunArgs {
    /// The connection counts, largest first, each once.
    pub fn levels(&self) -> Result<Vec<usize>, String> {
        let mut levels = self.connections.clone();
        if levels.is_empty() || levels.contains(&0) {
            return Err("--connections: give counts of at least 1".to_owned());
        }
        levels.sort_unstable_by(|a, b| b.cmp(a));
        levels.dedup();
        Ok(levels)
    }

    /// The mixes measured at more than one connection, in [`Mix::ALL`]'s order, each once.
    pub fn mixes(&self) -> Vec<Mix> {
        Mix::ALL
            .into_iter()
            .filter(|mix| match &self.mixes {
                Some(chosen) => chosen.contains(mix),
                None => !self.quick || *mix == Mix::HotOnly,
            })
            .collect()
    }

    /// Whether to start the servers without caches too.
    pub fn all_servers(&self) -> bool {
        !self.quick && self.servers == Servers::All
    }

    pub fn postgres(&self) -> bool {
        !self.quick && !self.no_postgres
    }

    /// Where to write the report, if anywhere.
    pub fn out(&self) -> Option<PathBuf> {
        match (&self.out, self.quick) {
            (Some(out), _) => Some(out.clone()),
            (None, true) => None,
            (None, false) => Some(PathBuf::from("docs/src/benchmarks")),
        }
    }
}
