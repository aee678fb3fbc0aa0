//! Sessions, keyed by the SHA-256 of the session id (the id itself is never stored), with a
//! sliding idle timeout and persistence across restarts.

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::schema::SESSIONS;
use super::users::{decode, encode, read_table};
use super::{Store, StoreError};

/// Who a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SessionOwner {
    /// A database user.
    User { id: u64 },
    /// A database API key (the session ends when the key is revoked).
    ApiKey { id: u64 },
    /// The headless `API_KEY`.
    EnvApiKey,
    /// The `BASIC_AUTH_USER`.
    Basic { username: String },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionRecord {
    pub owner: SessionOwner,
    /// Unix milliseconds.
    pub created_at: u64,
    pub last_access: u64,
    pub ip: Option<String>,
}

pub(crate) fn remove_user_sessions(
    table: &mut redb::Table<&str, &[u8]>,
    user: u64,
) -> Result<(), StoreError> {
    let target = SessionOwner::User { id: user };
    let mut doomed = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        // A damaged row is removed too rather than kept forever.
        match decode::<SessionRecord>("sessions", v.value()) {
            Ok(r) if r.owner != target => {}
            _ => doomed.push(k.value().to_string()),
        }
    }
    for k in doomed {
        table.remove(k.as_str())?;
    }
    Ok(())
}

impl Store {
    pub fn put_session(&self, id_hash: &str, rec: &SessionRecord) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        txn.open_table(SESSIONS)?
            .insert(id_hash, encode("sessions", rec)?.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    pub fn get_session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let Some(t) = read_table(&txn, SESSIONS)? else {
            return Ok(None);
        };
        t.get(id_hash)?
            .map(|v| decode("sessions", v.value()))
            .transpose()
    }

    /// Moves `last_access` forward (sliding expiry).
    pub fn touch_session(&self, id_hash: &str, now: u64) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let mut t = txn.open_table(SESSIONS)?;
            let rec = t.get(id_hash)?.map(|v| v.value().to_vec());
            if let Some(rec) = rec {
                let mut rec: SessionRecord = decode("sessions", &rec)?;
                rec.last_access = now;
                t.insert(id_hash, encode("sessions", &rec)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    pub fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_write()?;
        let existed = txn.open_table(SESSIONS)?.remove(id_hash)?.is_some();
        txn.commit()?;
        Ok(existed)
    }

    /// Deletes sessions idle since before `idle_before` (Unix ms); returns how many.
    pub fn purge_sessions(&self, idle_before: u64) -> Result<usize, StoreError> {
        let txn = self.db()?.begin_write()?;
        let n = {
            let mut t = txn.open_table(SESSIONS)?;
            let mut doomed = Vec::new();
            for entry in t.iter()? {
                let (k, v) = entry?;
                match decode::<SessionRecord>("sessions", v.value()) {
                    Ok(r) if r.last_access >= idle_before => {}
                    _ => doomed.push(k.value().to_string()),
                }
            }
            for k in &doomed {
                t.remove(k.as_str())?;
            }
            doomed.len()
        };
        txn.commit()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_roundtrip_touch_and_purge() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        assert!(s.get_session("aa").unwrap().is_none());
        let rec = |owner, t| SessionRecord {
            owner,
            created_at: t,
            last_access: t,
            ip: None,
        };
        s.put_session("aa", &rec(SessionOwner::User { id: 1 }, 100))
            .unwrap();
        s.put_session("bb", &rec(SessionOwner::User { id: 2 }, 100))
            .unwrap();
        s.put_session("cc", &rec(SessionOwner::EnvApiKey, 100))
            .unwrap();
        s.touch_session("aa", 500).unwrap();
        assert_eq!(s.get_session("aa").unwrap().unwrap().last_access, 500);
        assert_eq!(s.purge_sessions(200).unwrap(), 2);
        assert!(s.get_session("bb").unwrap().is_none());
        assert!(s.delete_session("aa").unwrap());
        assert!(!s.delete_session("aa").unwrap());
    }
}
