//! The subscription transports at `/graphql`, picked before the plain GraphQL-over-HTTP
//! handlers see a request:
//!
//! - a WebSocket upgrade with the `graphql-transport-ws` subprotocol (the `graphql-ws` library's
//!   protocol; the legacy `graphql-ws` subprotocol too): async-graphql's protocol state machine
//!   driven by our own loop, which adds keep-alive pings and closes the socket once every stream
//!   has completed at shutdown;
//! - GraphQL over Server-Sent Events, `graphql-sse`'s distinct-connections mode: a `POST` (JSON
//!   body) or `GET` (query string) with `Accept: text/event-stream` gets a `next` event per
//!   result (`data:` the JSON result) and a final `complete` event.
//!
//! Everything else goes on to [`super::endpoint`].

use std::convert::Infallible;
use std::str::FromStr;
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{WebSocket as GraphqlWebSocket, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt, stream};

use super::body::{self, BodyError};
use super::endpoint::{self, refused};
use super::negotiate::{self, MediaType};
use super::params::{GetParams, Params, bearer_token, check_content_type};
use super::respond::{Delivery, mutation_by_get, refuse, respond, send};
use super::{SharedState, TrustedMode};
use crate::auth::Caller;
use crate::graphql::{self, ConnectionSubscriptions};

/// Settings of the subscription transports.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionSettings {
    /// Live subscriptions one WebSocket may have open at once.
    pub per_connection: usize,
    /// Keep-alive period: a `ping` message (WebSocket) or an SSE comment when idle.
    pub keepalive: Duration,
}

/// `GET /graphql`: a WebSocket upgrade, an SSE subscription, or plain GraphQL over HTTP.
pub(super) async fn get(state: State<SharedState>, request: Request) -> Response {
    if is_websocket_upgrade(request.headers()) {
        return websocket(state, request).await;
    }
    if negotiate::prefers_event_stream(request.headers()) {
        return sse_get(state, request).await;
    }
    endpoint::get(state, request).await
}

/// `POST /graphql`: an SSE subscription, or plain GraphQL over HTTP.
pub(super) async fn post(state: State<SharedState>, request: Request) -> Response {
    if negotiate::prefers_event_stream(request.headers()) {
        return sse_post(state, request).await;
    }
    endpoint::post(state, request).await
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
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

async fn websocket(State(state): State<SharedState>, request: Request) -> Response {
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
    // Admitted (READ_ACCESS, a valid credential) at `connection_init`, where the credential comes.
    upgrade
        .protocols([protocol.sec_websocket_protocol()])
        .on_upgrade(move |socket| serve_socket(socket, state, protocol, header))
}

/// Runs one WebSocket: async-graphql's protocol, plus keep-alive pings, until the client goes or
/// (at shutdown) every subscription on it has completed.
async fn serve_socket(
    socket: WebSocket,
    state: SharedState,
    protocol: WebSocketProtocols,
    header: Option<String>,
) {
    let settings = state.subscriptions;
    let (mut sink, incoming) = socket.split();
    let incoming = incoming
        .take_while(|message| std::future::ready(message.is_ok()))
        .filter_map(|message| {
            std::future::ready(match message {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
                _ => None,
            })
        });
    let open = ConnectionSubscriptions::new(settings.per_connection);
    let mut data = Data::default();
    data.insert(open.clone());
    let auth = state.auth.clone();
    let outgoing = GraphqlWebSocket::new(state.api.executor(), incoming, protocol)
        .connection_data(data)
        .on_connection_init(move |payload| async move {
            // Refused as graphql-ws expects: the socket is closed (the message says why).
            let token = credential(&payload, header.as_deref());
            let caller = auth
                .authenticate(token.as_deref())
                .await
                .map_err(|_| async_graphql::Error::new("Forbidden: invalid credential"))?;
            if !auth.may_read(caller) {
                return Err(async_graphql::Error::new(
                    "Forbidden: READ_ACCESS=authenticated needs a credential",
                ));
            }
            let mut data = Data::default();
            data.insert(caller);
            Ok(data)
        });
    let mut outgoing = std::pin::pin!(outgoing);
    let mut shutdown = state.shutting_down.subscribe();
    let mut ping = tokio::time::interval(settings.keepalive);
    ping.reset();
    loop {
        let message = tokio::select! {
            message = outgoing.next() => match message {
                Some(WsMessage::Text(text)) => Message::Text(text.into()),
                Some(WsMessage::Close(code, reason)) => Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                })),
                None => break,
            },
            _ = ping.tick(), if protocol == WebSocketProtocols::GraphQLWS => {
                Message::Text(r#"{"type":"ping"}"#.into())
            }
            // At shutdown every live stream ends (the protocol sends `complete` for each); once
            // none is left, the socket is closed ("going away").
            _ = tokio::time::sleep(Duration::from_millis(20)),
                if *shutdown.borrow_and_update() && open.open() == 0 =>
            {
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code: 1001,
                        reason: "server shutting down".into(),
                    })))
                    .await;
                break;
            }
            _ = shutdown.changed(), if !*shutdown.borrow() => continue,
        };
        if sink.send(message).await.is_err() {
            break;
        }
    }
}

/// Who an SSE request comes from, by the same rules as any request (`READ_ACCESS`, an invalid
/// credential refused).
async fn sse_caller(state: &SharedState, headers: &HeaderMap) -> Result<Caller, Box<Response>> {
    // The answer is JSON: a client asking for an event stream gets a GraphQL error it can read.
    let unauthenticated = |invalid: bool| {
        Box::new(respond(
            MediaType::Json,
            &graphql::unauthenticated(invalid),
            Delivery::NoStore,
        ))
    };
    match state.auth.authenticate(bearer_token(headers)).await {
        Ok(caller) if state.auth.may_read(caller) => Ok(caller),
        Ok(_) => Err(unauthenticated(false)),
        Err(_) => Err(unauthenticated(true)),
    }
}

/// The operation of `params` (its document resolved as for any request: APQ, trusted documents),
/// run as `caller`; or the refusal.
fn sse_request(
    state: &SharedState,
    headers: &HeaderMap,
    params: Params,
    caller: Caller,
) -> Result<async_graphql::Request, Box<Response>> {
    match params.resolve(&state.clients.persisted) {
        Ok((operation, _registration)) => Ok(operation.into_request(caller)),
        Err(refusal) => {
            let media = negotiate::response_media_type(headers).unwrap_or(MediaType::Json);
            Err(Box::new(send(
                media,
                refused(media, refusal),
                Delivery::NoStore,
                None,
            )))
        }
    }
}

/// `GET /graphql` with `Accept: text/event-stream`: the operation from the query string.
async fn sse_get(State(state): State<SharedState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let caller = match sse_caller(&state, &parts.headers).await {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    let params = serde_urlencoded::from_str::<GetParams>(parts.uri.query().unwrap_or_default())
        .map_err(|err| format!("malformed query string: {err}"))
        .and_then(GetParams::into_params);
    let params = match params {
        Ok(params) => params,
        Err(message) => return refuse(&parts.headers, StatusCode::BAD_REQUEST, message),
    };
    let mut request = match sse_request(&state, &parts.headers, params, caller) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    if graphql::selects_mutation(&mut request) {
        return mutation_by_get(&parts.headers);
    }
    event_stream(&state, request)
}

/// `POST /graphql` with `Accept: text/event-stream`: the operation from the JSON body.
async fn sse_post(State(state): State<SharedState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    if let Err(message) = check_content_type(&headers) {
        return refuse(&headers, StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
    }
    let caller = match sse_caller(&state, &headers).await {
        Ok(caller) => caller,
        Err(response) => return *response,
    };
    let body = match body::read(body, state.clients.max_request_bytes).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return refuse(
                &headers,
                StatusCode::PAYLOAD_TOO_LARGE,
                "the request body is larger than MAX_REQUEST_BYTES".to_owned(),
            );
        }
        Err(BodyError::Unreadable(message)) => {
            return refuse(
                &headers,
                StatusCode::BAD_REQUEST,
                format!("malformed GraphQL request: {message}"),
            );
        }
    };
    let params = match Params::from_json_body(&body) {
        Ok(params) => params,
        Err(message) => return refuse(&headers, StatusCode::BAD_REQUEST, message),
    };
    match sse_request(&state, &headers, params, caller) {
        Ok(request) => event_stream(&state, request),
        Err(response) => *response,
    }
}

/// The results of `request` as `next` events, then `complete`.
fn event_stream(state: &SharedState, request: async_graphql::Request) -> Response {
    let next = state.api.execute_stream(request).map(|response| {
        let event = Event::default().event("next");
        Ok::<_, Infallible>(match event.json_data(&response) {
            Ok(event) => event,
            // A response always serializes; should it not, the stream still ends well-formed.
            Err(_) => Event::default().event("next").data("{}"),
        })
    });
    let complete = stream::once(async { Ok(Event::default().event("complete").data("")) });
    let mut response = Sse::new(next.chain(complete))
        .keep_alive(KeepAlive::new().interval(state.subscriptions.keepalive))
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Tells nginx-style proxies not to buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
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
