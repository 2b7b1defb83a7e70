//! GraphQL limits, introspection and GraphiQL, batches and persisted documents (APQ, trusted documents).

use clap::Args;

/// Every default of this group, written once: the flags and [`GraphqlConfig::default`] both read them.
pub mod defaults {
    /// Our deepest query is `{ plans { id } }`; GraphiQL's introspection query has depth 13.
    pub const GRAPHQL_MAX_DEPTH: u64 = 16;
    pub const GRAPHQL_MAX_COMPLEXITY: u64 = 1_000;
    pub const GRAPHQL_MAX_ROOT_FIELDS: u64 = 10;
    pub const GRAPHQL_MAX_ALIASES: u64 = 20;
    pub const GRAPHQL_INTROSPECTION: bool = true;
    pub const GRAPHIQL: bool = true;
    pub const GRAPHQL_MAX_BATCH: u64 = 10;
    pub const APQ_MAX_ENTRIES: u64 = 10_000;
}

/// GraphQL.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "GraphQL")]
pub struct GraphqlConfig {
    /// Deepest selection nesting a GraphQL operation may have (GraphiQL's introspection needs 13).
    #[arg(long, env = "GRAPHQL_MAX_DEPTH", default_value_t = defaults::GRAPHQL_MAX_DEPTH,
          value_parser = clap::value_parser!(u64).range(2..=256))]
    pub graphql_max_depth: u64,

    /// Largest GraphQL complexity (one point per selected field) an operation may have.
    #[arg(long, env = "GRAPHQL_MAX_COMPLEXITY", default_value_t = defaults::GRAPHQL_MAX_COMPLEXITY,
          value_parser = clap::value_parser!(u64).range(10..=1_000_000))]
    pub graphql_max_complexity: u64,

    /// Most root fields one operation may select (each `plans` is a whole list).
    #[arg(long, env = "GRAPHQL_MAX_ROOT_FIELDS", default_value_t = defaults::GRAPHQL_MAX_ROOT_FIELDS,
          value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub graphql_max_root_fields: u64,

    /// Most aliases one document may use.
    #[arg(long, env = "GRAPHQL_MAX_ALIASES", default_value_t = defaults::GRAPHQL_MAX_ALIASES,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub graphql_max_aliases: u64,

    /// Answer introspection queries (`__schema`, `__type`). Turn off in production if clients use
    /// the committed schema.graphql; GraphiQL needs it.
    #[arg(long, env = "GRAPHQL_INTROSPECTION", default_value_t = defaults::GRAPHQL_INTROSPECTION, action = clap::ArgAction::Set)]
    pub graphql_introspection: bool,

    /// Serve the GraphiQL playground at `GET /graphql`.
    #[arg(long, env = "GRAPHIQL", default_value_t = defaults::GRAPHIQL, action = clap::ArgAction::Set)]
    pub graphiql: bool,

    /// Most requests in one batch (a POST of a JSON array of requests); 0 refuses batches.
    #[arg(long, env = "GRAPHQL_MAX_BATCH", default_value_t = defaults::GRAPHQL_MAX_BATCH,
          value_parser = clap::value_parser!(u64).range(0..=1_000))]
    pub graphql_max_batch: u64,

    /// Bound on documents kept for Apollo's automatic persisted queries (APQ); a document over
    /// 4 KiB counts once per started 4 KiB. 0 keeps none (every hash-only request is then
    /// answered PERSISTED_QUERY_NOT_FOUND, and clients send the query each time).
    #[arg(long, env = "APQ_MAX_ENTRIES", default_value_t = defaults::APQ_MAX_ENTRIES,
          value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub apq_max_entries: u64,

    /// A trusted documents manifest: a JSON object from each document's sha256 (bare hex) to its
    /// text, as GraphQL Code Generator's client preset writes it (`persistedDocuments`). Checked
    /// at start; requests may then name a document by `documentId: "sha256:<hex>"`.
    #[arg(long, env = "TRUSTED_DOCUMENTS_FILE")]
    pub trusted_documents_file: Option<std::path::PathBuf>,

    /// `off`, `allow` (manifest documents may be named by `documentId`; others run too) or
    /// `require` (only manifest documents run). Default: `allow` with a manifest, else `off`.
    #[arg(long, env = "TRUSTED_DOCUMENTS", value_enum)]
    pub trusted_documents: Option<TrustedDocuments>,
}

impl Default for GraphqlConfig {
    fn default() -> Self {
        use defaults::*;
        Self {
            graphql_max_depth: GRAPHQL_MAX_DEPTH,
            graphql_max_complexity: GRAPHQL_MAX_COMPLEXITY,
            graphql_max_root_fields: GRAPHQL_MAX_ROOT_FIELDS,
            graphql_max_aliases: GRAPHQL_MAX_ALIASES,
            graphql_introspection: GRAPHQL_INTROSPECTION,
            graphiql: GRAPHIQL,
            graphql_max_batch: GRAPHQL_MAX_BATCH,
            apq_max_entries: APQ_MAX_ENTRIES,
            trusted_documents_file: None,
            trusted_documents: None,
        }
    }
}

/// `TRUSTED_DOCUMENTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrustedDocuments {
    Off,
    Allow,
    Require,
}
