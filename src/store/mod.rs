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

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

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
    /// None only while a re-open after an I/O error has not succeeded yet.
    db: RwLock<Option<Arc<Database>>>,
    /// Set when redb reported an I/O error on this store (disk full, write error): redb then
    /// refuses every later transaction ("Previous I/O error occurred"), so the next use closes
    /// and re-opens the file (redb repairs it from its last durable commit).
    io_failed: Arc<AtomicBool>,
    path: PathBuf,
    version: u32,
}

thread_local! {
    /// The failure flag of the store this thread last began a transaction on: store methods run
    /// synchronously on one thread, so an I/O error converted into a [`StoreError`] on this
    /// thread belongs to that store.
    static ACTIVE: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Called for every redb error turned into a [`StoreError`]: an I/O error marks the store in
/// use on this thread for a re-open.
pub(crate) fn note_redb_error(e: &redb::Error) {
    if matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo) {
        ACTIVE.with(|a| {
            if let Some(flag) = a.borrow().as_ref() {
                flag.store(true, Ordering::SeqCst);
            }
        });
    }
}

fn open_file(file: &Path) -> Result<Database, DatabaseError> {
    redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(file)
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

        let db = open_file(&file).map_err(open_err)?;
        let found = migrations::read_version(&db, &file)?;
        check_not_newer(found, supported, &file)?;
        let version = migrations::migrate(&db, found, migrations)?;
        tracing::debug!(path = %file.display(), version, "store open");
        Ok(Store {
            inner: Arc::new(Inner {
                db: RwLock::new(Some(Arc::new(db))),
                io_failed: Arc::new(AtomicBool::new(false)),
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

    /// The underlying database, for modules with their own tables (see [`schema`]). Begin a
    /// transaction on it at once and drop the handle (`store.db()?.begin_write()?`): after an
    /// I/O error the store swaps in a freshly opened file, which needs the old one released.
    pub fn db(&self) -> Result<Arc<Database>, StoreError> {
        let flag = &self.inner.io_failed;
        ACTIVE.with(|a| {
            let mut a = a.borrow_mut();
            if !a.as_ref().is_some_and(|f| Arc::ptr_eq(f, flag)) {
                *a = Some(flag.clone());
            }
        });
        if flag.load(Ordering::SeqCst) {
            self.reopen();
        }
        self.inner
            .db
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Unavailable {
                path: self.inner.path.clone(),
            })
    }

    /// True while the store is waiting to be re-opened after an I/O error.
    pub fn io_failed(&self) -> bool {
        self.inner.io_failed.load(Ordering::SeqCst)
    }

    /// After an I/O error: close the database and open the file again, so a disk that has
    /// space again works without a restart. Best effort: while an operation still holds the
    /// old handle, or the file cannot be opened yet (still no space for redb's repair), the
    /// flag stays set and the next use tries again.
    fn reopen(&self) {
        let mut slot = self.inner.db.write().unwrap_or_else(|p| p.into_inner());
        if !self.inner.io_failed.load(Ordering::SeqCst) {
            return; // another thread re-opened it meanwhile
        }
        if let Some(db) = slot.take() {
            match Arc::try_unwrap(db) {
                Ok(db) => {
                    if let Err(e) = db.close() {
                        tracing::debug!("closing the store after an I/O error: {e}");
                    }
                }
                Err(shared) => {
                    *slot = Some(shared);
                    return;
                }
            }
        }
        match open_file(&self.inner.path) {
            Ok(db) => {
                *slot = Some(Arc::new(db));
                self.inner.io_failed.store(false, Ordering::SeqCst);
                tracing::warn!(path = %self.inner.path.display(), "store re-opened after an I/O error");
            }
            Err(e) => {
                tracing::warn!(path = %self.inner.path.display(), error = %e, "store cannot be re-opened yet after an I/O error; trying again on its next use");
            }
        }
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
                let db = inner.db.into_inner().unwrap_or_else(|p| p.into_inner());
                if let Some(db) = db.and_then(|db| Arc::try_unwrap(db).ok()) {
                    db.close().map_err(|source| StoreError::Open {
                        path: path.clone(),
                        source,
                    })?;
                }
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
