//! The real application (the same `Application::build` as `main`) on port 0, on a test database,
//! and a client for it that speaks the GraphQL API.

use std::net::SocketAddr;
use std::sync::{Arc, Once};
use std::time::Duration;

use plans_api::config::AllowedOrigins;
use plans_api::plans::PlanService;
use plans_api::{Application, Config};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::{Backend, TOKEN, TestDatabase, assert_no_errors, eventually, plan_ids_of};

fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
                .with_test_writer()
                .init();
        }
    });
}

/// A running server and a client for it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub database: Arc<TestDatabase>,
    /// The server's plan service, for driving the domain directly (bulk imports).
    pub plans: Arc<PlanService>,
    server: JoinHandle<()>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A change to the configuration made at run time.
pub type Configure = Box<dyn FnOnce(&mut Config) + Send>;

/// Options for [`spawn_app_with`].
pub struct AppOptions {
    pub ttl_seconds: u64,
    pub max_entries: u64,
    /// PostgreSQL: run the LISTEN/NOTIFY change feed (off for tests that change rows behind the
    /// server's back and expect the TTL, not a notification, to reveal it).
    pub listen: bool,
    /// Any other setting.
    pub tweak: fn(&mut Config),
    pub http_cache_max_age: u64,
    pub cors_allowed_origins: AllowedOrigins,
    /// `RESPONSE_CACHE_MAX_ENTRIES`; 0 turns the response cache off.
    pub response_cache_entries: u64,
    /// Any other setting, from values known only at run time (a JWKS server's port).
    pub configure: Option<Configure>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            ttl_seconds: 300,
            max_entries: 10_000,
            listen: true,
            tweak: |_| {},
            http_cache_max_age: 0,
            cors_allowed_origins: AllowedOrigins::None,
            response_cache_entries: 10_000,
            configure: None,
        }
    }
}

impl AppOptions {
    /// `PLAN_CACHE_TTL=0`: no plan cache, every read goes to the database.
    pub fn uncached() -> Self {
        Self {
            ttl_seconds: 0,
            ..Self::default()
        }
    }

    /// CORS open to every origin (`CORS_ALLOWED_ORIGINS=*`).
    pub fn cors_any() -> Self {
        Self {
            cors_allowed_origins: AllowedOrigins::Any,
            ..Self::default()
        }
    }

    /// CORS open to the `origins` listed.
    pub fn cors_list(origins: &[&str]) -> Self {
        Self {
            cors_allowed_origins: AllowedOrigins::List(
                origins.iter().map(|origin| (*origin).to_owned()).collect(),
            ),
            ..Self::default()
        }
    }

    /// The defaults with some other setting changed.
    pub fn tweaked(tweak: fn(&mut Config)) -> Self {
        Self {
            tweak,
            ..Self::default()
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, AppOptions::default()).await
}

pub async fn spawn_app_with(backend: Backend, options: AppOptions) -> TestApp {
    let database = Arc::new(TestDatabase::new(backend).await);
    spawn_app_on(database, options).await
}

/// Starts an app on an existing test database (e.g. a second instance, or after seeding rows).
pub async fn spawn_app_on(database: Arc<TestDatabase>, options: AppOptions) -> TestApp {
    spawn_app_at(database.url.clone(), database, options).await
}

/// Starts an app whose `DATABASE_URL` is `url` (e.g. through a proxy) on `database`.
pub async fn spawn_app_at(
    url: String,
    database: Arc<TestDatabase>,
    options: AppOptions,
) -> TestApp {
    init_logging();
    let mut config = Config::default();
    config.database.database_url = url;
    config.http.bind_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    config.database.plan_cache_ttl = options.ttl_seconds;
    config.database.plan_cache_max_entries = options.max_entries;
    config.http.http_cache_max_age = options.http_cache_max_age;
    config.http.cors_allowed_origins = options.cors_allowed_origins;
    config.database.response_cache_max_entries = options.response_cache_entries;
    config.auth.admin_token = Some(TOKEN.to_owned());
    config.database.plan_cache_listen = options.listen;
    (options.tweak)(&mut config);
    if let Some(configure) = options.configure {
        configure(&mut config);
    }
    let application = Application::build(config)
        .await
        .expect("application starts");
    let addr = application.local_addr();
    let plans = application.plans();
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(async move {
        application
            .run_until_stopped(async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
    });
    TestApp {
        addr,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
        database,
        plans,
        server,
        stop: Some(stop),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs a GraphQL request with an optional bearer token; returns (status, body).
    pub async fn post_graphql_as(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// POSTs with the admin token; returns the body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.post_graphql_as(Some(TOKEN), query, variables).await.1
    }

    /// POSTs `query` with `variables` and no token, as any client may; returns the body.
    pub async fn query_with(&self, query: &str, variables: Value) -> Value {
        self.post_graphql_as(None, query, variables).await.1
    }

    /// POSTs `query` without a token or variables, as any client may; returns the body.
    pub async fn query(&self, query: &str) -> Value {
        self.post_graphql_as(None, query, json!({})).await.1
    }

    pub async fn create_plan(&self, input: Value) -> Value {
        self.graphql(
            "mutation($input: CreatePlanInput!) { createPlan(input: $input) { id userId name connectionType priceCents durationMinutes createdAt } }",
            json!({ "input": input }),
        )
        .await
    }

    /// Creates a plan that must succeed; returns its id.
    pub async fn create_ok(&self, user_id: i32, connection_type: &str, name: &str) -> String {
        let body = self
            .create_plan(json!({
                "userId": user_id,
                "name": name,
                "connectionType": connection_type,
                "priceCents": 1000,
                "durationMinutes": 60,
            }))
            .await;
        assert_no_errors(&body);
        body["data"]["createPlan"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    pub async fn delete_plan(&self, id: &str) -> Value {
        self.graphql(
            "mutation($id: ID!) { deletePlan(id: $id) }",
            json!({ "id": id }),
        )
        .await
    }

    /// `plans(userId, connectionType)`; returns the ids in the order served.
    pub async fn plan_ids(
        &self,
        user_id: Option<i32>,
        connection_type: Option<&str>,
    ) -> Vec<String> {
        let body = self
            .graphql(
                "query($userId: Int, $type: ConnectionType) { plans(userId: $userId, connectionType: $type) { id } }",
                json!({ "userId": user_id, "type": connection_type }),
            )
            .await;
        plan_ids_of(&body)
    }

    /// The value of a metric on `/metrics` (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| {
                let (metric, value) = line.split_once(' ')?;
                (metric == name).then(|| value.trim().parse().expect("metric value"))
            })
            .unwrap_or(0.0)
    }

    pub async fn get_status(&self, path: &str) -> u16 {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
            .status()
            .as_u16()
    }

    /// Waits until the change feed has applied `count` notifications (PostgreSQL only).
    pub async fn wait_for_notifications(&self, count: u32) {
        eventually(
            &format!("{count} notifications"),
            Duration::from_secs(10),
            Duration::from_millis(10),
            async || self.metric("plan_cache_notifications_total").await >= f64::from(count),
        )
        .await;
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.server).await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}
