//! The measurement: a warm-up, then interleaved rounds in which every target is measured in each
//! of its cells (mix and connection count), each cell with its own closed-loop load.

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
    /// Measured at one connection too (the ceiling and the cached servers).
    pub single: bool,
}

/// What a run measures, and what every cell of it shares.
pub struct Plan {
    pub rounds: u32,
    pub seconds: u64,
    /// Connection counts, largest first.
    pub levels: Vec<usize>,
    /// Mixes measured at more than one connection.
    pub mixes: Vec<Mix>,
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

    /// The (mix, connections) cells of `target`, in the order they are measured: every mix at
    /// each count above 1, then hot-only at 1 connection.
    pub fn cells_of(&self, target: &Target) -> Vec<(Mix, usize)> {
        let mut cells = Vec::new();
        for &connections in &self.levels {
            if connections > 1 {
                cells.extend(self.mixes.iter().map(|&mix| (mix, connections)));
            } else if target.single {
                cells.push((Mix::HotOnly, 1));
            }
        }
        cells
    }
}

/// Warms every target up, then measures each of its cells once per round, rotating the order of
/// the targets from round to round. Returns the cells and how long the rounds took (peak RSS not
/// yet filled in).
pub async fn measure(plan: &Plan, targets: &[Target]) -> (Vec<Cell>, Duration) {
    let mut cells: Vec<Cell> = targets
        .iter()
        .flat_map(|target| {
            plan.cells_of(target).into_iter().map(|(mix, connections)| {
                Cell::new(target.server.name, target.label, mix, connections)
            })
        })
        .collect();

    note("warming up every server (1 s each, not counted)");
    let warm_up_mix = if plan.mixes.contains(&Mix::Realistic) {
        Mix::Realistic
    } else {
        Mix::HotOnly
    };
    for target in targets {
        client::run(
            plan.load(target, warm_up_mix),
            plan.levels[0],
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
            for (m, (mix, connections)) in plan.cells_of(target).into_iter().enumerate() {
                let seed = (round * 100 + index * 10 + m + 1) as u64;
                let measured =
                    client::run(plan.load(target, mix), connections, duration, seed).await;
                note(format!(
                    "round {}/{}: {:<24} {:<9} x{:<3} {:>9.0} req/s  p50 {:>7.3} ms  p99 {:>8.3} ms  errors {}",
                    round + 1,
                    plan.rounds,
                    target.server.name,
                    mix.label(),
                    connections,
                    measured.requests as f64 / measured.elapsed.as_secs_f64(),
                    measured.latency.value_at_quantile(0.50) as f64 / 1_000.0,
                    measured.latency.value_at_quantile(0.99) as f64 / 1_000.0,
                    measured.errors
                ));
                let cell = cells
                    .iter_mut()
                    .find(|cell| {
                        cell.server == target.server.name
                            && cell.mix == mix
                            && cell.connections == connections
                    })
                    .expect("a cell per target, mix and connection count");
                cell.add(&measured);
                target.server.wait_idle(Duration::from_secs(20)).await;
            }
        }
    }
    (cells, started.elapsed())
}
