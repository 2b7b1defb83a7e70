//! Server processes under test: start, wait for readiness, read their memory and CPU use from
//! `/proc`, stop.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::client::Connection;

/// A server process, killed when dropped.
pub struct Server {
    pub name: &'static str,
    pub addr: SocketAddr,
    child: Child,
}

/// A free loopback port (bound, read, released; another process could take it in between, which
/// start-up would then report).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    /// Starts `program args...` with `envs`, listening on `port`; its output goes to `log`.
    pub fn spawn(
        name: &'static str,
        program: &Path,
        args: &[&str],
        envs: &[(&str, String)],
        port: u16,
        log: &Path,
    ) -> io::Result<Self> {
        let log = std::fs::File::create(log)?;
        let mut command = Command::new(program);
        // An empty value means unset (e.g. `RUST_LOG`, for the server's default).
        for (name, value) in envs {
            if value.is_empty() {
                command.env_remove(name);
            } else {
                command.env(name, value);
            }
        }
        let child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        Ok(Self {
            name,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `GET /health/ready` answers 200.
    pub async fn wait_ready(&mut self, timeout: Duration) -> io::Result<()> {
        let request = format!("GET /health/ready HTTP/1.1\r\nHost: {}\r\n\r\n", self.addr);
        let until = Instant::now() + timeout;
        let mut body = Vec::new();
        while Instant::now() < until {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!("{} exited: {status}", self.name)));
            }
            if let Ok(mut connection) = Connection::open(self.addr).await
                && let Ok(200) = connection.round_trip(request.as_bytes(), &mut body).await
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{} was not ready within {timeout:?}", self.name),
        ))
    }

    /// Peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status.lines().find_map(|line| {
            line.strip_prefix("VmHWM:")?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        })
    }

    /// CPU time used so far (user + system), in clock ticks.
    pub fn cpu_ticks(&self) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let user: u64 = fields.get(11)?.parse().ok()?;
        let system: u64 = fields.get(12)?.parse().ok()?;
        Some(user + system)
    }

    /// Waits until the process is (nearly) idle, so work abandoned by the last cell does not
    /// bleed into the next one's measurement.
    pub async fn wait_idle(&self, max: Duration) {
        let until = Instant::now() + max;
        let mut last = self.cpu_ticks();
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = self.cpu_ticks();
            // At most one tick (10 ms) in 200 ms: idle.
            if let (Some(before), Some(after)) = (last, now)
                && after.saturating_sub(before) <= 1
            {
                return;
            }
            last = now;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
