//! plans-api: a GraphQL API for ISP internet plans, with a cache-aside plan cache.
//!
//! Dependencies point one way: [`http`] -> [`graphql`] -> [`plans`] (which owns the [`cache`])
//! -> [`entities`]; [`auth`] turns credentials into who is asking, for the HTTP layer. [`app`]
//! wires them together; [`config`] is parsed once in `main`.

pub mod app;
pub mod auth;
pub mod cache;
pub mod config;
pub mod entities;
pub mod graphql;
pub mod http;
pub mod plans;
pub mod telemetry;

pub use app::Application;
pub use config::Config;
