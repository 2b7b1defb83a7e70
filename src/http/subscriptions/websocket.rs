//! GraphQL over WebSocket at `/graphql`: the `graphql-transport-ws` subprotocol (the `graphql-ws`
//! library's; the legacy `graphql-ws` subprotocol of subscriptions-transport-ws too).
//!
//! The protocol is run here rather than by async-graphql's `WebSocket` so that an event goes out
//! as the bytes [`crate::graphql::GraphqlApi::subscribe`] rendered once for every subscriber of
//! its list (async-graphql's would serialize each subscriber's response itself), and so that an
//! idle connection holds little: one task, its subscriptions' streams, small socket buffers. The
//! messages, close codes and their order are async-graphql's, which this replaced. Keep-alive
//! pings; at shutdown every stream completes, then the socket closes ("going away"). When the
//! credential that admitted the connection lapses (expires, or its key leaves the JWKS), the
//! socket closes with `4403 Forbidden`: graphql-ws reconnects with fresh `connectionParams`.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{ClientMessage, WebSocketProtocols};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::stream::{AbortHandle, Abortable, SelectAll};
use futures::{SinkExt, StreamExt, stream};

use crate::auth::Lapse;
use crate::graphql::ConnectionSubscriptions;
use crate::http::admission;
use crate::http::consistency;
use crate::http::endpoint::persisted::TrustedMode;
use crate::http::protocol::respond::refuse;
use crate::http::state::SharedState;
use crate::plans::{ConsistencyToken, Freshness};

/// Socket buffers: messages in are small (`subscribe`, `ping`; tungstenite grows the buffer for
/// a longer one), and events go out as soon as written. tungstenite's 128 KiB defaults, or even
/// 4 KiB, would be most of an idle connection's memory (measured with massif: 4 KiB of 12.6).
const READ_BUFFER: usize = 512;

pub(crate) fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"))
}

/// The bearer token of a WebSocket: the `Authorization` of the `connection_init` payload
/// (`{"Authorization": "Bearer …"}`, as browsers cannot set headers on a WebSocket), else the
/// upgrade request's header. The one place a WebSocket's credential is read.
fn credential(payload: &serde_json::Value, upgrade_header: Option<&str>) -> Option<String> {
    let from_payload = payload.as_object().and_then(|fields| {
        fields
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
            .and_then(|(_, value)| value.as_str())
    });
    let value = from_payload.or(upgrade_header)?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

pub(crate) async fn websocket(State(state): State<SharedState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let protocol = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|protocols| {
            protocols
                .split(',')
                .find_map(|protocol| WebSocketProtocols::from_str(protocol.trim()).ok())
        });
    let Some(protocol) = protocol else {
        return refuse(
            &parts.headers,
            StatusCode::BAD_REQUEST,
            "a WebSocket at /graphql needs the subprotocol graphql-transport-ws".to_owned(),
        );
    };
    if state.clients.persisted.mode() == TrustedMode::Require {
        // A WebSocket's operations would bypass the manifest: under `require` subscriptions go
        // over SSE, where every document is checked like any request's.
        return refuse(
            &parts.headers,
            StatusCode::BAD_REQUEST,
            "TRUSTED_DOCUMENTS=require: subscribe over SSE (Accept: text/event-stream)".to_owned(),
        );
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let consistency = match consistency::requested(&state, &parts.headers) {
        Ok(token) => token,
        Err(err) => return consistency::refusal(&parts.headers, err),
    };
    // Admitted (READ_ACCESS, a valid credential) at `connection_init`, where the credential comes.
    upgrade
        .protocols([protocol.sec_websocket_protocol()])
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .on_upgrade(move |socket| serve_socket(socket, state, protocol, header, consistency))
}

/// What the connection's subscriptions yield: an event, or the end of one.
enum Outgoing {
    Next(Arc<str>, Bytes),
    Complete(Arc<str>),
}

/// Why the protocol ends a connection.
enum Ending {
    /// The client went, or asked to end.
    Gone,
    /// This message (a close frame, or the legacy protocol's `connection_error`) goes out last.
    With(Message),
}

/// One WebSocket's protocol state.
struct Connection {
    state: SharedState,
    protocol: WebSocketProtocols,
    header: Option<String>,
    /// The upgrade request's consistency token (`connection_init` may bring its own).
    consistency: Option<ConsistencyToken>,
    open: ConnectionSubscriptions,
    /// Set once `connection_init` was accepted: the connection's data (the caller).
    session: Option<Arc<Data>>,
    /// Set at `connection_init` when the credential can stop holding: the socket closes then.
    lapse: Option<Lapse>,
    initialised: bool,
    running: HashMap<Arc<str>, AbortHandle>,
}

/// Runs one WebSocket until the client goes or (at shutdown) every subscription on it has
/// completed.
async fn serve_socket(
    socket: WebSocket,
    state: SharedState,
    protocol: WebSocketProtocols,
    header: Option<String>,
    consistency: Option<ConsistencyToken>,
) {
    let settings = state.subscriptions;
    let mut shutdown = state.shutting_down.subscribe();
    let (mut sink, mut incoming) = socket.split();
    let mut connection = Connection {
        open: ConnectionSubscriptions::new(settings.per_connection),
        state,
        protocol,
        header,
        consistency,
        session: None,
        lapse: None,
        initialised: false,
        running: HashMap::new(),
    };
    let mut streams = SelectAll::new();
    let mut ping = tokio::time::interval(settings.keepalive);
    ping.reset();
    loop {
        let message = tokio::select! {
            message = incoming.next() => {
                let data = match message {
                    Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => message.into_data(),
                    // A close from the client is answered by tungstenite; the stream then ends.
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => break,
                };
                // Boxed: admitting a connection (a JWKS fetch, maybe) is a large future, which
                // every idle connection's task would otherwise reserve room for.
                match Box::pin(connection.receive(&data, &mut streams)).await {
                    Ok(Some(reply)) => reply,
                    Ok(None) => continue,
                    Err(Ending::Gone) => break,
                    Err(Ending::With(last)) => {
                        let _ = sink.send(last).await;
                        break;
                    }
                }
            }
            Some(outgoing) = streams.next(), if !streams.is_empty() => match outgoing {
                Outgoing::Next(id, payload) => connection.next_message(&id, &payload),
                Outgoing::Complete(id) => {
                    connection.running.remove(&id);
                    complete_message(&id)
                }
            },
            () = lapsed(&mut connection.lapse), if connection.lapse.is_some() => {
                close(4403, "Forbidden".to_owned())
            }
            _ = ping.tick(), if protocol == WebSocketProtocols::GraphQLWS => {
                Message::Text(r#"{"type":"ping"}"#.into())
            }
            // At shutdown every live stream ends (each gets `complete`); once none is left, the
            // socket is closed ("going away").
            _ = tokio::time::sleep(Duration::from_millis(20)),
                if *shutdown.borrow_and_update() && connection.open.open() == 0 =>
            {
                close(1001, "server shutting down".to_owned())
            }
            _ = shutdown.changed(), if !*shutdown.borrow() => continue,
        };
        let closing = matches!(message, Message::Close(_));
        if sink.send(message).await.is_err() || closing {
            break;
        }
    }
    for handle in connection.running.values() {
        handle.abort();
    }
}

/// Resolves when the connection's credential lapses; never when it cannot.
async fn lapsed(lapse: &mut Option<Lapse>) {
    match lapse {
        Some(lapse) => lapse.await,
        None => std::future::pending().await,
    }
}

fn close(code: u16, reason: String) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

fn complete_message(id: &str) -> Message {
    let message = serde_json::json!({ "type": "complete", "id": id });
    Message::Text(message.to_string().into())
}

impl Connection {
    /// Handles one client message; returns the reply to send, if any.
    async fn receive(
        &mut self,
        data: &[u8],
        streams: &mut SelectAll<stream::BoxStream<'static, Outgoing>>,
    ) -> Result<Option<Message>, Ending> {
        let message = ClientMessage::from_bytes(data)
            .map_err(|err| Ending::With(close(1002, err.to_string())))?;
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if self.initialised {
                    return Err(self.refusal(4429, "Too many initialisation requests."));
                }
                self.initialised = true;
                self.connection_init(payload.unwrap_or_default()).await
            }
            ClientMessage::Start { id, payload } => {
                let Some(session) = self.session.clone() else {
                    return Err(Ending::With(close(
                        1011,
                        "The handshake is not completed.".to_owned(),
                    )));
                };
                let id: Arc<str> = id.into();
                let events = self.state.api.subscribe(payload, Some(session));
                let (handle, registration) = AbortHandle::new_pair();
                let next_id = id.clone();
                let ended = stream::once(std::future::ready(Outgoing::Complete(id.clone())));
                let outgoing = events
                    .map(move |bytes| Outgoing::Next(next_id.clone(), bytes))
                    .chain(ended);
                streams.push(Abortable::new(outgoing, registration).boxed());
                // A new subscription under a running one's id replaces it, as async-graphql did.
                if let Some(replaced) = self.running.insert(id, handle) {
                    replaced.abort();
                }
                Ok(None)
            }
            ClientMessage::Stop { id } => Ok(self.running.remove(id.as_str()).map(|handle| {
                handle.abort();
                complete_message(&id)
            })),
            ClientMessage::ConnectionTerminate => Err(Ending::Gone),
            ClientMessage::Ping { .. } => Ok(Some(Message::Text(r#"{"type":"pong"}"#.into()))),
            ClientMessage::Pong { .. } => Ok(None),
        }
    }

    /// Admits the connection (READ_ACCESS, a valid credential from the payload or the upgrade
    /// request) and acknowledges; or refuses it as graphql-ws expects (the message says why).
    async fn connection_init(
        &mut self,
        payload: serde_json::Value,
    ) -> Result<Option<Message>, Ending> {
        let token = credential(&payload, self.header.as_deref());
        let admission = admission::admit(&self.state, token.as_deref())
            .await
            .map_err(|refusal| self.refusal(1002, refusal.message()))?;
        let caller = admission.caller;
        // Caught up once, before the ack: every subscription of the connection starts later,
        // from a state at least as new (a replica's state only moves forward).
        let token = consistency::in_payload(&self.state, &payload, self.consistency);
        let freshness = consistency::catch_up_to(&self.state, token).await;
        let mut data = Data::default();
        data.insert(self.open.clone());
        data.insert(caller);
        if freshness == Freshness::Database {
            data.insert(freshness);
        }
        self.session = Some(Arc::new(data));
        self.lapse = self.state.auth.lapse(&admission);
        Ok(Some(Message::Text(r#"{"type":"connection_ack"}"#.into())))
    }

    /// The refusal of the connection: a close (graphql-transport-ws), or `connection_error`
    /// (the legacy protocol), as async-graphql sent them.
    fn refusal(&self, code: u16, message: &str) -> Ending {
        Ending::With(match self.protocol {
            WebSocketProtocols::GraphQLWS => close(code, message.to_owned()),
            WebSocketProtocols::SubscriptionsTransportWS => Message::Text(
                serde_json::json!({ "type": "connection_error", "payload": { "message": message } })
                    .to_string()
                    .into(),
            ),
        })
    }

    /// An event as the protocol frames it, around the shared `payload` bytes.
    fn next_message(&self, id: &str, payload: &[u8]) -> Message {
        let kind = match self.protocol {
            WebSocketProtocols::GraphQLWS => "next",
            WebSocketProtocols::SubscriptionsTransportWS => "data",
        };
        let id = serde_json::Value::from(id).to_string();
        // The payload is serde_json's output, UTF-8 by construction.
        let payload = std::str::from_utf8(payload).unwrap_or("{}");
        let mut text = String::with_capacity(payload.len() + id.len() + 40);
        text.push_str("{\"type\":\"");
        text.push_str(kind);
        text.push_str("\",\"id\":");
        text.push_str(&id);
        text.push_str(",\"payload\":");
        text.push_str(payload);
        text.push('}');
        Message::Text(text.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_comes_from_connection_init_then_the_header() {
        let token = |payload: serde_json::Value, header: Option<&str>| credential(&payload, header);
        assert_eq!(
            token(
                serde_json::json!({"Authorization": "Bearer a"}),
                Some("Bearer b")
            )
            .as_deref(),
            Some("a")
        );
        assert_eq!(
            token(serde_json::json!({"authorization": "Bearer a"}), None).as_deref(),
            Some("a")
        );
        assert_eq!(
            token(serde_json::json!({}), Some("Bearer b")).as_deref(),
            Some("b")
        );
        assert_eq!(token(serde_json::Value::Null, None), None);
    }
}
