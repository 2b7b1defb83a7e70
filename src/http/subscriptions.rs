//! The subscription transports at `/graphql`, picked before the plain GraphQL-over-HTTP
//! handlers see a request:
//!
//! - a WebSocket upgrade with the `graphql-transport-ws` subprotocol: [`websocket`];
//! - GraphQL over Server-Sent Events, `graphql-sse`'s distinct-connections mode: a `POST` (JSON
//!   body) or `GET` (query string) with `Accept: text/event-stream`: [`sse`].
//!
//! Both end a subscription when the credential that admitted it lapses ([`lapse`]).

mod lapse;
pub(crate) mod sse;
pub(crate) mod websocket;

use std::time::Duration;

/// Settings of the subscription transports.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionSettings {
    /// Live subscriptions one WebSocket may have open at once.
    pub per_connection: usize,
    /// Keep-alive period: a `ping` message (WebSocket) or an SSE comment when idle.
    pub keepalive: Duration,
}
