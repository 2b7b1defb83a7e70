//! The measurement: a warm-up, then interleaved rounds in which every target is measured with
//! every mix, each cell with its own closed-loop load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::client::{self, Load};
use crate::note;
use crate::report::Cell;
use crate::servers::Server;
use crate::workload::{Mix, Requests, Zipf};

/// One server under test and the expected responses it must give.
pub struct Target {
    pub server: Server,
    pub label: &'static str,
    pub expected: Arc<Vec<Bytes>>,
}

/// What every cell of a run shares.
pub struct Plan {
    pub rounds: u32,
    pub seconds: u64,
    pub connections: usize,
    pub requests: Arc<Requests>,
    pub zipf: Arc<Zipf>,
}

impl Plan {
    fn load(&self, target: &Target, mix: Mix) -> Arc<Load> {
        Arc::new(Load {
            addr: target.server.addr,
            requests: self.requests.clone(),
            expected: target.expected.clone(),
            mix,
            zipf: self.zipf.clone(),
        })
    }
}

/// Warms every target up, then measures every (target, mix) cell once per round, rotating the
/// order of the targets from round to round. Returns the cells and how long the rounds took
/// (peak RSS not yet filled in).
pub async fn measure(plan: &Plan, targets: &[Target]) -> (Vec<Cell>, Duration) {
    let mixes = [Mix::HotOnly, Mix::Realistic];
    let mut cells: Vec<Cell> = targets
        .iter()
        .flat_map(|target| {
            mixes
                .iter()
                .map(|&mix| Cell::new(target.server.name, target.label, mix))
        })
        .collect();

    note("warming up every server (1 s each, not counted)");
    for target in targets {
        client::run(
            plan.load(target, Mix::Realistic),
            plan.connections,
            Duration::from_secs(1),
            0,
        )
        .await;
        target.server.wait_idle(Duration::from_secs(20)).await;
    }
    let started = Instant::now();
    let duration = Duration::from_secs(plan.seconds);
    for round in 0..plan.rounds as usize {
        // Rotate the order each round, so no server always follows the same neighbour.
        let order: Vec<usize> = (0..targets.len())
            .map(|i| (i + round) % targets.len())
            .collect();
        for index in order {
            let target = &targets[index];
            for (m, &mix) in mixes.iter().enumerate() {
                let seed = (round * 100 + index * 10 + m + 1) as u64;
                let measured =
                    client::run(plan.load(target, mix), plan.connections, duration, seed).await;
                note(format!(
                    "round {}/{}: {:<24} {:<9} {:>9.0} req/s  p99 {:>8.2} ms  errors {}",
                    round + 1,
                    plan.rounds,
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
    (cells, started.elapsed())
}
