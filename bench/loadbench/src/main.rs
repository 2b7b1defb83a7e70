//! Load benchmark of plans-api against the HTTP stack's ceiling.
//!
//! `cargo run --release -p loadbench` builds plans-api (release), seeds the demo data set
//! (2,000 operators x 10 plans) into a temporary SQLite file and a PostgreSQL schema, starts
//! plans-api cached, with the response cache off, and uncached (`PLAN_CACHE_TTL=0`) on each, plus
//! the ceiling (a bare axum handler answering with precomputed bytes identical to plans-api's),
//! then measures each in interleaved rounds with its own load generator and reports requests/s,
//! p50/p99 latency, errors and peak RSS, every figure as a ratio to the ceiling measured in the
//! same run; and, on one keep-alive connection, the latency of the ceiling and plans-api cached
//! (hot-only mix), p50 and p99 as ratios to the ceiling's. Writes
//! `docs/src/benchmarks/load-benchmark.md` and `docs/src/benchmarks/load-benchmark.svg` (the book
//! includes them). `--quick`: hot-only at 64 and 1 connection, plans-api cached on SQLite against
//! the ceiling, printed only.
//!
//! Modules: `cli` (arguments), `run` (the run: servers, ceiling, report), `rounds` (warm-up and
//! the interleaved measurement rounds), `data` (seeding, PostgreSQL schema, expected responses),
//! `client` (the load generator), `workload` (requests and mixes), `servers` (processes),
//! `ceiling`, `report` (tables, targets, chart), `document` (the Markdown report), `machine`
//! (what the run ran on), `subscribers` (the live-lists run, `loadbench subscribers`) and
//! `live_client` (its WebSocket and SSE subscribers), `consistency` (consistency tokens across
//! two replicas, `loadbench consistency`) and `consistency_mix` (its mixed run).

mod ceiling;
mod cli;
mod client;
mod consistency;
mod consistency_mix;
mod data;
mod document;
mod live_client;
mod machine;
mod report;
mod rounds;
mod run;
mod servers;
mod subscribers;
mod workload;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Sub};

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
                Sub::Load { addr, mix } => runtime.block_on(run::load_one(cli.run, addr, mix)),
                Sub::Subscribers {
                    subscribers,
                    writes,
                    with_jwt,
                } => runtime.block_on(subscribers::run(
                    cli.run,
                    subscribers::Options {
                        subscribers,
                        writes,
                        with_jwt,
                    },
                )),
                Sub::Consistency {
                    pairs,
                    clients,
                    write_percent,
                    mix_seconds,
                } => runtime.block_on(consistency::run(
                    cli.run,
                    consistency::Options {
                        pairs,
                        mix: consistency_mix::MixOptions {
                            clients,
                            write_percent,
                            seconds: mix_seconds,
                        },
                    },
                )),
                _ => runtime.block_on(run::run(cli.run)),
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
