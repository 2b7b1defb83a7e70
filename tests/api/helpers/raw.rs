//! HTTP/1.1 over a raw TCP socket, for what an HTTP client library hides: when each byte is
//! written, pipelining, and whether the server kept, closed or reset the connection.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response as it came over the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Lowercased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether the server said it closes the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"))
    }
}

/// How the server ended a read: it closed (EOF), or reset the connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Closed,
    Reset(std::io::ErrorKind),
}

pub struct RawConnection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl RawConnection {
    pub async fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connects");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            buffer: Vec::new(),
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// The next response, or how the connection ended before one came.
    pub async fn read_response(&mut self) -> Result<RawResponse, Ended> {
        let mut response = self.read_response_head().await?;
        if let Some(length) = response.header("content-length") {
            let length: usize = length.parse().expect("a length");
            while self.buffer.len() < length {
                self.fill().await?;
            }
            response.body = self.buffer.drain(..length).collect();
        } else if response
            .header("transfer-encoding")
            .is_some_and(|value| value.contains("chunked"))
        {
            self.read_chunks(&mut response.body).await?;
        }
        Ok(response)
    }

    /// The next response's status and headers (its body left to read).
    pub async fn read_response_head(&mut self) -> Result<RawResponse, Ended> {
        let head_end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buffer[..head_end]).into_owned();
        self.buffer.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        Ok(RawResponse {
            status,
            headers,
            body: Vec::new(),
        })
    }

    async fn read_chunks(&mut self, body: &mut Vec<u8>) -> Result<(), Ended> {
        loop {
            let line_end = loop {
                if let Some(end) = find(&self.buffer, b"\r\n") {
                    break end;
                }
                self.fill().await?;
            };
            let size_text = String::from_utf8_lossy(&self.buffer[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.trim(), 16).expect("a chunk size");
            while self.buffer.len() < line_end + 2 + size + 2 {
                self.fill().await?;
            }
            body.extend_from_slice(&self.buffer[line_end + 2..line_end + 2 + size]);
            self.buffer.drain(..line_end + 2 + size + 2);
            if size == 0 {
                return Ok(());
            }
        }
    }

    /// Reads (and discards) whatever comes for `wait`; how the connection ended, if it did.
    pub async fn discard_for(&mut self, wait: Duration) -> Option<Ended> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.fill()).await {
                Err(_) => return None,
                Ok(Err(ended)) => return Some(ended),
                Ok(Ok(())) => self.buffer.clear(),
            }
        }
    }

    async fn fill(&mut self) -> Result<(), Ended> {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk).await {
            Ok(0) => Err(Ended::Closed),
            Ok(read) => {
                self.buffer.extend_from_slice(&chunk[..read]);
                Ok(())
            }
            Err(err) => Err(Ended::Reset(err.kind())),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A request's bytes: its head (with `Host` and, when there is a body, `Content-Length`) and
/// its body, apart, so a test can write them at different times.
pub struct RawRequest {
    pub head: Vec<u8>,
    pub body: Vec<u8>,
}

impl RawRequest {
    pub fn new(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Self {
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        Self {
            head: head.into_bytes(),
            body: body.to_vec(),
        }
    }

    pub fn whole(&self) -> Vec<u8> {
        [self.head.as_slice(), self.body.as_slice()].concat()
    }
}
