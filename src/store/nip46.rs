//! NIP-46 records: the transport key (sealed like node credentials), the relay list, client
//! sessions, single-use `bunker://` secrets and a bounded history per session.
//!
//! Revocation is final: [`Store::put_nip46_session`] refuses to turn a revoked session into
//! anything else, so a restart, an API call or the client itself cannot bring it back.

use redb::ReadableDatabase;
use redb::{ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::schema::{NIP46_HISTORY, NIP46_SECRETS, NIP46_SESSIONS, NIP46_STATE};
use super::users::read_table;
use super::{Store, StoreError};
use crate::secrets::{SecretsError, Vault};

const TRANSPORT_KEY: &str = "transport_key";
const RELAYS: &str = "relays";
/// Entries kept per session.
pub const HISTORY_CAP: usize = 100;
/// Unused bunker secrets kept at once (the oldest expire first).
pub const MAX_SECRETS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum Nip46StoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("the session is revoked; revocation is final")]
    Revoked,
    #[error("too many unused connection secrets; wait for some to expire")]
    TooManySecrets,
}

/// What a NIP-46 session may do without asking (igloo-server's JSON shape). Its rules are in
/// `nip46::perms`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Policy {
    #[serde(default)]
    pub methods: std::collections::BTreeMap<String, bool>,
    /// Event kinds as decimal strings, or `*` for every kind.
    #[serde(default)]
    pub kinds: std::collections::BTreeMap<String, bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    Active,
    Revoked,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// One paired client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Lower-case hex client pubkey.
    pub pubkey: String,
    pub status: SessionStatus,
    #[serde(default)]
    pub profile: Profile,
    /// Relays the client asked us to use (from its `nostrconnect://`).
    #[serde(default)]
    pub relays: Vec<String>,
    #[serde(default)]
    pub policy: Policy,
    /// Unix seconds.
    pub created_at: u64,
    pub updated_at: u64,
    #[serde(default)]
    pub last_active_at: Option<u64>,
}

/// One answered (or refused) request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// Unix seconds.
    pub at: u64,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<u16>,
    /// `ok`, `error`, `approved`, `denied`, `expired`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

fn corrupt() -> StoreError {
    StoreError::Corrupt { table: "nip46" }
}

fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl Store {
    /// The sealed transport key, opened.
    pub fn nip46_transport_key(
        &self,
        vault: &Vault,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, Nip46StoreError> {
        let txn = self.db()?.begin_read().map_err(StoreError::from)?;
        let Some(t) = read_table(&txn, NIP46_STATE)? else {
            return Ok(None);
        };
        let Some(v) = t.get(TRANSPORT_KEY).map_err(StoreError::from)? else {
            return Ok(None);
        };
        Ok(Some(vault.open_sealed(
            "nip46_state",
            TRANSPORT_KEY,
            v.value(),
        )?))
    }

    /// Seals and stores the transport key (only when none is stored yet: returns false then).
    pub fn put_nip46_transport_key_if_absent(
        &self,
        vault: &Vault,
        key: &[u8],
    ) -> Result<bool, Nip46StoreError> {
        let sealed = vault.seal("nip46_state", TRANSPORT_KEY, key)?;
        let txn = self.db()?.begin_write().map_err(StoreError::from)?;
        {
            let mut t = txn.open_table(NIP46_STATE).map_err(StoreError::from)?;
            if t.get(TRANSPORT_KEY).map_err(StoreError::from)?.is_some() {
                return Ok(false);
            }
            t.insert(TRANSPORT_KEY, sealed.as_slice())
                .map_err(StoreError::from)?;
        }
        txn.commit().map_err(StoreError::from)?;
        Ok(true)
    }

    /// The stored NIP-46 relay list (None: use the default).
    pub fn nip46_relays(&self) -> Result<Option<Vec<String>>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let Some(t) = read_table(&txn, NIP46_STATE)? else {
            return Ok(None);
        };
        match t.get(RELAYS)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(v.value())
                .map(Some)
                .map_err(|_| corrupt()),
        }
    }

    /// Stores the relay list; `None` goes back to the default.
    pub fn set_nip46_relays(&self, relays: Option<&[String]>) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let mut t = txn.open_table(NIP46_STATE)?;
            match relays {
                Some(r) => {
                    let json = serde_json::to_vec(r).map_err(|_| corrupt())?;
                    t.insert(RELAYS, json.as_slice())?;
                }
                None => {
                    t.remove(RELAYS)?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    pub fn nip46_sessions(&self) -> Result<Vec<SessionRecord>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let Some(t) = read_table(&txn, NIP46_SESSIONS)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            out.push(serde_json::from_slice(v.value()).map_err(|_| corrupt())?);
        }
        Ok(out)
    }

    pub fn nip46_session(&self, pubkey: &str) -> Result<Option<SessionRecord>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let Some(t) = read_table(&txn, NIP46_SESSIONS)? else {
            return Ok(None);
        };
        match t.get(pubkey)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(v.value())
                .map(Some)
                .map_err(|_| corrupt()),
        }
    }

    /// Writes a session. A revoked session stays revoked ([`Nip46StoreError::Revoked`]).
    pub fn put_nip46_session(&self, rec: &SessionRecord) -> Result<(), Nip46StoreError> {
        let txn = self.db()?.begin_write().map_err(StoreError::from)?;
        put_session_in(&txn, rec)?;
        txn.commit().map_err(StoreError::from)?;
        Ok(())
    }

    /// Remembers a fresh `bunker://` secret (its SHA-256 only) until `expires_at`.
    pub fn add_nip46_secret(
        &self,
        secret: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<(), Nip46StoreError> {
        let txn = self.db()?.begin_write().map_err(StoreError::from)?;
        {
            let mut t = txn.open_table(NIP46_SECRETS).map_err(StoreError::from)?;
            let expired: Vec<String> = t
                .iter()
                .map_err(StoreError::from)?
                .filter_map(|r| r.ok())
                .filter(|(_, v)| v.value() <= now)
                .map(|(k, _)| k.value().to_owned())
                .collect();
            for k in expired {
                t.remove(k.as_str()).map_err(StoreError::from)?;
            }
            if t.len().map_err(StoreError::from)? as usize >= MAX_SECRETS {
                return Err(Nip46StoreError::TooManySecrets);
            }
            t.insert(hex::encode(secret_hash(secret)).as_str(), expires_at)
                .map_err(StoreError::from)?;
        }
        txn.commit().map_err(StoreError::from)?;
        Ok(())
    }

    /// The latest expiry (Unix seconds) of the unused `bunker://` secrets still valid at
    /// `now`; None when there is none (the NIP-46 service then need not listen for them).
    pub fn nip46_secrets_valid_until(&self, now: u64) -> Result<Option<u64>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let Some(t) = read_table(&txn, NIP46_SECRETS)? else {
            return Ok(None);
        };
        let mut latest = None;
        for row in t.iter()? {
            let (_, v) = row?;
            let exp = v.value();
            if exp > now && latest.is_none_or(|l| exp > l) {
                latest = Some(exp);
            }
        }
        Ok(latest)
    }

    /// In one transaction: finds an unexpired secret equal to `secret` (constant-time
    /// comparison of the hashes), removes it and stores `session`. False when no such secret
    /// exists (wrong, expired or already used): nothing is written then.
    pub fn consume_nip46_secret(
        &self,
        secret: &str,
        now: u64,
        session: &SessionRecord,
    ) -> Result<bool, Nip46StoreError> {
        let want = secret_hash(secret);
        let txn = self.db()?.begin_write().map_err(StoreError::from)?;
        let found = {
            let mut t = txn.open_table(NIP46_SECRETS).map_err(StoreError::from)?;
            let mut found = None;
            for row in t.iter().map_err(StoreError::from)? {
                let (k, v) = row.map_err(StoreError::from)?;
                let mut h = [0u8; 32];
                if hex::decode_to_slice(k.value(), &mut h).is_err() {
                    continue;
                }
                let hit: bool = h.ct_eq(&want).into();
                if hit && v.value() > now {
                    found = Some(k.value().to_owned());
                }
            }
            if let Some(k) = &found {
                t.remove(k.as_str()).map_err(StoreError::from)?;
            }
            found.is_some()
        };
        if !found {
            return Ok(false);
        }
        put_session_in(&txn, session)?;
        txn.commit().map_err(StoreError::from)?;
        Ok(true)
    }

    /// The newest history entries of a session, oldest first.
    pub fn nip46_history(&self, pubkey: &str) -> Result<Vec<HistoryEntry>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let Some(t) = read_table(&txn, NIP46_HISTORY)? else {
            return Ok(Vec::new());
        };
        match t.get(pubkey)? {
            None => Ok(Vec::new()),
            Some(v) => serde_json::from_slice(v.value()).map_err(|_| corrupt()),
        }
    }

    /// Appends entries to a session's history (keeping the newest [`HISTORY_CAP`]) and
    /// records its last activity, in one commit.
    pub fn append_nip46_history(
        &self,
        pubkey: &str,
        entries: &[HistoryEntry],
        last_active_at: u64,
    ) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let mut t = txn.open_table(NIP46_HISTORY)?;
            let mut list: Vec<HistoryEntry> = match t.get(pubkey)? {
                Some(v) => serde_json::from_slice(v.value()).unwrap_or_default(),
                None => Vec::new(),
            };
            list.extend_from_slice(entries);
            if list.len() > HISTORY_CAP {
                list.drain(..list.len() - HISTORY_CAP);
            }
            let json = serde_json::to_vec(&list).map_err(|_| corrupt())?;
            t.insert(pubkey, json.as_slice())?;
            let mut s = txn.open_table(NIP46_SESSIONS)?;
            let updated = match s.get(pubkey)? {
                Some(v) => serde_json::from_slice::<SessionRecord>(v.value())
                    .ok()
                    .map(|mut r| {
                        r.last_active_at = Some(last_active_at);
                        r
                    }),
                None => None,
            };
            if let Some(r) = updated {
                let json = serde_json::to_vec(&r).map_err(|_| corrupt())?;
                s.insert(pubkey, json.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }
}

fn put_session_in(
    txn: &redb::WriteTransaction,
    rec: &SessionRecord,
) -> Result<(), Nip46StoreError> {
    let mut t = txn.open_table(NIP46_SESSIONS).map_err(StoreError::from)?;
    let existing = t
        .get(rec.pubkey.as_str())
        .map_err(StoreError::from)?
        .and_then(|v| serde_json::from_slice::<SessionRecord>(v.value()).ok());
    if existing.is_some_and(|e| e.status == SessionStatus::Revoked)
        && rec.status != SessionStatus::Revoked
    {
        return Err(Nip46StoreError::Revoked);
    }
    let json = serde_json::to_vec(rec).map_err(|_| corrupt())?;
    t.insert(rec.pubkey.as_str(), json.as_slice())
        .map_err(StoreError::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(pk: &str, status: SessionStatus) -> SessionRecord {
        SessionRecord {
            pubkey: pk.into(),
            status,
            profile: Profile::default(),
            relays: vec![],
            policy: Policy::default(),
            created_at: 1,
            updated_at: 1,
            last_active_at: None,
        }
    }

    #[test]
    fn secrets_are_single_use_and_revoke_is_final() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("igloo.redb")).unwrap();
        let a = session(&"aa".repeat(32), SessionStatus::Active);
        store.add_nip46_secret("s1", 100, 10).unwrap();
        assert!(!store.consume_nip46_secret("s2", 10, &a).unwrap());
        assert!(store.nip46_session(&a.pubkey).unwrap().is_none());
        assert!(store.consume_nip46_secret("s1", 10, &a).unwrap());
        assert!(!store.consume_nip46_secret("s1", 10, &a).unwrap());
        store.add_nip46_secret("old", 20, 10).unwrap();
        assert!(!store.consume_nip46_secret("old", 20, &a).unwrap());
        let mut r = a.clone();
        r.status = SessionStatus::Revoked;
        store.put_nip46_session(&r).unwrap();
        assert!(matches!(
            store.put_nip46_session(&a),
            Err(Nip46StoreError::Revoked)
        ));
        store.add_nip46_secret("s3", 100, 10).unwrap();
        assert!(matches!(
            store.consume_nip46_secret("s3", 10, &a),
            Err(Nip46StoreError::Revoked)
        ));
        assert_eq!(
            store.nip46_session(&a.pubkey).unwrap().unwrap().status,
            SessionStatus::Revoked
        );
    }

    #[test]
    fn history_is_bounded_and_key_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("igloo.redb")).unwrap();
        let pk = "bb".repeat(32);
        store
            .put_nip46_session(&session(&pk, SessionStatus::Active))
            .unwrap();
        let e = HistoryEntry {
            at: 5,
            method: "ping".into(),
            kind: None,
            outcome: "ok".into(),
            detail: None,
        };
        for _ in 0..HISTORY_CAP + 5 {
            store
                .append_nip46_history(&pk, std::slice::from_ref(&e), 7)
                .unwrap();
        }
        assert_eq!(store.nip46_history(&pk).unwrap().len(), HISTORY_CAP);
        assert_eq!(
            store.nip46_session(&pk).unwrap().unwrap().last_active_at,
            Some(7)
        );
        let vault = Vault::open(dir.path()).unwrap();
        assert!(store.nip46_transport_key(&vault).unwrap().is_none());
        assert!(
            store
                .put_nip46_transport_key_if_absent(&vault, &[7u8; 32])
                .unwrap()
        );
        assert!(
            !store
                .put_nip46_transport_key_if_absent(&vault, &[8u8; 32])
                .unwrap()
        );
        assert_eq!(
            store
                .nip46_transport_key(&vault)
                .unwrap()
                .unwrap()
                .as_slice(),
            &[7u8; 32]
        );
        store
            .set_nip46_relays(Some(&["ws://a".to_string()]))
            .unwrap();
        assert_eq!(
            store.nip46_relays().unwrap(),
            Some(vec!["ws://a".to_string()])
        );
    }
}
