//! A database of a test's own: a temporary SQLite file, or a fresh schema in the PostgreSQL
//! database named by `TEST_DATABASE_URL`; and plain SQL on it, behind the server's back.

use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, Statement,
    TransactionTrait,
};

use super::Backend;

/// The PostgreSQL URL for tests, if `TEST_DATABASE_URL` is set. (Whether a PostgreSQL test runs
/// without it is the harness's decision, see `harness`.)
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
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

    /// Runs `sql` on a connection of its own; returns the rows affected.
    pub async fn execute(&self, sql: &str) -> u64 {
        let db = self.connect().await;
        let result = db
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
        db.close().await.ok();
        result.rows_affected()
    }

    /// Inserts a plan with plain SQL, behind the server's back.
    pub async fn insert_behind_the_back(&self, user_id: i32, kind: &str) {
        self.execute(&format!(
            "INSERT INTO plans (user_id, name, connection_type, price_cents, duration_minutes, created_at) \
             VALUES ({user_id}, 'behind the back', '{kind}', 500, 30, '2026-01-01T00:00:00Z')"
        ))
        .await;
    }

    /// The ids in the `plans` table, in order: the truth, read past the server.
    pub async fn ids_in_table(&self) -> Vec<String> {
        let db = self.connect().await;
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT id FROM plans ORDER BY id",
            ))
            .await
            .expect("select ids");
        db.close().await.ok();
        rows.iter()
            .map(|row| row.try_get::<i32>("", "id").expect("id").to_string())
            .collect()
    }

    /// Terminates the change-feed (LISTEN) connections of this test's schema, of every replica
    /// on it (PostgreSQL); returns how many.
    pub async fn kill_change_feeds(&self) -> u64 {
        let schema = self
            .url
            .rsplit("search_path%3D")
            .next()
            .expect("a schema in the URL")
            .to_owned();
        self.execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'plans-api change feed' \
             AND query LIKE '%plans_changed:{schema}%'"
        ))
        .await
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
