//! The database. SQLite (WAL) in the data directory is the embedded default; everything outside
//! this module talks to it through typed methods, so another backend can come in behind them.
//!
//! The SQL here stays within what SQLite and PostgreSQL both understand (`ON CONFLICT … DO UPDATE`,
//! `RETURNING`, integer timestamps and booleans); only the migrations' DDL is per backend.

pub mod identity;
pub mod kv;
pub mod library;
pub mod queue;

use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

/// A failure of the database layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database could not be opened or migrated.
    #[error("cannot open the database {path}: {source}")]
    Open {
        /// The database file.
        path: String,
        /// The cause.
        source: sqlx::Error,
    },
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
}

/// The database handle. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Storage {
    pub(crate) pool: SqlitePool,
}

impl Storage {
    /// Begins a transaction that will write. SQLite takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so two writers queue on the busy timeout instead of one failing with
    /// "database is locked" when it upgrades a read to a write.
    pub(crate) async fn write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// Opens (creating if needed) the SQLite database at `path` and applies the migrations.
    pub async fn open_sqlite(path: &Path) -> Result<Storage, StorageError> {
        let open_err = |source| StorageError::Open {
            path: path.display().to_string(),
            source,
        };
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(open_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL is durable across process crashes; only a power loss may lose the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(open_err)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| open_err(e.into()))?;
        Ok(Storage { pool })
    }
}
