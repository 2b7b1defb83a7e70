//! Start-up and shutdown: connect, migrate, build the plan service, warm its cache, bind, serve.
//! The one place that knows every layer: it turns the [`Config`] into each layer's settings and
//! hands each layer the one below it.
//!
//! [`settings`] maps the configuration to each layer's settings, [`database`] connects and
//! migrates, [`plan_layer`] starts the plan service, its change feed and its warm-up in order,
//! and [`seed`] loads the demo data set.

mod database;
mod plan_layer;
mod seed;
mod settings;

pub use database::connect_and_migrate;
pub use seed::{SeedError, SeedOutcome, seed_demo};
pub use settings::{jwt_settings, trace_settings};

use plan_layer::PlanLayer;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::DbErr;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::auth::{AdminToken, AuthSettings, Authenticator, JwksError};
use crate::config::{Config, ReadAccess};
use crate::graphql::{GraphqlApi, OperationMetrics, SchemaLimits};
use crate::http::{
    self, AppState, ConnectionSettings, HttpMetrics, ManifestError, Probes, ResponseCache,
    ResponseCacheSettings,
};
use crate::plans::PlanService;
use crate::plans::change_feed::ChangeFeed;

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
        let clients = settings::client_support(&config)?;
        let db = connect_and_migrate(&config).await?;

        let metrics = prometheus::Registry::new();
        let PlanLayer {
            plans,
            consistency,
            change_feed,
        } = plan_layer::start(&config, db, &metrics).await?;

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
            jwt: settings::jwt_settings(&config),
            reads_need_credential: config.auth.read_access == ReadAccess::Authenticated,
        })
        .await?;
        let rate_limits = settings::rate_limits(&config, &auth, &metrics)?;
        let operations = OperationMetrics::register(&metrics)?;
        let http_metrics = HttpMetrics::register(&metrics, operations.clone())?;
        // Spans are exported when an endpoint is set (`telemetry::init` installed the exporter).
        let traces = settings::trace_settings(&config).is_some();
        let api = GraphqlApi::new(
            plans.clone(),
            consistency,
            SchemaLimits {
                traces,
                ..settings::schema_limits(&config)
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
        let http_settings = settings::http_settings(&config, rate_limits, &http_metrics);
        let state = AppState {
            api,
            auth,
            responses,
            probes: plans.clone(),
            metrics,
            accepting_requests: Arc::new(AtomicBool::new(true)),
            database_timeout: config.database.database_timeout(),
            query_caching: settings::query_caching(&config),
            graphiql: config.graphql.graphiql,
            traces,
            ready: http_metrics.ready,
            subscriptions: settings::subscription_settings(&config),
            shutting_down: shutting_down.clone(),
            clients,
            consistency_cookie: config.consistency.cookie(),
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
            connections: settings::connection_settings(&config),
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
