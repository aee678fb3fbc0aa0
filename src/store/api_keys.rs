//! Admin-issued API keys: only the SHA-256 of a token is stored, found through its
//! 12-character prefix; revocation keeps the row (with a reason) for the audit view.

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

use super::schema::{API_KEY_PREFIXES, API_KEYS};
use super::users::{decode, encode, next_id, now_ms, read_table};
use super::{Store, StoreError};

/// What an API key may do, chosen when it is created (see the access matrix in
/// [`crate::auth::access`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyScope {
    /// Signing and encryption only: `/api/sign`, `/api/nip04/*`, `/api/nip44/*`. The default,
    /// and what keys created before scopes existed (stored without one) get.
    #[default]
    Sign,
    /// Read-only node state: peers, our key and group, ping, the event stream.
    Read,
    /// Everything an admin user may do except a user's own account routes.
    Admin,
}

impl ApiKeyScope {
    pub const ALL: [ApiKeyScope; 3] = [ApiKeyScope::Sign, ApiKeyScope::Read, ApiKeyScope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyScope::Sign => "sign",
            ApiKeyScope::Read => "read",
            ApiKeyScope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<ApiKeyScope> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: u64,
    pub prefix: String,
    /// Lower-case hex SHA-256 of the whole token.
    pub key_hash: String,
    pub label: Option<String>,
    pub created_by_user_id: Option<u64>,
    pub created_by_admin: bool,
    pub created_at: u64,
    pub updated_at: u64,
    pub last_used_at: Option<u64>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<u64>,
    pub revoked_reason: Option<String>,
    /// Absent in keys stored before scopes existed: they read as [`ApiKeyScope::Sign`], the
    /// narrowest scope that keeps what such keys were made for (signing).
    #[serde(default)]
    pub scope: ApiKeyScope,
}

/// What [`Store::revoke_api_key`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum RevokeApiKey {
    Revoked,
    NotFound,
    AlreadyRevoked,
}

impl Store {
    /// Stores a new key; `id`, timestamps and usage fields of `rec` are filled in here.
    /// Returns `None` when the prefix is already in use (the caller draws a new token).
    pub fn create_api_key(
        &self,
        mut rec: ApiKeyRecord,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let txn = self.db().begin_write()?;
        {
            let mut prefixes = txn.open_table(API_KEY_PREFIXES)?;
            if prefixes.get(rec.prefix.as_str())?.is_some() {
                return Ok(None);
            }
            rec.id = next_id(&txn, "api_keys")?;
            let now = now_ms();
            rec.created_at = now;
            rec.updated_at = now;
            rec.last_used_at = None;
            rec.last_used_ip = None;
            rec.revoked_at = None;
            rec.revoked_reason = None;
            prefixes.insert(rec.prefix.as_str(), rec.id)?;
            txn.open_table(API_KEYS)?
                .insert(rec.id, encode("api_keys", &rec)?.as_slice())?;
        }
        txn.commit()?;
        Ok(Some(rec))
    }

    pub fn get_api_key(&self, id: u64) -> Result<Option<ApiKeyRecord>, StoreError> {
        let txn = self.db().begin_read()?;
        let Some(t) = read_table(&txn, API_KEYS)? else {
            return Ok(None);
        };
        t.get(id)?
            .map(|v| decode("api_keys", v.value()))
            .transpose()
    }

    pub fn find_api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let id = {
            let txn = self.db().begin_read()?;
            let Some(t) = read_table(&txn, API_KEY_PREFIXES)? else {
                return Ok(None);
            };
            t.get(prefix)?.map(|v| v.value())
        };
        match id {
            Some(id) => self.get_api_key(id),
            None => Ok(None),
        }
    }

    /// All keys: active first, newest first.
    pub fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let txn = self.db().begin_read()?;
        let Some(t) = read_table(&txn, API_KEYS)? else {
            return Ok(Vec::new());
        };
        let mut out: Vec<ApiKeyRecord> = Vec::new();
        for entry in t.iter()? {
            let (_, v) = entry?;
            out.push(decode("api_keys", v.value())?);
        }
        out.sort_by(|a, b| {
            a.revoked_at
                .is_some()
                .cmp(&b.revoked_at.is_some())
                .then(b.created_at.cmp(&a.created_at))
                .then(b.id.cmp(&a.id))
        });
        Ok(out)
    }

    pub fn has_active_api_keys(&self) -> Result<bool, StoreError> {
        Ok(self.list_api_keys()?.iter().any(|k| k.revoked_at.is_none()))
    }

    pub fn revoke_api_key(
        &self,
        id: u64,
        reason: Option<&str>,
    ) -> Result<RevokeApiKey, StoreError> {
        let txn = self.db().begin_write()?;
        {
            let mut t = txn.open_table(API_KEYS)?;
            let Some(rec) = t.get(id)?.map(|v| v.value().to_vec()) else {
                return Ok(RevokeApiKey::NotFound);
            };
            let mut rec: ApiKeyRecord = decode("api_keys", &rec)?;
            if rec.revoked_at.is_some() {
                return Ok(RevokeApiKey::AlreadyRevoked);
            }
            let now = now_ms();
            rec.revoked_at = Some(now);
            rec.updated_at = now;
            rec.revoked_reason = reason.map(String::from);
            t.insert(id, encode("api_keys", &rec)?.as_slice())?;
        }
        txn.commit()?;
        Ok(RevokeApiKey::Revoked)
    }

    /// Records a use of a key (time and address).
    pub fn record_api_key_use(&self, id: u64, at: u64, ip: Option<&str>) -> Result<(), StoreError> {
        let txn = self.db().begin_write()?;
        {
            let mut t = txn.open_table(API_KEYS)?;
            let Some(rec) = t.get(id)?.map(|v| v.value().to_vec()) else {
                return Ok(());
            };
            let mut rec: ApiKeyRecord = decode("api_keys", &rec)?;
            rec.last_used_at = Some(at);
            rec.last_used_ip = ip.map(String::from);
            t.insert(id, encode("api_keys", &rec)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(prefix: &str) -> ApiKeyRecord {
        ApiKeyRecord {
            id: 0,
            prefix: prefix.into(),
            key_hash: "00".repeat(32),
            label: Some("ci".into()),
            created_by_user_id: Some(1),
            created_by_admin: true,
            created_at: 0,
            updated_at: 0,
            last_used_at: None,
            last_used_ip: None,
            revoked_at: None,
            revoked_reason: None,
            scope: ApiKeyScope::Read,
        }
    }

    #[test]
    fn keys_stored_without_a_scope_read_as_sign() {
        let old = br#"{"id":3,"prefix":"aaaaaaaaaaaa","key_hash":"00","label":null,
            "created_by_user_id":1,"created_by_admin":true,"created_at":1,"updated_at":1,
            "last_used_at":null,"last_used_ip":null,"revoked_at":null,"revoked_reason":null}"#;
        let rec: ApiKeyRecord = decode("api_keys", old).unwrap();
        assert_eq!(rec.scope, ApiKeyScope::Sign);
        let new = encode("api_keys", &key("bbbbbbbbbbbb")).unwrap();
        let rec: ApiKeyRecord = decode("api_keys", &new).unwrap();
        assert_eq!(rec.scope, ApiKeyScope::Read);
        assert_eq!(ApiKeyScope::parse("admin"), Some(ApiKeyScope::Admin));
        assert_eq!(ApiKeyScope::parse("Admin"), None);
    }

    #[test]
    fn keys_create_find_revoke() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        assert!(!s.has_active_api_keys().unwrap());
        let a = s.create_api_key(key("aaaaaaaaaaaa")).unwrap().unwrap();
        assert!(s.create_api_key(key("aaaaaaaaaaaa")).unwrap().is_none());
        let b = s.create_api_key(key("bbbbbbbbbbbb")).unwrap().unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(
            s.find_api_key_by_prefix("aaaaaaaaaaaa")
                .unwrap()
                .unwrap()
                .id,
            a.id
        );
        assert!(s.find_api_key_by_prefix("cccccccccccc").unwrap().is_none());
        assert_eq!(
            s.revoke_api_key(a.id, Some("lost")).unwrap(),
            RevokeApiKey::Revoked
        );
        assert_eq!(
            s.revoke_api_key(a.id, None).unwrap(),
            RevokeApiKey::AlreadyRevoked
        );
        assert_eq!(s.revoke_api_key(99, None).unwrap(), RevokeApiKey::NotFound);
        let list = s.list_api_keys().unwrap();
        assert_eq!(list[0].id, b.id, "active first");
        assert_eq!(list[1].revoked_reason.as_deref(), Some("lost"));
        s.record_api_key_use(b.id, 42, Some("127.0.0.1")).unwrap();
        let b = s.get_api_key(b.id).unwrap().unwrap();
        assert_eq!(
            (b.last_used_at, b.last_used_ip.as_deref()),
            (Some(42), Some("127.0.0.1"))
        );
        assert!(s.has_active_api_keys().unwrap());
    }
}
