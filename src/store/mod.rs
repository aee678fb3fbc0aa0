//! The redb store: one crash-safe file holding settings and, later, shares, policies and
//! counters.
//!
//! * [`Store::open`] resolves DB_PATH ([`resolve_db_path`]), makes the directory 0700 and the
//!   file 0600, refuses files from a newer igloo without writing to them, and applies pending
//!   [`migrations`] one transaction per step.
//! * Every commit uses redb's default (immediate) durability: once a write call returns `Ok`, the
//!   data survives a crash or power loss.
//! * All methods block on disk I/O (a commit is an fsync). On the async runtime, call them inside
//!   [`Store::run_blocking`] (which uses `spawn_blocking`), except single reads at start-up.
//! * Later modules open their own tables through [`Store::db`] using the definitions in
//!   [`schema`]; tables added after schema v2 are created on their first write (a read of a
//!   missing table means "empty"), so they need no migration.

pub mod api_keys;
pub mod credentials;
mod error;
pub mod migrations;
pub mod nip46;
mod path;
pub mod policies;
pub mod schema;
pub mod sessions;
pub mod settings;
pub mod users;
pub mod v2_nonces;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, DatabaseError, ReadOnlyDatabase};

pub use error::StoreError;
pub use migrations::{CURRENT_VERSION, Migration};
pub use path::{DB_FILE_NAME, names_store_file, resolve_db_path};

/// Page cache bound; the store is small and idle RSS matters on a Pi.
const CACHE_BYTES: usize = 4 * 1024 * 1024;

/// Handle to the open store. Cheap to clone; all clones share one database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    path: PathBuf,
    version: u32,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("schema_version", &self.inner.version)
            .finish_non_exhaustive()
    }
}

/// What [`Store::close`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseOutcome {
    /// This was the last handle: the file is closed cleanly and unlocked.
    Closed,
    /// Other clones are still alive; the file closes when the last one is dropped.
    /// Nothing is lost either way, since every commit is already durable.
    Deferred { other_handles: usize },
}

impl Store {
    /// Opens the store at DB_PATH `path` (see [`resolve_db_path`]), creating and migrating it to
    /// [`CURRENT_VERSION`] as needed.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with(path, migrations::MIGRATIONS)
    }

    pub(crate) fn open_with(path: &Path, migrations: &[Migration]) -> Result<Store, StoreError> {
        let file = path::prepare(path)?;
        let supported = u32::try_from(migrations.len()).unwrap_or(u32::MAX);
        let open_err = |source: DatabaseError| match source {
            DatabaseError::DatabaseAlreadyOpen => StoreError::Locked { path: file.clone() },
            source => StoreError::Open {
                path: file.clone(),
                source,
            },
        };

        // Look before opening for writing, so a newer file is never touched. A file that was
        // not closed cleanly cannot be opened read-only; it is then checked right after redb's
        // crash recovery, before any transaction of ours.
        let len = std::fs::metadata(&file)
            .map_err(|source| StoreError::Io {
                path: file.clone(),
                source,
            })?
            .len();
        if len > 0 {
            match redb::Builder::new()
                .set_cache_size(CACHE_BYTES)
                .open_read_only(&file)
            {
                Ok(ro) => {
                    let found = migrations::read_version(&ro, &file);
                    close_read_only(ro);
                    check_not_newer(found?, supported, &file)?;
                }
                Err(DatabaseError::RepairAborted) => {}
                Err(e) => return Err(open_err(e)),
            }
        }

        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(&file)
            .map_err(open_err)?;
        let found = migrations::read_version(&db, &file)?;
        check_not_newer(found, supported, &file)?;
        let version = migrations::migrate(&db, found, migrations)?;
        tracing::debug!(path = %file.display(), version, "store open");
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                path: file,
                version,
            }),
        })
    }

    /// The schema version of the open file (always [`CURRENT_VERSION`] after [`Store::open`]).
    pub fn schema_version(&self) -> u32 {
        self.inner.version
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The directory holding the store file (the data directory).
    pub fn data_dir(&self) -> &Path {
        self.inner.path.parent().unwrap_or(Path::new("."))
    }

    /// The underlying database, for modules with their own tables (see [`schema`]).
    pub fn db(&self) -> &Database {
        &self.inner.db
    }

    /// Runs blocking store work on tokio's blocking pool.
    pub async fn run_blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// How many other handles (clones) of this store are alive.
    pub fn other_handles(&self) -> usize {
        Arc::strong_count(&self.inner).saturating_sub(1)
    }

    /// Closes the file cleanly (so the next open needs no recovery) if this is the last handle.
    pub fn close(self) -> Result<CloseOutcome, StoreError> {
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => {
                let path = inner.path;
                inner.db.close().map_err(|source| StoreError::Open {
                    path: path.clone(),
                    source,
                })?;
                tracing::debug!(path = %path.display(), "store closed");
                Ok(CloseOutcome::Closed)
            }
            Err(shared) => Ok(CloseOutcome::Deferred {
                other_handles: Arc::strong_count(&shared).saturating_sub(1),
            }),
        }
    }
}

fn close_read_only(ro: ReadOnlyDatabase) {
    if let Err(e) = ro.close() {
        tracing::debug!("closing read-only store handle: {e}");
    }
}

fn check_not_newer(found: u32, supported: u32, path: &Path) -> Result<(), StoreError> {
    if found > supported {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn store_is_send_sync_clone() {
        assert_send_sync::<Store>();
    }

    #[test]
    fn settings_roundtrip_and_persist() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        assert_eq!(store.schema_version(), CURRENT_VERSION);
        assert_eq!(store.get_setting("group_name").unwrap(), None);
        store.put_setting("group_name", b"home").unwrap();
        store.put_setting("relays", b"[]").unwrap();
        assert!(store.delete_setting("relays").unwrap());
        assert!(!store.delete_setting("relays").unwrap());
        assert_eq!(store.close().unwrap(), CloseOutcome::Closed);

        let store = Store::open(tmp.path()).unwrap();
        assert_eq!(
            store.get_setting("group_name").unwrap().as_deref(),
            Some(&b"home"[..])
        );
        assert_eq!(store.setting_keys().unwrap(), vec!["group_name".to_owned()]);
    }

    #[test]
    fn bad_key_is_rejected_not_stored() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        assert!(matches!(
            store.put_setting("GROUP_NAME", b"x"),
            Err(StoreError::InvalidKey { .. })
        ));
        assert!(store.setting_keys().unwrap().is_empty());
    }

    #[test]
    fn second_open_in_same_process_is_locked() {
        let tmp = tempfile::tempdir().unwrap();
        let _a = Store::open(tmp.path()).unwrap();
        let err = Store::open(tmp.path()).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    }

    #[test]
    fn close_with_other_handles_is_deferred() {
        let tmp = tempfile::tempdir().unwrap();
        let a = Store::open(tmp.path()).unwrap();
        let b = a.clone();
        assert_eq!(
            a.close().unwrap(),
            CloseOutcome::Deferred { other_handles: 1 }
        );
        b.put_setting("still_open", b"1").unwrap();
        assert_eq!(b.close().unwrap(), CloseOutcome::Closed);
        // Fully closed: it can be opened again.
        let c = Store::open(tmp.path()).unwrap();
        assert_eq!(
            c.get_setting("still_open").unwrap().as_deref(),
            Some(&b"1"[..])
        );
    }

    #[test]
    fn foreign_redb_file_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("other.redb");
        {
            let db = Database::create(&file).unwrap();
            let txn = db.begin_write().unwrap();
            let def: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("x");
            txn.open_table(def).unwrap().insert(1, 2).unwrap();
            txn.commit().unwrap();
        }
        let err = Store::open(&file).unwrap_err();
        assert!(matches!(err, StoreError::NotAnIglooStore { .. }), "{err}");
    }

    #[test]
    fn garbage_file_is_an_error_not_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("junk.redb");
        std::fs::write(&file, vec![0x5a; 8192]).unwrap();
        assert!(Store::open(&file).is_err());
    }

    #[tokio::test]
    async fn run_blocking_runs_on_the_pool() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        store
            .run_blocking(|s| s.put_setting("k", b"v"))
            .await
            .unwrap();
        let v = store.run_blocking(|s| s.get_setting("k")).await.unwrap();
        assert_eq!(v.as_deref(), Some(&b"v"[..]));
    }
}
