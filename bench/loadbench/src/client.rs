//! The load generator: many keep-alive HTTP/1.1 connections, each sending one request at a time
//! (closed loop, like wrk) for a fixed time. A deliberately small client over raw sockets, so its
//! own cost per request is close to wrk's and the server, not the client, is what is measured.
//! Every response is compared byte for byte with the expected one; any difference is an error.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::workload::{Mix, Requests, Rng, Zipf};

/// Largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// What one cell (one target, one mix, one round) measured.
pub struct Measured {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Latency of each completed request, in microseconds.
    pub latency: Histogram<u64>,
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// One keep-alive connection.
pub struct Connection {
    stream: TcpStream,
    head: Vec<u8>,
    scratch: Box<[u8]>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            head: Vec::with_capacity(1024),
            scratch: vec![0; 64 * 1024].into_boxed_slice(),
        })
    }

    /// Sends `request` and reads the whole response into `body`; returns the status code.
    pub async fn round_trip(&mut self, request: &[u8], body: &mut Vec<u8>) -> io::Result<u16> {
        self.stream.write_all(request).await?;
        self.head.clear();
        let head_end = loop {
            let read = self.stream.read(&mut self.scratch).await?;
            if read == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.head.extend_from_slice(&self.scratch[..read]);
            if let Some(at) = find(&self.head, b"\r\n\r\n") {
                break at + 4;
            }
            if self.head.len() > MAX_HEAD {
                return Err(invalid("response head too long"));
            }
        };
        let head = &self.head[..head_end];
        let status = head
            .get(9..12)
            .and_then(|code| std::str::from_utf8(code).ok())
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid("no status code"))?;
        let length = content_length(head).ok_or_else(|| invalid("no content-length"))?;
        let already = self.head.len() - head_end;
        if already > length {
            return Err(invalid("more bytes than content-length"));
        }
        body.clear();
        body.resize(length, 0);
        body[..already].copy_from_slice(&self.head[head_end..]);
        self.stream.read_exact(&mut body[already..]).await?;
        Ok(status)
    }
}

fn invalid(message: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|&byte| byte == b'\n').find_map(|line| {
        let line = std::str::from_utf8(line).ok()?.trim_end();
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

/// What every connection of a cell shares.
pub struct Load {
    pub addr: SocketAddr,
    pub requests: Arc<Requests>,
    /// The expected response body of each request.
    pub expected: Arc<Vec<Bytes>>,
    pub mix: Mix,
    pub zipf: Arc<Zipf>,
}

/// Runs `connections` closed-loop connections for `duration`. Requests still in flight at the end
/// are abandoned and not counted.
pub async fn run(load: Arc<Load>, connections: usize, duration: Duration, seed: u64) -> Measured {
    let start = Instant::now();
    let deadline = tokio::time::Instant::from_std(start + duration);
    let tasks: Vec<_> = (0..connections)
        .map(|index| {
            let load = load.clone();
            tokio::spawn(connection_loop(load, deadline, seed * 1_000 + index as u64))
        })
        .collect();
    let mut measured = Measured {
        requests: 0,
        errors: 0,
        elapsed: duration,
        latency: new_histogram(),
    };
    for task in tasks {
        if let Ok((requests, errors, latency)) = task.await {
            measured.requests += requests;
            measured.errors += errors;
            measured
                .latency
                .add(&latency)
                .expect("histograms share bounds");
        }
    }
    measured
}

async fn connection_loop(
    load: Arc<Load>,
    deadline: tokio::time::Instant,
    seed: u64,
) -> (u64, u64, Histogram<u64>) {
    let mut rng = Rng::new(seed);
    let mut latency = new_histogram();
    let (mut requests, mut errors) = (0, 0);
    let mut body = Vec::new();
    let mut connection: Option<Connection> = None;
    while tokio::time::Instant::now() < deadline {
        let index = load
            .requests
            .index(load.mix.pick(&load.zipf, load.requests.pages, &mut rng));
        let conn = match connection.as_mut() {
            Some(conn) => conn,
            None => match tokio::time::timeout_at(deadline, Connection::open(load.addr)).await {
                Ok(Ok(conn)) => connection.insert(conn),
                Ok(Err(_)) => {
                    errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                Err(_) => break,
            },
        };
        let started = Instant::now();
        match tokio::time::timeout_at(
            deadline,
            conn.round_trip(load.requests.http_for(load.mix, index), &mut body),
        )
        .await
        {
            Err(_) => break,
            Ok(Ok(status)) => {
                requests += 1;
                let micros = started.elapsed().as_micros().max(1);
                latency.saturating_record(u64::try_from(micros).unwrap_or(u64::MAX));
                if status != 200 || body != load.expected[index] {
                    errors += 1;
                }
            }
            Ok(Err(_)) => {
                requests += 1;
                errors += 1;
                connection = None;
            }
        }
    }
    (requests, errors, latency)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_content_length_header() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-type: x\r\nContent-Length: 42\r\n\r\n";
        assert_eq!(content_length(head), Some(42));
        assert_eq!(content_length(b"HTTP/1.1 200 OK\r\n\r\n"), None);
        assert_eq!(find(head, b"\r\n\r\n"), Some(head.len() - 4));
    }
}
