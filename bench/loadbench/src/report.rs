//! Results: Markdown tables (throughput at many connections, latency at one) with every figure
//! as a ratio to the ceiling, the targets of the issues checked, and an SVG chart.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use crate::client::{Measured, new_histogram};
use crate::workload::Mix;

/// All rounds of one (server, mix, connection count) cell.
pub struct Cell {
    pub server: &'static str,
    pub label: &'static str,
    pub mix: Mix,
    pub connections: usize,
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    /// Requests/s of each round.
    pub rounds: Vec<f64>,
    /// p50 latency of each round, in ms.
    pub round_p50_ms: Vec<f64>,
    pub latency: Histogram<u64>,
    pub peak_rss_kib: Option<u64>,
}

impl Cell {
    pub fn new(server: &'static str, label: &'static str, mix: Mix, connections: usize) -> Self {
        Self {
            server,
            label,
            mix,
            connections,
            requests: 0,
            errors: 0,
            seconds: 0.0,
            rounds: Vec::new(),
            round_p50_ms: Vec::new(),
            latency: new_histogram(),
            peak_rss_kib: None,
        }
    }

    pub fn add(&mut self, round: &Measured) {
        let seconds = round.elapsed.as_secs_f64();
        self.requests += round.requests;
        self.errors += round.errors;
        self.seconds += seconds;
        self.rounds.push(round.requests as f64 / seconds);
        self.round_p50_ms
            .push(round.latency.value_at_quantile(0.50) as f64 / 1_000.0);
        self.latency
            .add(&round.latency)
            .expect("histograms share bounds");
    }

    pub fn rps(&self) -> f64 {
        if self.seconds > 0.0 {
            self.requests as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub fn p50_ms(&self) -> f64 {
        self.latency.value_at_quantile(0.50) as f64 / 1_000.0
    }

    pub fn p99_ms(&self) -> f64 {
        self.latency.value_at_quantile(0.99) as f64 / 1_000.0
    }
}

pub const CEILING: &str = "ceiling";

fn ceiling(cells: &[Cell], mix: Mix, connections: usize) -> Option<&Cell> {
    find(cells, CEILING, mix, connections)
}

fn find<'a>(cells: &'a [Cell], server: &str, mix: Mix, connections: usize) -> Option<&'a Cell> {
    cells
        .iter()
        .find(|cell| cell.server == server && cell.mix == mix && cell.connections == connections)
}

fn ratio(value: f64, reference: f64) -> String {
    if reference > 0.0 {
        format!("{:.2}", value / reference)
    } else {
        "-".to_owned()
    }
}

fn thousands(value: f64) -> String {
    if value >= 1_000.0 {
        format!("{:.1}k", value / 1_000.0)
    } else {
        format!("{value:.0}")
    }
}

/// The throughput table at `connections` (Markdown).
pub fn table(cells: &[Cell], connections: usize) -> String {
    let mut out = String::new();
    out.push_str("| server | mix | req/s | × ceiling | req/s by round | p50 ms | p99 ms | p99 × ceiling | errors | peak RSS MiB |\n");
    out.push_str("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n");
    for mix in Mix::ALL {
        let Some(top) = ceiling(cells, mix, connections) else {
            continue;
        };
        for cell in cells
            .iter()
            .filter(|cell| cell.mix == mix && cell.connections == connections)
        {
            let rounds: Vec<String> = cell.rounds.iter().map(|rps| thousands(*rps)).collect();
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {} | {} | {:.2} | {:.2} | {} | {} | {} |",
                cell.label,
                mix.label(),
                cell.rps(),
                ratio(cell.rps(), top.rps()),
                rounds.join(" / "),
                cell.p50_ms(),
                cell.p99_ms(),
                ratio(cell.p99_ms(), top.p99_ms()),
                cell.errors,
                cell.peak_rss_kib
                    .map_or("-".to_owned(), |kib| format!("{:.1}", kib as f64 / 1024.0)),
            );
        }
    }
    out
}

/// The latency table at one connection (Markdown): p50 and p99, each also as a ratio to the
/// ceiling's.
pub fn latency_table(cells: &[Cell]) -> String {
    let mut out = String::new();
    out.push_str("| server | mix | p50 ms | p50 × ceiling | p50 ms by round | p99 ms | p99 × ceiling | req/s | errors |\n");
    out.push_str("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n");
    let Some(top) = ceiling(cells, Mix::HotOnly, 1) else {
        return out;
    };
    for cell in cells.iter().filter(|cell| cell.connections == 1) {
        let rounds: Vec<String> = cell
            .round_p50_ms
            .iter()
            .map(|ms| format!("{ms:.3}"))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} | {} | {} | {:.3} | {} | {:.0} | {} |",
            cell.label,
            cell.mix.label(),
            cell.p50_ms(),
            ratio(cell.p50_ms(), top.p50_ms()),
            rounds.join(" / "),
            cell.p99_ms(),
            ratio(cell.p99_ms(), top.p99_ms()),
            cell.rps(),
            cell.errors,
        );
    }
    out
}

/// The issues' targets, each with the measured figure and whether it was met; throughput targets
/// at `connections`. Targets the run did not measure are listed as such when `unmeasured`.
pub fn targets(cells: &[Cell], connections: usize, unmeasured: bool) -> String {
    let mut out = String::new();
    let mut check = |name: &str, measured: Option<f64>, goal: &str, met: fn(f64) -> bool| {
        let _ = match measured {
            Some(value) => writeln!(
                out,
                "| {name} | {value:.2} | {goal} | {} |",
                if met(value) { "met" } else { "MISSED" }
            ),
            None if unmeasured => writeln!(out, "| {name} | not measured | {goal} | - |"),
            None => Ok(()),
        };
    };
    let rps_ratio = |server: &str, mix: Mix| {
        Some(find(cells, server, mix, connections)?.rps() / ceiling(cells, mix, connections)?.rps())
    };
    let p99_ratio = |server: &str, mix: Mix| {
        Some(
            find(cells, server, mix, connections)?.p99_ms()
                / ceiling(cells, mix, connections)?.p99_ms(),
        )
    };
    let single_p50_ratio = |server: &str| {
        Some(
            find(cells, server, Mix::HotOnly, 1)?.p50_ms()
                / ceiling(cells, Mix::HotOnly, 1)?.p50_ms(),
        )
    };
    check(
        "hot-only, cached (SQLite): throughput × ceiling",
        rps_ratio("sqlite-cached", Mix::HotOnly),
        ">= 0.85",
        |v| v >= 0.85,
    );
    check(
        "hot-only, cached (SQLite), traces exported (--traced, 1 % sampled): throughput × ceiling",
        rps_ratio("sqlite-traced", Mix::HotOnly),
        ">= 0.70",
        |v| v >= 0.7,
    );
    let default_log = || {
        Some(
            find(cells, "sqlite-default-log", Mix::HotOnly, connections)?.rps()
                / find(cells, "sqlite-cached", Mix::HotOnly, connections)?.rps(),
        )
    };
    check(
        "hot-only, cached (SQLite), default logging (RUST_LOG unset): throughput × the same with RUST_LOG=warn",
        default_log(),
        ">= 0.95",
        |v| v >= 0.95,
    );
    check(
        "1 connection, hot-only, cached (SQLite): p50 × ceiling's p50",
        single_p50_ratio("sqlite-cached"),
        "<= 1.25",
        |v| v <= 1.25,
    );
    check(
        "hot-only, cached (SQLite): p99 × ceiling's p99",
        p99_ratio("sqlite-cached", Mix::HotOnly),
        "<= 2.00",
        |v| v <= 2.0,
    );
    check(
        "realistic, cached (SQLite): throughput × ceiling",
        rps_ratio("sqlite-cached", Mix::Realistic),
        ">= 0.50",
        |v| v >= 0.5,
    );
    check(
        "realistic, cached (PostgreSQL): throughput × ceiling",
        rps_ratio("pg-cached", Mix::Realistic),
        ">= 0.50",
        |v| v >= 0.5,
    );
    check(
        "paging, cached (SQLite): throughput × ceiling",
        rps_ratio("sqlite-cached", Mix::Paging),
        ">= 0.70",
        |v| v >= 0.7,
    );
    let pg_speedup = find(cells, "pg-cached", Mix::Realistic, connections)
        .zip(find(cells, "pg-uncached", Mix::Realistic, connections))
        .map(|(cached, uncached)| cached.rps() / uncached.rps().max(f64::MIN_POSITIVE));
    check(
        "realistic, PostgreSQL: cached × uncached throughput",
        pg_speedup,
        ">= 10",
        |v| v >= 10.0,
    );
    let rss = find(cells, "sqlite-cached", Mix::Realistic, connections)
        .and_then(|cell| cell.peak_rss_kib)
        .map(|kib| kib as f64 / 1024.0);
    check(
        "peak RSS, cached (SQLite), 20,000 plans fully cached: MiB",
        rss,
        "<= 64",
        |v| v <= 64.0,
    );
    format!("| target | measured | goal | |\n| --- | ---: | --- | --- |\n{out}")
}

/// A horizontal bar chart of throughput at `connections` as a ratio to the ceiling, one group
/// per mix.
pub fn chart(cells: &[Cell], connections: usize, title: &str) -> String {
    const WIDTH: f64 = 1000.0;
    const LABEL: f64 = 360.0;
    const BAR: f64 = 22.0;
    const GAP: f64 = 6.0;
    // Room on the right for the value labels.
    const PLOT: f64 = WIDTH - LABEL - 170.0;
    let cells: Vec<&Cell> = cells
        .iter()
        .filter(|cell| cell.connections == connections)
        .collect();
    let mixes: Vec<Mix> = Mix::ALL
        .into_iter()
        .filter(|&mix| cells.iter().any(|cell| cell.mix == mix))
        .collect();
    let rows: Vec<(&Cell, f64)> = mixes
        .iter()
        .flat_map(|&mix| {
            let top = cells
                .iter()
                .find(|cell| cell.server == CEILING && cell.mix == mix)
                .map_or(0.0, |cell| cell.rps());
            cells
                .iter()
                .copied()
                .filter(move |cell| cell.mix == mix)
                .map(move |cell| (cell, if top > 0.0 { cell.rps() / top } else { 0.0 }))
        })
        .collect();
    let max = rows.iter().map(|(_, ratio)| *ratio).fold(1.0_f64, f64::max);
    let group_header = 30.0;
    let height = 70.0 + mixes.len() as f64 * group_header + rows.len() as f64 * (BAR + GAP) + 40.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/><text x="16" y="28" font-size="17" font-weight="bold">{}</text>"##,
        escape(title)
    );
    let x0 = LABEL;
    let mut y = 56.0;
    // The ceiling line (ratio 1.0) across the plot.
    let ceiling_x = x0 + PLOT / max;
    for &mix in &mixes {
        let _ = writeln!(
            svg,
            r#"<text x="16" y="{}" font-weight="bold">{} mix</text>"#,
            y + 18.0,
            mix.label()
        );
        y += group_header;
        for (cell, value) in rows.iter().filter(|(cell, _)| cell.mix == mix) {
            let width = (PLOT * value / max).max(1.0);
            let color = match cell.server {
                CEILING => "#7f7f7f",
                server if server.ends_with("uncached") => "#d62728",
                server if server.contains("plan-cache-only") => "#ff7f0e",
                _ => "#1f77b4",
            };
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text><rect x="{x0}" y="{y}" width="{width:.1}" height="{BAR}" fill="{color}"/><text x="{:.1}" y="{}">{value:.2} ({} req/s)</text>"#,
                x0 - 8.0,
                y + BAR * 0.7,
                escape(cell.label),
                x0 + width + 6.0,
                y + BAR * 0.7,
                thousands(cell.rps())
            );
            y += BAR + GAP;
        }
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{ceiling_x:.1}" y1="44" x2="{ceiling_x:.1}" y2="{y}" stroke="#444" stroke-dasharray="4 3"/><text x="{ceiling_x:.1}" y="{}" text-anchor="middle">ceiling = 1.0</text>"##,
        y + 18.0
    );
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
