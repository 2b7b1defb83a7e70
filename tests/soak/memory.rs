//! Memory: RSS samples and whether they level off (see the doc of `main.rs`).

use std::time::Duration;

pub struct Sample {
    pub at: Duration,
    pub rss_kib: u64,
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The leveling-off criterion (see the doc of `main.rs`). Returns (passed, explanation).
pub fn leveled_off(samples: &[Sample], max_growth_percent: f64) -> (bool, String) {
    if samples.len() < 6 {
        return (
            false,
            format!("only {} RSS samples; need at least 6", samples.len()),
        );
    }
    let third = samples.len() / 3;
    let peak = |part: &[Sample]| part.iter().map(|sample| sample.rss_kib).max().unwrap_or(0);
    let (first, middle, last) = (
        peak(&samples[..third]),
        peak(&samples[third..2 * third]),
        peak(&samples[2 * third..]),
    );
    let growth = (last as f64 - middle as f64) / middle.max(1) as f64 * 100.0;
    let passed = growth <= max_growth_percent;
    (
        passed,
        format!(
            "peak RSS by third: {:.1} / {:.1} / {:.1} MiB; last vs middle {growth:+.1} % (limit +{max_growth_percent} %)",
            mib(first),
            mib(middle),
            mib(last)
        ),
    )
}
