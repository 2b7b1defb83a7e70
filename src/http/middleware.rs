//! The layers around the routes, outermost first: the edge (request id, access log, request
//! metrics), the refusal layer that keeps connections usable, CORS, the rate limits (with the
//! peer's address they key on), compression and the request timeout. [`super::service`] stacks
//! them; each is written for the hit path, so a response-cache hit pays little for passing.

pub(crate) mod compression;
pub(crate) mod cors;
pub(crate) mod edge;
pub(crate) mod peer;
pub(crate) mod rate_limit;
pub(crate) mod request_metrics;
pub(crate) mod timeout;
