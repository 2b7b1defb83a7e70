//! Starts the real application (the same `Application::build` as `main`) on port 0, against a
//! database of its own: a temporary SQLite file, or a fresh schema in the PostgreSQL database
//! named by `TEST_DATABASE_URL`. Logs are shown only when `TEST_LOG` is set.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use plans_api::config::AllowedOrigins;
use plans_api::plans::PlanService;
use plans_api::{Application, Config};
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, TransactionTrait,
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

pub const TOKEN: &str = "test-admin-token-0123456789";

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates `<name>_sqlite` and `<name>_postgres` tests from `async fn name(backend: Backend)`.
/// The PostgreSQL variant is skipped (loudly) without `TEST_DATABASE_URL`, and fails instead when
/// `CI=true`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    if $crate::helpers::postgres_url().is_some() {
                        super::$name($crate::helpers::Backend::Postgres).await;
                    }
                }
            )*
        }
    };
}

/// The PostgreSQL URL for tests, or `None` (with a note) when there is none outside CI.
pub fn postgres_url() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true but TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI")
        }
        _ => {
            eprintln!("SKIPPED: PostgreSQL test (set TEST_DATABASE_URL to run it)");
            None
        }
    }
}

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

/// A database that lives as long as the test: a temp SQLite file, or a PostgreSQL schema that is
/// dropped afterwards.
pub struct TestDatabase {
    pub url: String,
    _sqlite_dir: Option<tempfile::TempDir>,
    postgres_schema: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("plans.db").display()
                );
                Self {
                    url,
                    _sqlite_dir: Some(dir),
                    postgres_schema: None,
                }
            }
            Backend::Postgres => {
                let admin_url = postgres_url().expect("TEST_DATABASE_URL");
                static COUNTER: AtomicU64 = AtomicU64::new(0);
                let schema = format!(
                    "plans_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::SeqCst),
                    rand_suffix()
                );
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("connect to PostgreSQL");
                admin
                    .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                    .await
                    .expect("create test schema");
                admin.close().await.ok();
                let separator = if admin_url.contains('?') { '&' } else { '?' };
                let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
                Self {
                    url,
                    _sqlite_dir: None,
                    postgres_schema: Some((admin_url, schema)),
                }
            }
        }
    }

    /// A direct connection, for changing rows behind the server's back and counting them.
    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(&self.url)
            .await
            .expect("connect to test database")
    }

    /// Holds a lock that blocks writes to `plans` (not reads) until the returned transaction is
    /// committed or dropped.
    pub async fn lock_plans(&self) -> (DatabaseConnection, DatabaseTransaction) {
        let db = self.connect().await;
        let transaction = db.begin().await.expect("begin");
        if db.get_database_backend() == DbBackend::Postgres {
            transaction
                .execute_unprepared("LOCK TABLE plans IN EXCLUSIVE MODE")
                .await
                .expect("lock table");
        } else {
            // A write takes SQLite's write lock for the rest of the transaction.
            transaction
                .execute_unprepared("DELETE FROM plans WHERE id = -1")
                .await
                .expect("take the write lock");
        }
        (db, transaction)
    }
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    (RandomState::new().hash_one(std::time::SystemTime::now()) % 1_000_000) as u32
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, schema)) = self.postgres_schema.take() {
            // Drop runs outside async context: use a short-lived runtime on its own thread.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async {
                    if let Ok(admin) = Database::connect(&admin_url).await {
                        let _ = admin
                            .execute_unprepared(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                            .await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
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
    let mut config = Config {
        database_url: url,
        bind_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        plan_cache_ttl: options.ttl_seconds,
        plan_cache_max_entries: options.max_entries,
        http_cache_max_age: options.http_cache_max_age,
        cors_allowed_origins: options.cors_allowed_origins,
        response_cache_max_entries: options.response_cache_entries,
        admin_token: Some(TOKEN.to_owned()),
        plan_cache_listen: options.listen,
        ..Config::default()
    };
    (options.tweak)(&mut config);
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
        assert_no_errors(&body);
        body["data"]["plans"]
            .as_array()
            .expect("plans list")
            .iter()
            .map(|plan| plan["id"].as_str().expect("id").to_owned())
            .collect()
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
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.metric("plan_cache_notifications_total").await < f64::from(count) {
            assert!(
                std::time::Instant::now() < deadline,
                "{count} notifications never arrived"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
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

pub fn assert_no_errors(body: &Value) {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
}

/// The `extensions.code` of the first error, asserting there is one.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code: {body}"))
}

/// Asserts the first error is `INTERNAL_SERVER_ERROR` with a message that names no SQL, table,
/// host, credential or driver detail.
pub fn assert_clean_internal_error(body: &Value) {
    assert_eq!(error_code(body), "INTERNAL_SERVER_ERROR", "{body}");
    let message = body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_lowercase();
    for leak in [
        "select",
        "insert",
        "delete",
        "plans",
        "table",
        "sql",
        "relation",
        "127.0.0.1",
        "postgres",
        "connection",
        "refused",
        "pool",
        "timed out",
        "lock",
        "busy",
    ] {
        assert!(!message.contains(leak), "message leaks {leak:?}: {message}");
    }
}
