//! Part 3 of `loadbench consistency`: the realistic mix with writes across two replicas. Each
//! client sends one request at a time, alternately to A and to B (round robin, as the deploy
//! kit's nginx spreads requests), keep-alive to both. A share of its requests are writes: it
//! creates a plan for a Zipf-drawn operator, and its next write deletes it, so the data set stays
//! the same size. Like the TypeScript client, it remembers the newest token it has received and
//! sends it with every later request (the run is shorter than `CONSISTENCY_COOKIE_SECONDS`). The
//! figure is how often each outcome occurs, read from both replicas' `/metrics`.
//!
//! The data change under the reads, so a response is checked for status 200 and no GraphQL
//! errors, not against fixed bytes (whether a read includes the writes is the correctness
//! tests' business, `tests/api/consistency.rs`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::Connection;
use crate::consistency::{
    OUTCOMES, create_mutation, delete_mutation, headers, outcomes_between, shares, token_of,
};
use crate::servers::Server;
use crate::subscribers::metrics;
use crate::workload::{Mix, Requests, Rng, Zipf};

/// The knobs of part 3.
pub struct MixOptions {
    pub clients: usize,
    /// Share of requests that are writes, in percent.
    pub write_percent: f64,
    pub seconds: u64,
}

/// What part 3 measured.
pub struct MixFigures {
    elapsed: Duration,
    requests: u64,
    /// Requests sent with a token.
    with_token: u64,
    writes: u64,
    errors: u64,
    /// Each replica's outcomes (A, B).
    outcomes: [[f64; 3]; 2],
}

/// What one client counted.
#[derive(Default)]
struct Counts {
    requests: u64,
    with_token: u64,
    writes: u64,
    errors: u64,
}

pub async fn run(
    replicas: [&Server; 2],
    options: &MixOptions,
    requests: &Arc<Requests>,
    zipf: &Arc<Zipf>,
) -> io::Result<MixFigures> {
    let addrs = replicas.map(|replica| replica.addr);
    let before = [metrics(addrs[0]).await?, metrics(addrs[1]).await?];
    let started = Instant::now();
    let deadline = tokio::time::Instant::from_std(started + Duration::from_secs(options.seconds));
    let tasks: Vec<_> = (0..options.clients)
        .map(|index| {
            let (requests, zipf) = (requests.clone(), zipf.clone());
            let write_percent = options.write_percent;
            tokio::spawn(async move {
                client(index, addrs, deadline, write_percent, &requests, &zipf).await
            })
        })
        .collect();
    let mut total = Counts::default();
    for task in tasks {
        let counts = task.await.map_err(io::Error::other)?;
        total.requests += counts.requests;
        total.with_token += counts.with_token;
        total.writes += counts.writes;
        total.errors += counts.errors;
    }
    let elapsed = started.elapsed();
    let after = [metrics(addrs[0]).await?, metrics(addrs[1]).await?];
    Ok(MixFigures {
        elapsed,
        requests: total.requests,
        with_token: total.with_token,
        writes: total.writes,
        errors: total.errors,
        outcomes: [
            outcomes_between(&before[0], &after[0]),
            outcomes_between(&before[1], &after[1]),
        ],
    })
}

/// One client until `deadline`; its first request goes to replica `index % 2`.
async fn client(
    index: usize,
    addrs: [SocketAddr; 2],
    deadline: tokio::time::Instant,
    write_percent: f64,
    requests: &Requests,
    zipf: &Zipf,
) -> Counts {
    let mut rng = Rng::new(7_000 + index as u64);
    let mut connections: [Option<Connection>; 2] = [None, None];
    let mut next = index % 2;
    let mut token: Option<String> = None;
    // The plan this client created last, which its next write deletes.
    let mut created: Option<String> = None;
    let mut counts = Counts::default();
    let mut scratch = Vec::new();
    while tokio::time::Instant::now() < deadline {
        let replica = next;
        next ^= 1;
        let write = rng.unit() * 100.0 < write_percent;
        let body = if write {
            let query = match &created {
                Some(id) => delete_mutation(id),
                None => create_mutation(
                    zipf.sample(rng.unit()) as u32 + 1,
                    &format!("lb22-mix-{index}"),
                ),
            };
            serde_json::json!({ "query": query }).to_string()
        } else {
            let shape = Mix::Realistic.pick(zipf, 0, &mut rng);
            String::from_utf8_lossy(&requests.bodies[requests.index(shape)]).into_owned()
        };
        let connection = match connections[replica].as_mut() {
            Some(connection) => connection,
            None => match tokio::time::timeout_at(deadline, Connection::open(addrs[replica])).await
            {
                Ok(Ok(connection)) => connections[replica].insert(connection),
                Ok(Err(_)) => {
                    counts.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                Err(_) => break,
            },
        };
        let http = format!(
            "POST /graphql HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n{}Content-Length: {}\r\n\r\n{body}",
            addrs[replica],
            headers(write, token.as_deref()),
            body.len()
        );
        let answered = tokio::time::timeout_at(
            deadline,
            connection.round_trip(http.as_bytes(), &mut scratch),
        )
        .await;
        let status = match answered {
            Err(_) => break,
            Ok(Err(_)) => {
                counts.requests += 1;
                counts.errors += 1;
                connections[replica] = None;
                continue;
            }
            Ok(Ok(status)) => status,
        };
        counts.requests += 1;
        counts.with_token += u64::from(token.is_some());
        let failed = status != 200
            || !scratch.starts_with(b"{\"data\":")
            || scratch.windows(9).any(|window| window == b"\"errors\":");
        if failed {
            counts.errors += 1;
            continue;
        }
        if write {
            counts.writes += 1;
            let Ok(answer) = serde_json::from_slice::<serde_json::Value>(&scratch) else {
                counts.errors += 1;
                continue;
            };
            token = token_of(&answer).or(token);
            created = answer["data"]["createPlan"]["id"]
                .as_str()
                .map(str::to_owned);
        }
    }
    counts
}

pub fn markdown(figures: &MixFigures, options: &MixOptions) -> String {
    let seconds = figures.elapsed.as_secs_f64();
    let both: [f64; 3] = std::array::from_fn(|i| figures.outcomes[0][i] + figures.outcomes[1][i]);
    let mut out = format!(
        "\n### 3. The realistic mix with writes, across two replicas\n\n\
{clients} clients for {seconds:.0} s, one request at a time each, alternately to A and B (round \
robin); {write}% of requests are writes (create a plan for a Zipf-drawn operator, the next write \
deletes it), the rest the realistic mix (90% `plans(userId, connectionType: HOTSPOT)`, 9% \
`plans(userId)`, 1% `plans`). Each client sends the newest token it has received with every \
later request, as the TypeScript client does. {requests} requests ({rps:.0} req/s), {writes} \
writes ({wps:.0}/s), {with_token} requests with a token, {errors} errors.\n\n\
| replica | requests with a token | {c} | {w} | {d} |\n| --- | ---: | ---: | ---: | ---: |\n",
        clients = options.clients,
        write = options.write_percent,
        requests = figures.requests,
        rps = figures.requests as f64 / seconds,
        writes = figures.writes,
        wps = figures.writes as f64 / seconds,
        with_token = figures.with_token,
        errors = figures.errors,
        c = OUTCOMES[0],
        w = OUTCOMES[1],
        d = OUTCOMES[2],
    );
    for (label, outcomes) in [
        ("A", &figures.outcomes[0]),
        ("B", &figures.outcomes[1]),
        ("both", &both),
    ] {
        let [current, waited, database] = shares(outcomes);
        out.push_str(&format!(
            "| {label} | {:.0} | {current} | {waited} | {database} |\n",
            outcomes.iter().sum::<f64>()
        ));
    }
    out
}
