//! SQLite connection handling for a move's explicit transaction: a connection whose outcome is not
//! settled is closed rather than pooled, and the error helpers that go with it.

use std::sync::Arc;

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{Sqlite, SqliteConnection};
use sea_orm::{DbErr, RuntimeErr, sqlx};

/// A pooled SQLite connection that goes back to the pool only once the outcome of its command
/// is settled. Dropped before (the future cancelled, or a `ROLLBACK` that failed), it is closed,
/// as a transaction may be open on it; SQLite rolls that back on close.
pub(super) struct SettledOrClosed {
    connection: PoolConnection<Sqlite>,
    settled: bool,
}

impl SettledOrClosed {
    pub(super) fn new(connection: PoolConnection<Sqlite>) -> Self {
        Self {
            connection,
            settled: false,
        }
    }

    pub(super) fn get(&mut self) -> &mut SqliteConnection {
        &mut self.connection
    }

    pub(super) fn settled(&mut self) {
        self.settled = true;
    }
}

impl Drop for SettledOrClosed {
    fn drop(&mut self) {
        if !self.settled {
            self.connection.close_on_drop();
        }
    }
}

/// Whether a `ROLLBACK` failed only because no transaction was open (the command failed before
/// or at its `BEGIN`).
pub(super) fn no_transaction_was_open(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(error) if error.message().contains("no transaction is active"))
}

pub(super) fn sqlx_error(error: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(error)))
}
