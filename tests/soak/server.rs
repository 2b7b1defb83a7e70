//! The server under test: the real plans-api binary as a separate process on a temporary SQLite
//! file and a free loopback port.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Args;
use crate::client::TOKEN;

/// The server process; killed when dropped, so a failing soak leaves nothing running.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn start(args: &Args) -> Result<Self, String> {
        let binary = args
            .server
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_plans-api")));
        let dir = tempfile::tempdir().map_err(|err| format!("temp dir: {err}"))?;
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log).map_err(|err| format!("log file: {err}"))?;
        let addr = free_port()?;
        let child = Command::new(&binary)
            .env(
                "DATABASE_URL",
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("plans.db").display()
                ),
            )
            .env("BIND_ADDR", addr.to_string())
            .env("ADMIN_TOKEN", TOKEN)
            .env("PLAN_CACHE_TTL", args.ttl.to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|err| err.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", binary.display()))?;
        Ok(Self {
            child,
            addr,
            log,
            _dir: dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Resident memory in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|err| err.to_string())?;
    listener.local_addr().map_err(|err| err.to_string())
}

pub async fn wait_ready(server: &mut Server, http: &reqwest::Client) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if !server.is_running() {
            return Err(format!(
                "server exited during start-up:\n{}",
                server.log_tail()
            ));
        }
        if let Ok(response) = http.get(server.url("/health/ready")).send().await
            && response.status() == reqwest::StatusCode::OK
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("server not ready within 60 s".to_owned())
}
