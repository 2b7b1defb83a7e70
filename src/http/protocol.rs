//! GraphQL over HTTP's vocabulary, shared by every route and layer: media types and what a
//! client accepts ([`negotiate`]), GraphQL responses and refusals ([`respond`]), caching headers
//! ([`caching`]), and the `Plans-Consistency` token's header and cookie ([`consistency`]).

pub(crate) mod caching;
pub(crate) mod consistency;
pub(crate) mod negotiate;
pub(crate) mod respond;
