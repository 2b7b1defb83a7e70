//! GraphQL over HTTP's vocabulary, shared by every route and layer: media types and what a
//! client accepts ([`negotiate`]), GraphQL responses and refusals ([`respond`]), and caching
//! headers ([`caching`]).

pub(crate) mod caching;
pub(crate) mod negotiate;
pub(crate) mod respond;
