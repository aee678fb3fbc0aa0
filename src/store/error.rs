//! The one error type of the store boundary.

use std::path::PathBuf;

/// Everything that can go wrong opening, migrating or using the store.
///
/// Messages name the file and say what to do where there is something to do; they never contain
/// stored values (which may be secrets).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Creating the data directory or the store file, or fixing its permissions, failed.
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Another process (usually another igloo) has the store open.
    #[error(
        "store {path} is already open in another process; stop the other igloo instance or point DB_PATH elsewhere"
    )]
    Locked { path: PathBuf },

    /// The file was written by a newer igloo; opening it for writing could damage it.
    #[error(
        "store {path} has schema version {found}, but this igloo only knows up to version {supported}; upgrade igloo (the file was not modified)"
    )]
    NewerSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    /// The file is a redb database but holds no igloo schema.
    #[error(
        "{path} is a database but not an igloo store (no schema version); point DB_PATH elsewhere"
    )]
    NotAnIglooStore { path: PathBuf },

    /// The file could not be opened as a redb database at all.
    #[error("cannot open store {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: redb::DatabaseError,
    },

    /// A migration step failed; its transaction was rolled back, so the file stays at `from`.
    #[error("migrating the store from schema version {from} to {to} failed: {source}")]
    Migration {
        from: u32,
        to: u32,
        #[source]
        source: Box<StoreError>,
    },

    /// A setting key outside the accepted form.
    #[error(
        "invalid setting key {key:?}: use 1 to {max} characters from a-z, 0-9, '_', '.', '-'",
        max = crate::store::settings::MAX_KEY_LEN
    )]
    InvalidKey { key: String },

    /// A test-only writer was used on a store at the wrong version.
    #[error("operation needs schema version {expected}, the store is at {actual}")]
    WrongVersion { expected: u32, actual: u32 },

    /// An error inside redb during a read or write.
    #[error("store database error: {0}")]
    Database(redb::Error),

    /// After an I/O error the store file could not be opened again yet (for example the disk
    /// is still full); the next use tries again.
    #[error(
        "store {path} is not open after an I/O error; free some space, it re-opens on its next use"
    )]
    Unavailable { path: PathBuf },

    /// A stored record could not be decoded (damaged or written by an incompatible version).
    #[error("damaged record in table {table}")]
    Corrupt { table: &'static str },

    /// The blocking task running a store operation panicked or was cancelled.
    #[error("store task failed: {0}")]
    Task(String),
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        super::note_redb_error(&e);
        StoreError::Database(e)
    }
}

impl StoreError {
    /// True for a failed write or read of the file itself (disk full, I/O error), as opposed
    /// to a damaged record or a bad request.
    pub fn is_io(&self) -> bool {
        matches!(
            self,
            StoreError::Database(redb::Error::Io(_) | redb::Error::PreviousIo)
                | StoreError::Unavailable { .. }
        )
    }
}

// redb has one error type per operation; fold them all into `redb::Error` so `?` works in
// store code and in migrations.
macro_rules! from_redb {
    ($($t:ty),* $(,)?) => {
        $(impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::from(redb::Error::from(e))
            }
        })*
    };
}
from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
);
