//! The report as a Markdown document: how it was measured, then a section per table.

use std::fmt::Write as _;
use std::time::Duration;

use crate::cli::RunArgs;
use crate::report::{self, Cell};

/// What the document says about the run besides the cells.
pub struct Facts {
    pub machine: String,
    /// Time spent in the measured rounds.
    pub measuring: Duration,
    /// Share of requests that go to the hottest operator.
    pub hottest: f64,
    /// Response size of the hottest operator's hotspot query, in bytes.
    pub hot_size: usize,
    /// Response size of the whole list, in bytes.
    pub biggest: usize,
}

/// The command that ran, as a user would type it.
pub fn command() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        "cargo run --release -p loadbench".to_owned()
    } else {
        format!("cargo run --release -p loadbench -- {}", args.join(" "))
    }
}

/// The whole document; `levels` are the connection counts measured, largest first.
pub fn markdown(args: &RunArgs, levels: &[usize], facts: &Facts, cells: &[Cell]) -> String {
    let plans = u64::from(args.users) * u64::from(args.plans_per_user);
    let counts: Vec<String> = levels.iter().map(usize::to_string).collect();
    let mut out = format!(
        "Measured with `{command}`: {rounds} interleaved rounds x {seconds} s per server, mix and \
connection count; {counts} keep-alive connections; loopback; {measuring:.0?} of load in total.\n\n\
Machine: {machine}.\n\n\
Data: {users} operators x {per_user} plans = {plans} plans (`plans-api seed-demo`). Requests pick \
an operator from a Zipf distribution (s = {s}; the hottest gets {hottest:.1}% of requests); realistic mix = 90% `plans(userId, connectionType: \
HOTSPOT)` ({hot_size} bytes for the hottest operator), 9% `plans(userId)`, 1% `plans` (all \
{plans}, {biggest} bytes); hot-only mix = 100% the hotspot query; hot-apq mix = the same requests as APQ hash-only bodies \
(`extensions.persistedQuery`, no `query`; documents registered before the run), what Apollo's \
persisted-queries link sends; paging mix = 50% \
`plansConnection(userId, first: 20)` (Zipf operator), 50% `plansConnection(first: 100, after: …)` \
at any page of the whole list (uniformly; the cursors are learnt by walking the list first), with \
edges, cursors, `pageInfo` and `totalCount`. Every response is compared \
byte for byte with the expected one (a difference counts as an error). Servers run with \
`RUST_LOG=warn` (but the default-logging one, with `RUST_LOG` unset: what a new user gets) and \
`PLAN_CACHE_TTL=3600` (cached) or `0` (uncached); peak RSS is `VmHWM` at the end of the run.\n",
        command = command(),
        rounds = args.rounds,
        seconds = args.seconds,
        counts = counts.join(" and "),
        measuring = facts.measuring,
        machine = facts.machine,
        users = args.users,
        per_user = args.plans_per_user,
        s = args.zipf_s,
        hottest = facts.hottest * 100.0,
        hot_size = facts.hot_size,
        biggest = facts.biggest,
    );
    if args.read_access == crate::cli::ReadAccess::Authenticated {
        out.push_str(
            "\nEvery plans-api server runs with `READ_ACCESS=authenticated` and `JWT_SECRET`, and \
every request carries `Authorization: Bearer <an operator's HS256 JWT>` (the ceiling gets the \
same bytes and ignores the header): each read is authenticated, through the server's cache of \
verified tokens, before the response cache answers.\n",
        );
    }
    for &connections in levels.iter().filter(|&&count| count > 1) {
        let _ = write!(
            out,
            "\n### Throughput: {connections} keep-alive connections\n\n{}",
            report::table(cells, connections)
        );
    }
    if levels.contains(&1) {
        let _ = write!(
            out,
            "\n### Latency: 1 keep-alive connection\n\n\
One connection, closed loop (each request is sent when the previous response has arrived), \
hot-only mix, on the ceiling and plans-api cached: what one client waits for one request, the \
server's own time plus the loopback round trip (which the ceiling pays too). Latency is recorded \
in microseconds.\n\n{}",
            report::latency_table(cells)
        );
    }
    let _ = write!(
        out,
        "\n### Targets\n\n{}",
        report::targets(cells, throughput_level(levels).unwrap_or(0), !args.quick)
    );
    out
}

/// The connection count the throughput targets and the chart are about: the largest above 1.
pub fn throughput_level(levels: &[usize]) -> Option<usize> {
    levels.iter().copied().find(|&count| count > 1)
}
