//! The subscription transports as a test meets them: an event stream read event by event, and a
//! WebSocket that agreed on `graphql-transport-ws`.

use std::net::SocketAddr;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::handshake::client::Response;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A WebSocket to a server's `/graphql`.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a WebSocket to `addr`'s `/graphql` asking for `graphql-transport-ws`, and checks the
/// server agreed; with the handshake's response.
pub async fn connect_ws(addr: SocketAddr) -> (Socket, Response) {
    let mut request = format!("ws://{addr}/graphql")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    (socket, response)
}

/// One event of an event stream (comments, such as keep-alives, are not events).
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// Reads `response` as an event stream, handing each event to `each` until `each` returns false
/// or the stream ends.
pub async fn read_sse(mut response: reqwest::Response, mut each: impl FnMut(SseEvent) -> bool) {
    let mut buffer = String::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut event, mut data) = (None, String::new());
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = Some(name.trim().to_owned());
                } else if let Some(text) = line.strip_prefix("data:") {
                    data.push_str(text.trim_start());
                }
            }
            if event.is_none() && data.is_empty() {
                continue;
            }
            if !each(SseEvent { event, data }) {
                return;
            }
        }
    }
}
