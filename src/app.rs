//! Start-up and shutdown: connect, migrate, build the plan service, warm its cache, bind, serve.
//! The one place that knows every layer: it turns the [`Config`] into each layer's settings and
//! hands each layer the one below it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::auth::{AdminToken, AuthSettings, Authenticator, JwksError, JwtSettings};
use crate::cache::{CacheMetrics, CacheSettings};
use crate::config::{AllowedOrigins, Config, ReadAccess, TrustedDocuments};
use crate::graphql::{GraphqlApi, OperationMetrics, SchemaLimits};
use crate::http::{
    self, AppState, ClientSupport, ConnectionSettings, CorsOrigins, HttpMetrics, HttpSettings,
    ManifestError, PersistedOperations, Probes, QueryCaching, RateLimitSettings, ResponseCache,
    ResponseCacheSettings, SubscriptionSettings, TrustedMode,
};
use crate::plans::change_feed::{self, ChangeFeed, ChangeFeedMetrics};
use crate::plans::{
    Consistency, ConsistencyMetrics, ConsistencySettings, LiveMetrics, LiveSettings, PlanService,
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not connect to the database: {0}")]
    Connect(#[source] DbErr),
    #[error("could not migrate the database: {0}")]
    Migrate(#[source] DbErr),
    #[error("could not warm the plan cache: {0}")]
    WarmUp(#[source] crate::plans::PlanError),
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("could not load the JWT keys: {0}")]
    Auth(#[from] JwksError),
    #[error("could not start the plan change feed: {0}")]
    ChangeFeed(#[source] DbErr),
    #[error("could not read the database's consistency origin: {0}")]
    Consistency(#[source] DbErr),
    #[error("could not register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("could not read TRUSTED_DOCUMENTS_FILE {path}: {source}")]
    TrustedDocumentsFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    TrustedDocuments(#[from] ManifestError),
}

/// A started server: migrated, warmed and bound, but not yet serving.
pub struct Application {
    listener: TcpListener,
    service: http::HttpService,
    local_addr: SocketAddr,
    accepting_requests: Arc<AtomicBool>,
    /// Set when shutdown begins; the WebSocket transport closes its sockets on it.
    shutting_down: tokio::sync::watch::Sender<bool>,
    plans: Arc<PlanService>,
    /// Whether requests need their peer's address (the rate limits key clients by it).
    needs_peer: bool,
    connections: ConnectionSettings,
    /// Keeps the PostgreSQL change listener running as long as the server.
    _change_feed: Option<ChangeFeed>,
}

impl Application {
    /// Everything start-up does, in order. Requests are accepted only once the cache is warm.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        // Checked first: a bad manifest stops the server before it touches the database.
        let clients = client_support(&config)?;
        let db = connect_and_migrate(&config).await?;

        let metrics = prometheus::Registry::new();
        let cache_metrics = CacheMetrics::register(&metrics, "plan_cache")?;
        let backend = db.get_database_backend();
        let plans = Arc::new(PlanService::with_live_lists(
            db.clone(),
            cache_settings(&config),
            cache_metrics,
            live_settings(&config),
            LiveMetrics::register(&metrics)?,
        ));
        let listens = backend == DbBackend::Postgres && config.database.plan_cache_listen;
        let feed_schema = match listens {
            true => Some(
                change_feed::current_schema(&db)
                    .await
                    .map_err(StartupError::ChangeFeed)?,
            ),
            false => None,
        };
        let consistency = Arc::new(
            Consistency::load(
                db.clone(),
                feed_schema.as_deref(),
                ConsistencySettings {
                    max_wait: config.consistency.max_wait(),
                },
                ConsistencyMetrics::register(&metrics)?,
            )
            .await
            .map_err(StartupError::Consistency)?,
        );
        let change_feed = if listens {
            let feed = ChangeFeed::start(
                &config.database.database_url,
                &db,
                plans.clone(),
                consistency.clone(),
                ChangeFeedMetrics::register(&metrics)?,
                config.database.database_timeout(),
            )
            .await
            .map_err(StartupError::ChangeFeed)?;
            // Listen before warming, so no change can fall between the two.
            if !feed
                .wait_connected(config.database.database_timeout())
                .await
            {
                warn!(
                    "Plan change listener not connected yet; reading through to the database until it is"
                );
            }
            Some(feed)
        } else {
            if backend == DbBackend::Postgres {
                warn!(
                    "PLAN_CACHE_LISTEN is off: changes made by other replicas or plain SQL are seen after PLAN_CACHE_TTL"
                );
            } else {
                info!(
                    "SQLite: single-replica mode; changes made to the database behind this server's back are seen after PLAN_CACHE_TTL"
                );
            }
            None
        };
        plans
            .warm_up(config.database.plan_cache_max_entries)
            .await
            .map_err(StartupError::WarmUp)?;

        let admin_token = match &config.auth.admin_token {
            Some(token) => AdminToken::new(token),
            None => {
                let (admin_token, token) = AdminToken::generate();
                warn!(
                    token = %token,
                    "ADMIN_TOKEN is not set; mutations need this generated token for this run"
                );
                admin_token
            }
        };
        let auth = Authenticator::new(AuthSettings {
            admin_token,
            jwt: jwt_settings(&config),
            reads_need_credential: config.auth.read_access == ReadAccess::Authenticated,
        })
        .await?;
        let rate_limits = rate_limits(&config, &auth, &metrics)?;
        let operations = OperationMetrics::register(&metrics)?;
        let http_metrics = HttpMetrics::register(&metrics, operations.clone())?;
        // Spans are exported when an endpoint is set (`telemetry::init` installed the exporter).
        let traces = trace_settings(&config).is_some();
        let api = GraphqlApi::new(
            plans.clone(),
            consistency,
            SchemaLimits {
                traces,
                ..schema_limits(&config)
            },
            operations,
        );
        let responses = ResponseCache::new(
            ResponseCacheSettings {
                max_entries: config.database.response_cache_max_entries,
                ttl: config.database.plan_cache_ttl(),
            },
            api.clone(),
            &metrics,
        )?
        .map(Arc::new);
        let shutting_down = tokio::sync::watch::Sender::new(false);
        let state = AppState {
            api,
            auth,
            responses,
            probes: plans.clone(),
            metrics,
            accepting_requests: Arc::new(AtomicBool::new(true)),
            database_timeout: config.database.database_timeout(),
            query_caching: QueryCaching::new(
                config.http.http_cache_max_age,
                config.database.plan_cache_ttl,
            ),
            graphiql: config.graphql.graphiql,
            traces,
            ready: http_metrics.ready,
            subscriptions: SubscriptionSettings {
                per_connection: usize::try_from(config.subscriptions.subscriptions_per_connection)
                    .unwrap_or(usize::MAX),
                keepalive: config.subscriptions.subscription_keepalive(),
            },
            shutting_down: shutting_down.clone(),
            clients,
            consistency_cookie: config.consistency.cookie(),
        };
        let http_settings = HttpSettings {
            request_timeout: config.http.request_timeout(),
            cors_origins: cors_origins(&config.http.cors_allowed_origins),
            rate_limits,
            traces: trace_settings(&config).map(|settings| settings.request_ratio()),
            server_errors: http_metrics.server_errors,
            requests: http_metrics.requests,
            cors_allowed_headers: config
                .http
                .cors_allowed_headers
                .0
                .iter()
                .filter_map(|name| axum::http::HeaderName::from_bytes(name.as_bytes()).ok())
                .collect(),
        };
        let needs_peer = http_settings.rate_limits.is_some();
        let accepting_requests = state.accepting_requests.clone();
        let service = http::service(state, &http_settings);

        let listener = TcpListener::bind(config.http.bind_addr)
            .await
            .map_err(|source| StartupError::Bind {
                addr: config.http.bind_addr,
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: config.http.bind_addr,
            source,
        })?;
        Ok(Self {
            listener,
            service,
            local_addr,
            accepting_requests,
            shutting_down,
            plans,
            needs_peer,
            connections: connection_settings(&config),
            _change_feed: change_feed,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn plans(&self) -> Arc<PlanService> {
        self.plans.clone()
    }

    /// The HTTP service the server runs, for driving it without a socket (benchmarks).
    pub fn service(&self) -> http::HttpService {
        self.service.clone()
    }

    /// Serves until `shutdown` completes, then lets requests in progress finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        info!(addr = %self.local_addr, "plans-api listening; GraphiQL at http://{}/graphql", self.local_addr);
        let accepting_requests = self.accepting_requests.clone();
        let (plans, shutting_down) = (self.plans.clone(), self.shutting_down.clone());
        let shutdown = async move {
            shutdown.await;
            accepting_requests.store(false, Ordering::SeqCst);
            info!("shutting down: finishing requests in progress, completing subscriptions");
            // Every live stream ends: SSE responses finish with `complete`, WebSockets send
            // `complete` for each subscription and then close.
            plans.shut_down_live_lists();
            shutting_down.send_replace(true);
        };
        // The peer's address goes into each request only when something reads it (the rate
        // limits): one extension map per request that the hot path does not otherwise pay for.
        http::serve(
            self.listener,
            self.service,
            self.needs_peer,
            self.connections,
            shutdown,
        )
        .await;
        // WebSockets are upgraded connections, which the server does not wait for: give them a
        // moment to deliver their `complete` messages and close.
        let deadline = tokio::time::Instant::now() + SUBSCRIPTIONS_DRAIN;
        while self.plans.live_subscriptions() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Ok(())
    }
}

/// How long shutdown waits for WebSocket subscriptions to deliver `complete`.
const SUBSCRIPTIONS_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

fn connection_settings(config: &Config) -> ConnectionSettings {
    if config.http.http_idle_timeout <= config.http.request_timeout {
        warn!(
            "HTTP_IDLE_TIMEOUT is not above REQUEST_TIMEOUT: a request that writes nothing until then is cut off at HTTP_IDLE_TIMEOUT"
        );
    }
    ConnectionSettings {
        header_read_timeout: std::time::Duration::from_secs(config.http.http_header_read_timeout),
        idle_timeout: std::time::Duration::from_secs(config.http.http_idle_timeout),
        max_connections: usize::try_from(config.http.http_max_connections).unwrap_or(usize::MAX),
    }
}

fn live_settings(config: &Config) -> LiveSettings {
    LiveSettings {
        max_subscriptions: usize::try_from(config.subscriptions.subscriptions_max)
            .unwrap_or(usize::MAX),
        refresh_every: config.database.plan_cache_ttl(),
    }
}

fn cache_settings(config: &Config) -> CacheSettings {
    CacheSettings {
        ttl: config.database.plan_cache_ttl(),
        max_entries: config.database.plan_cache_max_entries,
    }
}

/// The trace export settings; `None` when `OTEL_EXPORTER_OTLP_ENDPOINT` is unset or empty.
pub fn trace_settings(config: &Config) -> Option<crate::telemetry::TraceSettings> {
    let endpoint = config
        .telemetry
        .otel_exporter_otlp_endpoint
        .as_deref()?
        .trim();
    (!endpoint.is_empty()).then(|| crate::telemetry::TraceSettings {
        endpoint: endpoint.to_owned(),
        service_name: config.telemetry.otel_service_name.clone(),
        sampler: config.telemetry.otel_traces_sampler.clone(),
        sampler_arg: config.telemetry.otel_traces_sampler_arg,
    })
}

/// The rate limits' settings; `None` when `RATE_LIMIT_PER_SECOND` is 0. The counter is
/// registered either way, so dashboards see a zero rather than no series.
fn rate_limits(
    config: &Config,
    auth: &Authenticator,
    metrics: &prometheus::Registry,
) -> Result<Option<RateLimitSettings>, StartupError> {
    let refused = crate::telemetry::register_counter(
        metrics,
        "http_requests_rate_limited_total",
        "Requests refused with 429 because their client was over its rate limit",
    )?;
    if config.rate_limit.rate_limit_per_second == 0 {
        return Ok(None);
    }
    let proxies = config.rate_limit.rate_limit_trusted_proxies.clone();
    let trusted_proxy: Option<Arc<dyn Fn(std::net::IpAddr) -> bool + Send + Sync>> =
        (!proxies.0.is_empty())
            .then(|| Arc::new(move |ip| proxies.contains(ip)) as Arc<dyn Fn(_) -> _ + Send + Sync>);
    info!(
        per_second = config.rate_limit.rate_limit_per_second,
        burst = config.rate_limit.rate_limit_burst(),
        "rate limits on"
    );
    Ok(Some(RateLimitSettings {
        per_second: config.rate_limit.rate_limit_per_second,
        burst: config.rate_limit.rate_limit_burst(),
        trusted_proxy,
        auth: auth.clone(),
        refused,
    }))
}

/// `None` when no JWT key is configured (then only the admin token is accepted).
pub fn jwt_settings(config: &Config) -> Option<JwtSettings> {
    let configured = config.auth.jwt_secret.is_some()
        || config.auth.jwt_jwks_url.is_some()
        || config.auth.jwt_jwks_file.is_some();
    configured.then(|| JwtSettings {
        secret: config
            .auth
            .jwt_secret
            .as_ref()
            .map(|secret| secret.as_bytes().to_vec()),
        jwks_url: config.auth.jwt_jwks_url.clone(),
        jwks_file: config.auth.jwt_jwks_file.clone(),
        issuer: config.auth.jwt_issuer.clone(),
        audience: config.auth.jwt_audience.clone(),
        operator_claim: config.auth.jwt_operator_claim.clone(),
        role_claim: config.auth.jwt_role_claim.clone(),
    })
}

fn schema_limits(config: &Config) -> SchemaLimits {
    let size = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
    SchemaLimits {
        max_depth: size(config.graphql.graphql_max_depth),
        max_complexity: size(config.graphql.graphql_max_complexity),
        max_root_fields: size(config.graphql.graphql_max_root_fields),
        max_aliases: size(config.graphql.graphql_max_aliases),
        introspection: config.graphql.graphql_introspection,
        traces: false,
    }
}

/// Persisted operations (the manifest read and checked), batches and the body limit.
fn client_support(config: &Config) -> Result<ClientSupport, StartupError> {
    let manifest = config
        .graphql
        .trusted_documents_file
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path).map_err(|source| StartupError::TrustedDocumentsFile {
                path: path.clone(),
                source,
            })
        })
        .transpose()?;
    let mode = config.graphql.trusted_documents.map(|mode| match mode {
        TrustedDocuments::Off => TrustedMode::Off,
        TrustedDocuments::Allow => TrustedMode::Allow,
        TrustedDocuments::Require => TrustedMode::Require,
    });
    let persisted =
        PersistedOperations::new(manifest.as_deref(), mode, config.graphql.apq_max_entries)?;
    if persisted.mode() != TrustedMode::Off {
        info!(mode = ?persisted.mode(), "trusted documents manifest loaded and checked");
    }
    Ok(ClientSupport {
        persisted,
        max_batch: usize::try_from(config.graphql.graphql_max_batch).unwrap_or(usize::MAX),
        max_request_bytes: config.http.max_request_bytes(),
    })
}

fn cors_origins(origins: &AllowedOrigins) -> CorsOrigins {
    match origins {
        AllowedOrigins::None => CorsOrigins::None,
        AllowedOrigins::Any => CorsOrigins::Any,
        // Parsing checked each is a plain `scheme://host[:port]`, so each is a valid header value.
        AllowedOrigins::List(origins) => CorsOrigins::List(
            origins
                .iter()
                .filter_map(|origin| axum::http::HeaderValue::from_str(origin).ok())
                .collect(),
        ),
    }
}

/// The plan service answers the health and metrics endpoints' questions.
#[async_trait::async_trait]
impl Probes for PlanService {
    async fn database_is_up(&self) -> bool {
        PlanService::database_is_up(self).await
    }

    async fn refresh_metrics(&self) {
        PlanService::refresh_metrics(self).await;
    }
}

/// Connects to `config.database.database_url` and brings the schema up to date (idempotent).
pub async fn connect_and_migrate(config: &Config) -> Result<DatabaseConnection, StartupError> {
    let db = connect(config).await?;
    Migrator::up(&db, None)
        .await
        .map_err(StartupError::Migrate)?;
    Ok(db)
}

async fn connect(config: &Config) -> Result<DatabaseConnection, StartupError> {
    let url = &config.database.database_url;
    let mut options = ConnectOptions::new(url.clone());
    // An in-memory SQLite database exists once per connection: more than one would split it.
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    options
        .max_connections(if in_memory {
            1
        } else {
            config.database.database_max_connections
        })
        .min_connections(1)
        .connect_timeout(config.database.database_timeout())
        .acquire_timeout(config.database.database_timeout())
        .sqlx_logging(false)
        // A locked SQLite file fails a request after the same wait as a busy pool.
        .map_sqlx_sqlite_opts({
            let timeout = config.database.database_timeout();
            move |options| options.busy_timeout(timeout)
        })
        // Named, so an operator can tell the server's connections apart in pg_stat_activity.
        .map_sqlx_postgres_opts(|options| options.application_name("plans-api"));
    let db = Database::connect(options)
        .await
        .map_err(StartupError::Connect)?;
    let backend = db.get_database_backend();
    if backend == DbBackend::Sqlite && !in_memory {
        // WAL lets readers proceed while a write is committing; the setting sticks to the file.
        db.execute_unprepared("PRAGMA journal_mode=WAL")
            .await
            .map_err(StartupError::Connect)?;
    }
    info!(backend = ?backend, "connected to the database");
    Ok(db)
}

/// What `plans-api seed-demo` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedOutcome {
    /// This many plans were added.
    Seeded(u64),
    /// The table already held this many plans, and nothing was added.
    AlreadySeeded(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("could not seed the demo plans: {0}")]
    Plans(#[from] crate::plans::PlanError),
}

/// Loads the deterministic demo data set ([`crate::plans::demo_plans`]) into the configured
/// database. Only into an empty table unless `force`, so re-running does not duplicate it.
/// A running server does not see the new plans until its cache entries expire or it restarts.
pub async fn seed_demo(
    config: &Config,
    users: u32,
    plans_per_user: u32,
    force: bool,
) -> Result<SeedOutcome, SeedError> {
    let db = connect_and_migrate(config).await?;
    let metrics = CacheMetrics::register(&prometheus::Registry::new(), "seed_cache")
        .map_err(StartupError::Metrics)?;
    let plans = PlanService::new(db, cache_settings(config), metrics);
    let existing = plans.count().await?;
    if existing > 0 && !force {
        return Ok(SeedOutcome::AlreadySeeded(existing));
    }
    let seeded = plans
        .import(crate::plans::demo_plans(users, plans_per_user))
        .await?;
    Ok(SeedOutcome::Seeded(seeded))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
