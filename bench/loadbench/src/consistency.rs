//! `loadbench consistency`: the figures of read-your-writes across replicas (consistency tokens,
//! issue 22). Two plans-api replicas, A and B, share one fresh PostgreSQL schema; three
//! measurements, one after another in one run:
//!
//! 1. hot cached reads on A carrying a current `Plans-Consistency` token against the same reads
//!    without one, in interleaved rounds whose order alternates; the figure is the median of the
//!    per-round throughput ratios (a shared machine drifts between rounds, not within a pair);
//! 2. write on A, read on B: a mutation on A and, as soon as it has answered, a read of the
//!    operator's list on B; in alternating pairs the read carries the token (it must never miss
//!    the write) or not (how often it does is the window the token closes); latency from the
//!    mutation's answer to the read's answer;
//! 3. the realistic mix with writes, every client's requests alternating between A and B (round
//!    robin, as the deploy kit's nginx does) and carrying the newest token it got, as the
//!    TypeScript client does (see `consistency_mix`); how often each outcome occurs, from the
//!    replicas' `/metrics`.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::Value;

use crate::cli::RunArgs;
use crate::client::{self, Connection, Load, new_histogram};
use crate::consistency_mix::{self, MixFigures, MixOptions};
use crate::machine::{load_average, machine};
use crate::run::{ServerSpec, plans_api_binary, start};
use crate::servers::Server;
use crate::subscribers::metrics;
use crate::workload::{Mix, Requests, Rng, Shape, Zipf};
use crate::{data, note};

/// The schema a consistency run seeds (its own, so it can share a database with other runs).
const SCHEMA: &str = "plans_consistency_bench";
pub const ADMIN_TOKEN: &str = "loadbench-admin-token";
/// The outcomes of a request carrying a token, as `/metrics` labels them.
pub const OUTCOMES: [&str; 3] = ["current", "waited", "database"];
/// The kinds of write of the write-on-A, read-on-B pairs, in the order they cycle.
const KINDS: [&str; 3] = ["create", "rename", "delete"];

/// The knobs of a consistency run.
pub struct Options {
    /// Write-then-read pairs with the token, and as many without.
    pub pairs: usize,
    pub mix: MixOptions,
}

/// Hot-only on A with and without a current token.
struct HotFigures {
    connections: usize,
    /// Requests/s per round: (without, with).
    rounds: Vec<(f64, f64)>,
    latency: [Histogram<u64>; 2],
    errors: [u64; 2],
    /// A's outcomes while the token-carrying reads ran (warm-up included).
    outcomes: [f64; 3],
}

/// Write on A, read on B; index 0 with the token, 1 without.
struct PairFigures {
    latency: [Histogram<u64>; 2],
    /// Pairs and reads that missed the write, by arm and kind of write.
    pairs: [[u64; 3]; 2],
    missed: [[u64; 3]; 2],
    /// B's outcomes during the pairs.
    outcomes: [f64; 3],
}

struct Figures {
    machine: String,
    load_end: String,
    hot: HotFigures,
    pairs: PairFigures,
    mix: MixFigures,
}

pub async fn run(args: RunArgs, options: Options) -> io::Result<()> {
    if options.pairs == 0 || options.mix.clients == 0 {
        return Err(io::Error::other("--pairs and --clients: at least 1"));
    }
    if !(0.0..=100.0).contains(&options.mix.write_percent) {
        return Err(io::Error::other("--write-percent: from 0 to 100"));
    }
    let levels = args.levels().map_err(io::Error::other)?;
    let plans_api = plans_api_binary(&args)?;
    let work = std::env::temp_dir().join(format!("loadbench-consistency-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let machine = machine();
    let url = data::prepare_postgres(&args.postgres_url, SCHEMA)
        .await
        .map_err(io::Error::other)?;
    let result = run_in(&args, &options, levels[0], &plans_api, &url, &work).await;
    if let Err(err) = data::drop_postgres_schema(&args.postgres_url, SCHEMA).await {
        note(format!("could not drop schema {SCHEMA}: {err}"));
    }
    let _ = std::fs::remove_dir_all(&work);
    let (hot, pairs, mix) = result?;
    let figures = Figures {
        machine,
        load_end: load_average(),
        hot,
        pairs,
        mix,
    };
    println!("\n{}", markdown(&args, &options, &figures));
    Ok(())
}

async fn run_in(
    args: &RunArgs,
    options: &Options,
    connections: usize,
    plans_api: &Path,
    url: &str,
    work: &Path,
) -> io::Result<(HotFigures, PairFigures, MixFigures)> {
    let seeded = data::seed(plans_api, url, args.users, args.plans_per_user)?;
    note(format!("seeded PostgreSQL in {seeded:.2?}"));
    let a = start(
        plans_api,
        &ServerSpec::new("pg-replica-a", "plans-api replica A", url),
        work,
    )
    .await?;
    let b = start(
        plans_api,
        &ServerSpec::new("pg-replica-b", "plans-api replica B", url),
        work,
    )
    .await?;
    let zipf = Arc::new(Zipf::new(args.users, args.zipf_s));
    let requests = Arc::new(Requests::new(args.users, None, None));

    note(format!(
        "1/3: hot-only on A at {connections} connections, with and without a current token, {} rounds x {} s each way",
        args.rounds, args.seconds
    ));
    let hot = hot_reads(args, connections, &a, &zipf).await?;

    note(format!(
        "2/3: {} writes on A, each followed by a read on B (half with the token)",
        options.pairs * 2
    ));
    // B's dashboards are hot: a read that misses the write is one its cache answered.
    data::fetch_all(b.addr, &requests).await?;
    let pairs = write_then_read(options.pairs, &a, &b, &requests, &zipf).await?;

    note(format!(
        "3/3: realistic mix with {}% writes, {} clients round robin over A and B, {} s",
        options.mix.write_percent, options.mix.clients, options.mix.seconds
    ));
    let mix = consistency_mix::run([&a, &b], &options.mix, &requests, &zipf).await?;
    Ok((hot, pairs, mix))
}

/// A request to `addr` over `connection`: `body` (JSON) with `headers` (complete lines). Returns
/// the status and the parsed response.
pub async fn post(
    connection: &mut Connection,
    addr: SocketAddr,
    body: &str,
    headers: &str,
    scratch: &mut Vec<u8>,
) -> io::Result<(u16, Value)> {
    let http = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let status = connection.round_trip(http.as_bytes(), scratch).await?;
    let answer = serde_json::from_slice(scratch).map_err(io::Error::other)?;
    Ok((status, answer))
}

/// The header lines of a request: the admin's credential for a write, and the token if any.
pub fn headers(write: bool, token: Option<&str>) -> String {
    let mut headers = String::new();
    if write {
        headers.push_str(&format!("Authorization: Bearer {ADMIN_TOKEN}\r\n"));
    }
    if let Some(token) = token {
        headers.push_str(&format!("Plans-Consistency: {token}\r\n"));
    }
    headers
}

/// A mutation (as the admin) that must succeed; returns its answer and its token.
async fn mutate(
    connection: &mut Connection,
    addr: SocketAddr,
    query: &str,
    scratch: &mut Vec<u8>,
) -> io::Result<(Value, String)> {
    let body = serde_json::json!({ "query": query }).to_string();
    let (status, answer) = post(connection, addr, &body, &headers(true, None), scratch).await?;
    if status != 200 || answer.get("errors").is_some() {
        return Err(io::Error::other(format!(
            "write refused ({status}): {answer}"
        )));
    }
    let token = token_of(&answer)
        .ok_or_else(|| io::Error::other(format!("a write without a token: {answer}")))?;
    Ok((answer, token))
}

/// The token a response that wrote carries in `extensions.plansConsistency` (the same value as
/// its `Plans-Consistency` header).
pub fn token_of(answer: &Value) -> Option<String> {
    answer["extensions"]["plansConsistency"]
        .as_str()
        .map(str::to_owned)
}

pub fn create_mutation(user: u32, name: &str) -> String {
    format!(
        r#"mutation {{ createPlan(input: {{ userId: {user}, name: "{name}", connectionType: HOTSPOT, priceCents: 1000, durationMinutes: 60 }}) {{ id }} }}"#
    )
}

pub fn delete_mutation(id: &str) -> String {
    format!(r#"mutation {{ deletePlan(id: "{id}") }}"#)
}

/// Part 1: hot-only on A, without and with a token from a write on A (current by the time the
/// reads start), interleaved; every response compared byte for byte with the expected one.
async fn hot_reads(
    args: &RunArgs,
    connections: usize,
    a: &Server,
    zipf: &Arc<Zipf>,
) -> io::Result<HotFigures> {
    let mut connection = Connection::open(a.addr).await?;
    let mut scratch = Vec::new();
    // A plan for the coldest operator: the token's write changes no hot list.
    let (_, token) = mutate(
        &mut connection,
        a.addr,
        &create_mutation(args.users, "lb-token"),
        &mut scratch,
    )
    .await?;
    let plain = Arc::new(Requests::new(args.users, None, None));
    let expected = Arc::new(data::fetch_all(a.addr, &plain).await?);
    let tokened = Arc::new(
        Requests::new(args.users, None, None)
            .with_headers(&format!("Plans-Consistency: {token}\r\n")),
    );
    let load = |requests: &Arc<Requests>| {
        Arc::new(Load {
            addr: a.addr,
            requests: requests.clone(),
            expected: expected.clone(),
            mix: Mix::HotOnly,
            zipf: zipf.clone(),
        })
    };
    let loads = [load(&plain), load(&tokened)];
    let before = metrics(a.addr).await?;
    for load in &loads {
        client::run(load.clone(), connections, Duration::from_secs(1), 0).await;
        a.wait_idle(Duration::from_secs(20)).await;
    }
    let seconds = Duration::from_secs(args.seconds);
    let mut figures = HotFigures {
        connections,
        rounds: Vec::new(),
        latency: [new_histogram(), new_histogram()],
        errors: [0; 2],
        outcomes: [0.0; 3],
    };
    for round in 0..args.rounds.max(1) as usize {
        // Alternate which goes first, so neither always follows the other.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut rps = [0.0; 2];
        for arm in order {
            let seed = (round * 10 + arm + 1) as u64;
            let measured = client::run(loads[arm].clone(), connections, seconds, seed).await;
            rps[arm] = measured.requests as f64 / measured.elapsed.as_secs_f64();
            figures.errors[arm] += measured.errors;
            figures.latency[arm]
                .add(&measured.latency)
                .expect("histograms share bounds");
            a.wait_idle(Duration::from_secs(20)).await;
        }
        note(format!(
            "round {}/{}: without {:.0} req/s, with a token {:.0} req/s: {:.3}x",
            round + 1,
            args.rounds.max(1),
            rps[0],
            rps[1],
            rps[1] / rps[0]
        ));
        figures.rounds.push((rps[0], rps[1]));
    }
    figures.outcomes = outcomes_between(&before, &metrics(a.addr).await?);
    Ok(figures)
}

/// What a read on B must show for the write before it to count as seen.
enum Seen {
    /// A plan with this name (created or renamed).
    Named(String),
    /// No plan with this id (deleted).
    Gone(String),
}

impl Seen {
    fn holds(&self, answer: &Value) -> bool {
        let Some(plans) = answer["data"]["plans"].as_array() else {
            return false;
        };
        match self {
            Self::Named(name) => plans.iter().any(|plan| plan["name"] == name.as_str()),
            Self::Gone(id) => !plans.iter().any(|plan| plan["id"] == id.as_str()),
        }
    }
}

/// Part 2: `pairs` x 2 writes on A, one at a time, cycling create, rename, delete (each on the
/// plan the last create made); after each, at once, the operator's dashboard list on B, with the
/// write's token on every other pair. Over six pairs each arm sees each kind of write once.
async fn write_then_read(
    pairs: usize,
    a: &Server,
    b: &Server,
    requests: &Requests,
    zipf: &Zipf,
) -> io::Result<PairFigures> {
    let mut on_a = Connection::open(a.addr).await?;
    let mut on_b = Connection::open(b.addr).await?;
    let mut scratch = Vec::new();
    let mut rng = Rng::new(22);
    let mut figures = PairFigures {
        latency: [new_histogram(), new_histogram()],
        pairs: [[0; 3]; 2],
        missed: [[0; 3]; 2],
        outcomes: [0.0; 3],
    };
    let before = metrics(b.addr).await?;
    let mut plan: Option<(u32, String)> = None;
    for pair in 0..pairs * 2 {
        let arm = pair % 2;
        let marker = format!("lb22-{pair}");
        let (kind, user, query, seen) = match (pair % 3, plan.take()) {
            (1, Some((user, id))) => (
                1,
                user,
                format!(
                    r#"mutation {{ updatePlan(id: "{id}", input: {{ name: "{marker}" }}) {{ id }} }}"#
                ),
                Seen::Named(marker),
            ),
            (2, Some((user, id))) => (2, user, delete_mutation(&id), Seen::Gone(id)),
            _ => {
                let user = zipf.sample(rng.unit()) as u32 + 1;
                (0, user, create_mutation(user, &marker), Seen::Named(marker))
            }
        };
        let (answer, token) = mutate(&mut on_a, a.addr, &query, &mut scratch).await?;
        let answered = Instant::now();
        let read = &requests.bodies[requests.index(Shape::User(user))];
        let read = std::str::from_utf8(read).map_err(io::Error::other)?;
        let token = (arm == 0).then_some(token.as_str());
        let (status, list) = post(
            &mut on_b,
            b.addr,
            read,
            &headers(false, token),
            &mut scratch,
        )
        .await?;
        let micros = answered.elapsed().as_micros().max(1);
        if status != 200 || list.get("errors").is_some() {
            return Err(io::Error::other(format!("read refused ({status}): {list}")));
        }
        figures.latency[arm].saturating_record(u64::try_from(micros).unwrap_or(u64::MAX));
        figures.pairs[arm][kind] += 1;
        if !seen.holds(&list) {
            figures.missed[arm][kind] += 1;
        }
        plan = match kind {
            0 => answer["data"]["createPlan"]["id"]
                .as_str()
                .map(|id| (user, id.to_owned())),
            1 => answer["data"]["updatePlan"]["id"]
                .as_str()
                .map(|id| (user, id.to_owned())),
            _ => None,
        };
    }
    figures.outcomes = outcomes_between(&before, &metrics(b.addr).await?);
    Ok(figures)
}

/// How many requests with a token had each outcome between two scrapes of `/metrics`.
pub fn outcomes_between(before: &HashMap<String, f64>, after: &HashMap<String, f64>) -> [f64; 3] {
    OUTCOMES.map(|outcome| {
        let name = format!("plans_consistency_requests_total{{outcome=\"{outcome}\"}}");
        after.get(&name).copied().unwrap_or_default()
            - before.get(&name).copied().unwrap_or_default()
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

fn ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1_000.0
}

/// `n (x %)` for each outcome.
pub fn shares(outcomes: &[f64; 3]) -> [String; 3] {
    let total: f64 = outcomes.iter().sum();
    outcomes.map(|count| {
        if total > 0.0 {
            format!("{count:.0} ({:.2} %)", 100.0 * count / total)
        } else {
            "0".to_owned()
        }
    })
}

fn markdown(args: &RunArgs, options: &Options, figures: &Figures) -> String {
    let hot = &figures.hot;
    let mut ratios: Vec<f64> = hot
        .rounds
        .iter()
        .map(|(without, with)| with / without)
        .collect();
    let (low, high) = ratios.iter().fold((f64::MAX, f64::MIN), |(low, high), &r| {
        (low.min(r), high.max(r))
    });
    let ratio = median(&mut ratios);
    let mut out = format!(
        "## Consistency tokens: two replicas on one PostgreSQL schema, loopback\n\n\
Machine: {machine}; load average {end} at the end. Data: {users} operators x {per} plans \
(`plans-api seed-demo`), operators drawn from a Zipf law (s = {s}). Replicas A and B: plans-api \
cached (`PLAN_CACHE_TTL=3600`, `RUST_LOG=warn`), change feed on, `CONSISTENCY_WAIT_MS` at its \
default.\n\n\
### 1. Hot cached reads on A: with a current token / without\n\n\
Hot-only mix, {connections} keep-alive connections, {rounds} rounds x {seconds} s each way, \
interleaved (the order alternates each round); every response compared byte for byte. The token \
came from a write on A before the run.\n\n\
| round | without a token, req/s | with a current token, req/s | ratio |\n| ---: | ---: | ---: | ---: |\n",
        machine = figures.machine,
        end = figures.load_end,
        users = args.users,
        per = args.plans_per_user,
        s = args.zipf_s,
        connections = hot.connections,
        rounds = hot.rounds.len(),
        seconds = args.seconds,
    );
    for (round, (without, with)) in hot.rounds.iter().enumerate() {
        out.push_str(&format!(
            "| {} | {without:.0} | {with:.0} | {:.3} |\n",
            round + 1,
            with / without
        ));
    }
    let [current, waited, database] = shares(&hot.outcomes);
    out.push_str(&format!(
        "\n| figure | value | target | |\n| --- | --- | --- | --- |\n\
| median of the per-round ratios (range) | **{ratio:.3}x** ({low:.3} to {high:.3}) | >= 0.95x | {verdict} |\n\
| p50 / p99 without a token | {p50a:.3} / {p99a:.3} ms | | |\n\
| p50 / p99 with a current token | {p50b:.3} / {p99b:.3} ms | | |\n\
| errors without / with | {ea} / {eb} | 0 | |\n\
| A's outcomes for the token's requests: current / waited / database | {current} / {waited} / {database} | | |\n",
        verdict = if ratio >= 0.95 { "met" } else { "**missed**" },
        p50a = ms(&hot.latency[0], 0.5),
        p99a = ms(&hot.latency[0], 0.99),
        p50b = ms(&hot.latency[1], 0.5),
        p99b = ms(&hot.latency[1], 0.99),
        ea = hot.errors[0],
        eb = hot.errors[1],
    ));

    let pairs = &figures.pairs;
    out.push_str(&format!(
        "\n### 2. Write on A, then at once a read on B\n\n\
{total} writes on A, one at a time, cycling create, rename and delete of a plan of a \
Zipf-drawn operator; as soon as each has answered, that operator's dashboard list \
(`plans(userId)`, cached on B beforehand) on B, alternately with the write's token and without \
it. Latency: from the mutation's answer to the read's answer (loopback). A read *missed the \
write* when the list lacks the new name, or still holds the deleted plan.\n\n\
| read on B | pairs | p50 ms | p99 ms | max ms | missed the write (create / rename / delete) |\n\
| --- | ---: | ---: | ---: | ---: | --- |\n",
        total = options.pairs * 2,
    ));
    for (arm, label) in ["with the token", "without a token"].iter().enumerate() {
        let missed: u64 = pairs.missed[arm].iter().sum();
        let count: u64 = pairs.pairs[arm].iter().sum();
        out.push_str(&format!(
            "| {label} | {count} | {:.3} | {:.3} | {:.3} | **{missed}** ({:.2} %; {}) |\n",
            ms(&pairs.latency[arm], 0.5),
            ms(&pairs.latency[arm], 0.99),
            pairs.latency[arm].max() as f64 / 1_000.0,
            100.0 * missed as f64 / count.max(1) as f64,
            (0..3)
                .map(|kind| format!(
                    "{} of {} {}",
                    pairs.missed[arm][kind], pairs.pairs[arm][kind], KINDS[kind]
                ))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    let [current, waited, database] = shares(&pairs.outcomes);
    out.push_str(&format!(
        "\nB's outcomes for the reads with the token: current {current}, waited {waited}, database {database}.\n"
    ));
    out.push_str(&consistency_mix::markdown(&figures.mix, &options.mix));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_middle_pair_s_mean() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn outcomes_are_read_from_the_labelled_counters() {
        let sample = |current, database| {
            HashMap::from([
                (
                    "plans_consistency_requests_total{outcome=\"current\"}".to_owned(),
                    current,
                ),
                (
                    "plans_consistency_requests_total{outcome=\"database\"}".to_owned(),
                    database,
                ),
            ])
        };
        assert_eq!(
            outcomes_between(&sample(5.0, 1.0), &sample(12.0, 4.0)),
            [7.0, 0.0, 3.0]
        );
        assert_eq!(shares(&[3.0, 0.0, 1.0])[0], "3 (75.00 %)");
    }

    #[test]
    fn a_read_sees_a_write_by_its_name_or_by_the_deleted_id_s_absence() {
        let list = serde_json::json!({ "data": { "plans": [{ "id": "7", "name": "lb22-1" }] } });
        assert!(Seen::Named("lb22-1".to_owned()).holds(&list));
        assert!(!Seen::Named("lb22-2".to_owned()).holds(&list));
        assert!(Seen::Gone("8".to_owned()).holds(&list));
        assert!(!Seen::Gone("7".to_owned()).holds(&list));
        assert!(!Seen::Gone("8".to_owned()).holds(&serde_json::json!({ "errors": [] })));
    }

    #[test]
    fn a_request_carries_the_credential_only_to_write_and_the_token_when_there_is_one() {
        assert_eq!(headers(false, None), "");
        assert_eq!(
            headers(true, Some("1.a.b.c")),
            format!("Authorization: Bearer {ADMIN_TOKEN}\r\nPlans-Consistency: 1.a.b.c\r\n")
        );
    }
}
