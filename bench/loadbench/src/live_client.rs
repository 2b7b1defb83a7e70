//! Live-list subscribers, cheap enough to hold ten thousand in one process: SSE over a raw tokio
//! socket with a hand-written reader (chunked transfer coding, then `event:`/`data:` lines), and
//! WebSocket (`graphql-transport-ws`) over tokio-tungstenite with small buffers. Each subscriber
//! only records when it got each `next` event, and whether the event held the marker of the write
//! being measured, in its [`Slot`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// The subscription every subscriber sends (variables pick the list).
pub const SUBSCRIPTION: &str = "subscription Live($userId: Int, $connectionType: ConnectionType) { plans(userId: $userId, connectionType: $connectionType) { id userId name connectionType priceCents durationMinutes createdAt } }";

/// Largest SSE response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// How a subscriber is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    Sse,
}

/// What one subscriber watches.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    pub user: u32,
    /// `connectionType: HOTSPOT` too.
    pub hotspot: bool,
    pub transport: Transport,
}

impl Watch {
    fn variables(self) -> serde_json::Value {
        if self.hotspot {
            serde_json::json!({ "userId": self.user, "connectionType": "HOTSPOT" })
        } else {
            serde_json::json!({ "userId": self.user })
        }
    }
}

/// What every subscriber shares: the clock its times are read on, and the marker the write being
/// measured puts in the lists it changes.
pub struct Shared {
    pub origin: Instant,
    pub marker: Mutex<Option<Vec<u8>>>,
    /// Events that arrived while a marker was set but did not hold it.
    pub unmarked: AtomicU64,
}

impl Shared {
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
            marker: Mutex::new(None),
            unmarked: AtomicU64::new(0),
        }
    }

    /// Microseconds since `origin`.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// One subscriber's record.
#[derive(Default)]
pub struct Slot {
    /// `next` events received.
    pub events: AtomicU64,
    /// When the last one arrived ([`Shared::now_us`]).
    pub last_at_us: AtomicU64,
    /// Set when the connection failed or ended.
    pub failed: AtomicU64,
}

impl Slot {
    fn record(&self, shared: &Shared, payload: &[u8]) {
        self.last_at_us.store(shared.now_us(), Ordering::SeqCst);
        let marker = shared
            .marker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(marker) = marker.as_deref()
            && !contains(payload, marker)
        {
            shared.unmarked.fetch_add(1, Ordering::Relaxed);
        }
        drop(marker);
        // Last: whoever sees the count go up also sees the time.
        self.events.fetch_add(1, Ordering::SeqCst);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Runs one subscriber until its connection ends (an error, or the server completing it).
/// `token`: sent as the bearer credential (SSE header, WebSocket `connection_init`).
pub async fn subscribe(
    addr: SocketAddr,
    watch: Watch,
    slot: Arc<Slot>,
    shared: Arc<Shared>,
    token: Option<Arc<str>>,
) {
    let token = token.as_deref();
    let ended = match watch.transport {
        Transport::Sse => sse(addr, watch, &slot, &shared, token).await,
        Transport::WebSocket => websocket(addr, watch, &slot, &shared, token).await,
    };
    if ended.is_err() {
        slot.failed.store(1, Ordering::SeqCst);
    }
}

/// GraphQL over SSE, distinct-connections mode: one POST, then `next` events.
async fn sse(
    addr: SocketAddr,
    watch: Watch,
    slot: &Slot,
    shared: &Shared,
    token: Option<&str>,
) -> io::Result<()> {
    let body =
        serde_json::json!({ "query": SUBSCRIPTION, "variables": watch.variables() }).to_string();
    let authorization = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\n{authorization}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    stream.write_all(request.as_bytes()).await?;
    let mut buffer = Vec::with_capacity(1024);
    let head_end = loop {
        if stream.read_buf(&mut buffer).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(at) = find(&buffer, b"\r\n\r\n") {
            break at + 4;
        }
        if buffer.len() > MAX_HEAD {
            return Err(invalid("SSE response head too long"));
        }
    };
    if !buffer.starts_with(b"HTTP/1.1 200") {
        return Err(invalid(String::from_utf8_lossy(&buffer).into_owned()));
    }
    if !contains(&buffer[..head_end].to_ascii_lowercase(), b"chunked") {
        return Err(invalid("SSE response is not chunked"));
    }
    buffer.drain(..head_end);
    let mut reader = SseReader::default();
    loop {
        while let Some(event) = reader.next_event(&mut buffer)? {
            match event {
                SseEvent::Next(data) => slot.record(shared, &data),
                SseEvent::Complete => return Ok(()),
            }
        }
        buffer.reserve(4096);
        if stream.read_buf(&mut buffer).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

enum SseEvent {
    Next(Vec<u8>),
    Complete,
}

/// A minimal reader of an SSE body sent with chunked transfer coding: de-chunks into `text`, then
/// splits events at blank lines; keeps `event:` and `data:` lines, skips comments (keep-alives).
#[derive(Default)]
struct SseReader {
    text: Vec<u8>,
}

impl SseReader {
    /// The next complete event, consuming what it used of `raw` (the socket's bytes).
    fn next_event(&mut self, raw: &mut Vec<u8>) -> io::Result<Option<SseEvent>> {
        loop {
            if let Some(event) = self.take_event() {
                return Ok(Some(event));
            }
            // One more chunk: `<hex size>[;ext]\r\n<data>\r\n`.
            let Some(line_end) = find(raw, b"\r\n") else {
                return Ok(None);
            };
            let size_text =
                std::str::from_utf8(&raw[..line_end]).map_err(|_| invalid("bad chunk size"))?;
            let size_text = size_text.split(';').next().unwrap_or_default().trim();
            let size =
                usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
            if size == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let data_start = line_end + 2;
            if raw.len() < data_start + size + 2 {
                return Ok(None);
            }
            self.text
                .extend_from_slice(&raw[data_start..data_start + size]);
            raw.drain(..data_start + size + 2);
        }
    }

    fn take_event(&mut self) -> Option<SseEvent> {
        loop {
            let end = find(&self.text, b"\n\n")?;
            let block: Vec<u8> = self.text.drain(..end + 2).collect();
            let mut name: &[u8] = b"message";
            let mut data = Vec::new();
            for line in block.split(|&byte| byte == b'\n') {
                if let Some(value) = line.strip_prefix(b"event:") {
                    name = value.trim_ascii();
                } else if let Some(value) = line.strip_prefix(b"data:") {
                    if !data.is_empty() {
                        data.push(b'\n');
                    }
                    data.extend_from_slice(value.strip_prefix(b" ").unwrap_or(value));
                }
            }
            match name {
                b"next" => return Some(SseEvent::Next(data)),
                b"complete" => return Some(SseEvent::Complete),
                // Comments only (keep-alive): nothing to report.
                _ => {}
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// `graphql-transport-ws`: `connection_init`, `subscribe`, then `next` messages (pings answered).
async fn websocket(
    addr: SocketAddr,
    watch: Watch,
    slot: &Slot,
    shared: &Shared,
    token: Option<&str>,
) -> io::Result<()> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut request = format!("ws://{addr}/graphql")
        .into_client_request()
        .map_err(io::Error::other)?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    // Small buffers: the client holds thousands of these.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut socket, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config))
            .await
            .map_err(io::Error::other)?;
    let send = |text: String| Message::Text(Utf8Bytes::from(text));
    let payload = token.map_or_else(
        || serde_json::json!({}),
        |token| serde_json::json!({ "Authorization": format!("Bearer {token}") }),
    );
    socket
        .send(send(
            serde_json::json!({ "type": "connection_init", "payload": payload }).to_string(),
        ))
        .await
        .map_err(io::Error::other)?;
    let subscribe = serde_json::json!({
        "id": "1",
        "type": "subscribe",
        "payload": { "query": SUBSCRIPTION, "variables": watch.variables() },
    });
    let mut subscribed = false;
    while let Some(message) = socket.next().await {
        let text = match message.map_err(io::Error::other)? {
            Message::Text(text) => text,
            Message::Close(_) => return Ok(()),
            _ => continue,
        };
        let bytes = text.as_bytes();
        if contains(bytes, br#""type":"next""#) {
            slot.record(shared, bytes);
        } else if contains(bytes, br#""type":"connection_ack""#) && !subscribed {
            subscribed = true;
            socket
                .send(send(subscribe.to_string()))
                .await
                .map_err(io::Error::other)?;
        } else if contains(bytes, br#""type":"ping""#) {
            socket
                .send(send(r#"{"type":"pong"}"#.to_owned()))
                .await
                .map_err(io::Error::other)?;
        } else if contains(bytes, br#""type":"complete""#) {
            return Ok(());
        } else if contains(bytes, br#""type":"error""#) {
            return Err(invalid(text.as_str().to_owned()));
        }
    }
    Err(io::ErrorKind::UnexpectedEof.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chunked_sse_events_across_reads() {
        let chunk = |text: &str| format!("{:x}\r\n{text}\r\n", text.len()).into_bytes();
        let body = [
            chunk(": ping\n\n"),
            chunk("event: next\ndata: {\"data\":1}\n\n"),
        ]
        .concat();
        let mut reader = SseReader::default();
        let mut raw = body[..20].to_vec();
        assert!(reader.next_event(&mut raw).unwrap().is_none());
        raw.extend_from_slice(&body[20..]);
        match reader.next_event(&mut raw).unwrap() {
            Some(SseEvent::Next(data)) => assert_eq!(data, b"{\"data\":1}"),
            _ => panic!("expected a next event"),
        }
        assert!(raw.is_empty());
        let mut raw = chunk("event: complete\ndata: \n\n");
        assert!(matches!(
            reader.next_event(&mut raw).unwrap(),
            Some(SseEvent::Complete)
        ));
    }
}
