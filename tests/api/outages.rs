//! The database goes away and comes back: requests fail cleanly, readiness says so, the process
//! stays up, nothing half-written remains, and it recovers by itself with nothing stale.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::backend_tests;
use crate::helpers::{
    AppOptions, Backend, TestApp, TestDatabase, assert_clean_internal_error, postgres_url,
    spawn_app_at, spawn_app_with,
};

backend_tests!(
    postgres_only: cut_off_and_restored;
    sqlite_only: locked_and_released;
);

/// A TCP proxy in front of PostgreSQL that the test can cut and restore, so the shared server and
/// the other tests are untouched.
struct TcpProxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (cut, connections) = (cut.clone(), connections.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        continue; // dropped: connection refused, in effect
                    }
                    let relay = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    connections.lock().unwrap().push(relay);
                }
            }
        });
        Self {
            addr,
            cut,
            connections,
            accept,
        }
    }

    /// Closes every relayed connection and refuses new ones.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for relay in self.connections.lock().unwrap().drain(..) {
            relay.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

async fn all_plans(app: &TestApp) -> Value {
    app.query("{ plans { id } }").await
}

async fn create(app: &TestApp) -> Value {
    app.graphql(
        "mutation { createPlan(input: {userId: 1, name: \"during outage\", connectionType: HOTSPOT, priceCents: 1, durationMinutes: 1}) { id } }",
        json!({}),
    )
    .await
}

/// Waits (up to 15 s) for the server to recover.
async fn eventually(what: &str, condition: impl AsyncFnMut() -> bool) {
    crate::helpers::eventually(
        what,
        Duration::from_secs(15),
        Duration::from_millis(50),
        condition,
    )
    .await;
}

async fn cut_off_and_restored() {
    let admin_url = postgres_url().expect("TEST_DATABASE_URL");
    let database = Arc::new(TestDatabase::new(Backend::Postgres).await);
    let upstream = {
        let url = reqwest::Url::parse(&admin_url).unwrap();
        let host = url.host_str().unwrap().replace("localhost", "127.0.0.1");
        format!("{host}:{}", url.port().unwrap_or(5432))
            .parse()
            .unwrap()
    };
    let proxy = TcpProxy::start(upstream).await;
    let mut via_proxy = reqwest::Url::parse(&database.url).unwrap();
    via_proxy.set_host(Some("127.0.0.1")).unwrap();
    via_proxy.set_port(Some(proxy.addr.port())).unwrap();
    let options = AppOptions::tweaked(|config| config.database.database_timeout = 1);
    let app = spawn_app_at(via_proxy.to_string(), database.clone(), options).await;
    let kept = app.create_ok(1, "HOTSPOT", "kept").await;
    assert_eq!(
        all_plans(&app).await["data"]["plans"][0]["id"],
        kept.as_str()
    );

    proxy.cut();
    // The listener notices at once and the replica stops trusting its cache: reads fail too.
    eventually("reads fail", async || {
        all_plans(&app).await.get("errors").is_some()
    })
    .await;
    assert_clean_internal_error(&all_plans(&app).await);
    assert_clean_internal_error(&create(&app).await);
    assert_clean_internal_error(&app.delete_plan(&kept).await);
    assert_eq!(app.get_status("/health/ready").await, 503);
    assert_eq!(app.get_status("/health/live").await, 200);
    assert_eq!(app.metric("plan_cache_listener_connected").await, 0.0);
    // What the alert rules in deploy/ watch: readiness failing, 5xx answers.
    assert_eq!(app.metric("http_ready").await, 0.0);
    assert!(app.metric("http_responses_server_errors_total").await >= 1.0);

    // Meanwhile someone changes the database directly.
    database.insert_behind_the_back(1, "hotspot").await;

    proxy.restore();
    eventually("ready again", async || {
        app.get_status("/health/ready").await == 200
    })
    .await;
    assert_eq!(app.metric("http_ready").await, 1.0);
    eventually("listening again", async || {
        app.metric("plan_cache_listener_connected").await == 1.0
    })
    .await;
    // The failed writes left nothing; the direct change is served; nothing stale.
    let truth = database.ids_in_table().await;
    assert_eq!(
        truth.len(),
        2,
        "only the kept plan and the direct insert: {truth:?}"
    );
    assert!(truth.contains(&kept));
    let served: Vec<String> = app.plan_ids(None, None).await;
    assert_eq!(served, truth);
    assert_eq!(app.plan_ids(Some(1), Some("HOTSPOT")).await, truth);
    assert!(app.metric("plan_cache_listener_reconnects_total").await >= 1.0);
    app.create_ok(2, "PPPOE", "after").await;
}

/// SQLite has no connection to cut, and file permissions do not stop root; what does happen is
/// another process holding the write lock (a backup, a long migration, a stuck job). Writes fail
/// cleanly after `DATABASE_TIMEOUT`; reads still work (WAL), so the server stays ready.
async fn locked_and_released() {
    let options = AppOptions::tweaked(|config| config.database.database_timeout = 1);
    let app = spawn_app_with(Backend::Sqlite, options).await;
    let kept = app.create_ok(1, "HOTSPOT", "kept").await;
    let (db, lock) = app.database.lock_plans().await;

    let started = Instant::now();
    assert_clean_internal_error(&create(&app).await);
    assert_clean_internal_error(&app.delete_plan(&kept).await);
    // The database refused each write (its lock wait timed out), so each wrote nothing and
    // drops nothing.
    assert_eq!(app.plan_ids(None, None).await, vec![kept.clone()]);
    let misses = app.metric("plan_cache_misses_total").await;
    assert_clean_internal_error(
        &app.graphql(
            "mutation($id: ID!) { updatePlan(id: $id, input: { name: \"renamed\" }) { id } }",
            json!({ "id": kept }),
        )
        .await,
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(app.get_status("/health/ready").await, 200);
    // Nothing changed, so the cached list is still the truth and is still served.
    assert_eq!(app.plan_ids(None, None).await, vec![kept.clone()]);
    assert_eq!(app.metric("plan_cache_misses_total").await, misses);

    drop(lock);
    db.close().await.ok();
    eventually("ready again", async || {
        app.get_status("/health/ready").await == 200
    })
    .await;
    assert_eq!(app.database.ids_in_table().await, vec![kept.clone()]);
    let created = app.create_ok(2, "PPPOE", "after").await;
    assert_eq!(app.plan_ids(None, None).await, vec![kept, created]);
}
