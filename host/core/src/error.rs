//! The one error type of the core services: each case says what was wrong, and maps to an HTTP
//! status and to the WIT `host-error` at the edges.

use crate::storage::StorageError;

/// Why a core operation failed. The message is meant for the user and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A malformed argument: a bad name, a negative copy count, a file that is not G-code.
    #[error("{0}")]
    Invalid(String),
    /// The user, file, job or task does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The operation conflicts with the current state (the file exists, the task is running…).
    #[error("{0}")]
    Conflict(String),
    /// Over a configured size limit.
    #[error("{0}")]
    TooLarge(String),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The disk failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl CoreError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CoreError {
        let context = context.into();
        move |source| CoreError::Io { context, source }
    }
}

impl From<sqlx::Error> for CoreError {
    fn from(e: sqlx::Error) -> CoreError {
        CoreError::Storage(StorageError::Query(e))
    }
}
