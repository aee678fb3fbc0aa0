//! Schema versions and the ordered list of migrations between them.
//!
//! Version 0 is an empty file. Migration `i` (0-based) takes the store from version `i` to
//! `i + 1`; each runs in its own write transaction which also records the new version, so a
//! crash leaves the file at either the old or the new version, never in between.

use std::path::Path;

use redb::{ReadableDatabase, ReadableTable, TableHandle, WriteTransaction};

use super::schema::{AUDIT_COUNTERS, META, PEER_POLICIES, SCHEMA_VERSION_KEY, SETTINGS};
use super::{Store, StoreError};

/// One step of the schema.
pub struct Migration {
    /// The version this step produces.
    pub version: u32,
    /// What the step does, for logs.
    pub description: &'static str,
    /// Transforms a store at `version - 1` into `version`. Runs inside the step's transaction;
    /// the version bump is added by the runner.
    pub apply: fn(&WriteTransaction) -> Result<(), StoreError>,
}

/// All migrations, in order. The binary's schema version is its length.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "create meta and settings tables",
        apply: v1_create,
    },
    Migration {
        version: 2,
        description: "lower-case setting keys; move peer policies into their own table; add audit counters",
        apply: v2_split_settings,
    },
];

/// The schema version this binary writes.
pub const CURRENT_VERSION: u32 = MIGRATIONS.len() as u32;

/// v1 kept per-peer policies among the settings under this prefix.
pub const V1_PEER_POLICY_PREFIX: &str = "peer_policy:";

fn v1_create(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(META)?;
    txn.open_table(SETTINGS)?;
    Ok(())
}

/// v1 stored settings under igloo-server's env-var names (`GROUP_NAME`) and peer policies as
/// `peer_policy:<pubkey>` settings. v2 uses lower-case keys and a `peer_policies` table.
fn v2_split_settings(txn: &WriteTransaction) -> Result<(), StoreError> {
    let mut settings = txn.open_table(SETTINGS)?;
    let mut policies = txn.open_table(PEER_POLICIES)?;
    txn.open_table(AUDIT_COUNTERS)?;

    // Collect first: redb does not allow changing a table while iterating it.
    let mut moved: Vec<(String, String, Vec<u8>)> = Vec::new();
    let mut renamed: Vec<(String, String, Vec<u8>)> = Vec::new();
    for entry in settings.iter()? {
        let (k, v) = entry?;
        let key = k.value();
        if let Some(peer) = key.strip_prefix(V1_PEER_POLICY_PREFIX) {
            let peer = peer.to_ascii_lowercase();
            moved.push((key.to_owned(), peer, v.value().to_vec()));
        } else if key.bytes().any(|b| b.is_ascii_uppercase()) {
            renamed.push((key.to_owned(), key.to_ascii_lowercase(), v.value().to_vec()));
        }
    }

    for (old, peer, value) in moved {
        settings.remove(old.as_str())?;
        // An empty pubkey never named a peer; dropping it loses nothing.
        if !peer.is_empty() {
            policies.insert(peer.as_str(), value.as_slice())?;
        }
    }
    for (old, new, value) in renamed {
        settings.remove(old.as_str())?;
        // If both spellings exist, the already-lower-case one is the newer write; keep it.
        if settings.get(new.as_str())?.is_none() {
            settings.insert(new.as_str(), value.as_slice())?;
        }
    }
    Ok(())
}

/// Reads the schema version: 0 for an empty file, an error for a database that is not ours.
pub(crate) fn read_version(db: &impl ReadableDatabase, path: &Path) -> Result<u32, StoreError> {
    let txn = db.begin_read()?;
    let meta = match txn.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => {
            return if txn.list_tables()?.next().is_none() {
                Ok(0)
            } else {
                Err(StoreError::NotAnIglooStore {
                    path: path.to_path_buf(),
                })
            };
        }
        Err(e) => return Err(e.into()),
    };
    match meta.get(SCHEMA_VERSION_KEY)? {
        Some(v) => Ok(u32::try_from(v.value()).unwrap_or(u32::MAX)),
        None => Err(StoreError::NotAnIglooStore {
            path: path.to_path_buf(),
        }),
    }
}

/// Applies the migrations after `from`, one transaction each. Returns the final version.
pub(crate) fn migrate(
    db: &redb::Database,
    from: u32,
    migrations: &[Migration],
) -> Result<u32, StoreError> {
    let mut version = from;
    for m in migrations.iter().skip(from as usize) {
        let step = |db: &redb::Database| -> Result<(), StoreError> {
            let txn = db.begin_write()?;
            (m.apply)(&txn)?;
            txn.open_table(META)?
                .insert(SCHEMA_VERSION_KEY, u64::from(m.version))?;
            txn.commit()?;
            Ok(())
        };
        step(db).map_err(|e| StoreError::Migration {
            from: version,
            to: m.version,
            source: Box::new(e),
        })?;
        tracing::info!(
            from = version,
            to = m.version,
            "store migrated: {}",
            m.description
        );
        version = m.version;
    }
    Ok(version)
}

/// Opens (creating if needed) a store migrated only up to `version`, exactly as the binary
/// that shipped that version would have. For upgrade tests; not for production use.
#[doc(hidden)]
pub fn open_at_version(path: &Path, version: u32) -> Result<Store, StoreError> {
    let upto = MIGRATIONS
        .get(..version as usize)
        .ok_or(StoreError::WrongVersion {
            expected: version,
            actual: CURRENT_VERSION,
        })?;
    Store::open_with(path, upto)
}

/// Writes a setting the way schema v1 did: any key, no validation. For upgrade tests.
#[doc(hidden)]
pub fn put_setting_v1(store: &Store, key: &str, value: &[u8]) -> Result<(), StoreError> {
    let actual = store.schema_version();
    if actual != 1 {
        return Err(StoreError::WrongVersion {
            expected: 1,
            actual,
        });
    }
    let txn = store.db()?.begin_write()?;
    txn.open_table(SETTINGS)?.insert(key, value)?;
    txn.commit()?;
    Ok(())
}

/// Names of the tables present, for tests and diagnostics.
pub fn table_names(store: &Store) -> Result<Vec<String>, StoreError> {
    let txn = store.db()?.begin_read()?;
    let names = txn.list_tables()?.map(|h| h.name().to_owned()).collect();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.description);
        }
        assert_eq!(CURRENT_VERSION, 2);
    }

    fn failing(txn: &WriteTransaction) -> Result<(), StoreError> {
        // Write something first, to prove the failed step's writes are rolled back too.
        txn.open_table(PEER_POLICIES)?.insert("p", &b"x"[..])?;
        Err(StoreError::InvalidKey {
            key: "forced failure".into(),
        })
    }

    #[test]
    fn failed_step_rolls_back_and_keeps_previous_version() {
        let tmp = tempfile::tempdir().unwrap();
        let steps = [
            Migration {
                version: 1,
                description: "v1",
                apply: v1_create,
            },
            Migration {
                version: 2,
                description: "fails",
                apply: failing,
            },
        ];
        let err = Store::open_with(tmp.path(), &steps).unwrap_err();
        assert!(
            matches!(err, StoreError::Migration { from: 1, to: 2, .. }),
            "{err}"
        );
        let store = open_at_version(tmp.path(), 1).unwrap();
        assert_eq!(store.schema_version(), 1);
        let mut names = table_names(&store).unwrap();
        names.sort();
        assert_eq!(names, ["meta", "settings"]);
    }
}
