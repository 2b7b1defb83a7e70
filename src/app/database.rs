//! The database: connected (pool sized and named, SQLite in WAL mode) and migrated.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use tracing::info;

use super::StartupError;
use crate::Config;

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
