//! The command line: subcommands and the knobs of a run.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Load benchmark of plans-api against the HTTP stack's ceiling")]
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
    /// it, then runs one mix for --seconds with --connections and prints the figures.
    Load {
        /// Address of the server, e.g. 127.0.0.1:8000; it must hold the demo data set.
        #[arg(long)]
        addr: SocketAddr,
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
pub struct RunArgs {
    /// Measured rounds; every server and mix is measured once per round, interleaved.
    /// (Short cells in many rounds average out other processes on a shared machine.)
    #[arg(long, default_value_t = 5)]
    pub rounds: u32,
    /// Seconds of load per server, mix and round.
    #[arg(long, default_value_t = 3)]
    pub seconds: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
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
    /// Where to write load-benchmark.md and load-benchmark.svg (relative to the workspace).
    #[arg(long, default_value = "docs")]
    pub out: PathBuf,
}
