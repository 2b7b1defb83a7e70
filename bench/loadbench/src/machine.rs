//! What the run ran on, for the report.

/// Cores, CPU model, memory and load average, in one sentence.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
        })
        .map_or_else(String::new, |kib| {
            format!(", {:.0} GiB RAM", kib / 1024.0 / 1024.0)
        });
    let load = load_average();
    format!(
        "{} cores ({cpu}){memory}, Linux; load average {load} at the start (the cores are shared)",
        std::thread::available_parallelism().map_or(0, usize::from),
    )
}

/// The one-minute load average now.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|avg| avg.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// Cores and network, for the chart's title.
pub fn machine_short() -> String {
    format!(
        "{} cores, loopback",
        std::thread::available_parallelism().map_or(0, usize::from)
    )
}
