//! Users: roles, Argon2id PHC hashes, unique names. Deleting a user also deletes their
//! sessions and credentials in the same transaction.

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use super::schema::{AUTH_SEQUENCES, CREDENTIALS, SESSIONS, USERNAMES, USERS};
use super::{Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: u64,
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub role: Role,
    /// Unix milliseconds.
    pub created_at: u64,
    pub updated_at: u64,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// What [`Store::create_user`] did.
#[derive(Debug)]
pub enum CreateUser {
    Created(UserRecord),
    UsernameTaken,
    /// `only_first` was set and a user already exists.
    AlreadyInitialized,
}

/// What [`Store::delete_user`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum DeleteUser {
    Deleted,
    NotFound,
    LastAdmin,
}

pub(crate) fn now_ms() -> u64 {
    crate::clock::unix_ms()
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    table: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|_| StoreError::Corrupt { table })
}

pub(crate) fn encode<T: Serialize>(table: &'static str, v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|_| StoreError::Corrupt { table })
}

/// Opens a table for reading; a table that was never written reads as `None` (empty).
pub(crate) fn read_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, StoreError> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Next id of a sequence, inside a write transaction.
pub(crate) fn next_id(txn: &redb::WriteTransaction, seq: &str) -> Result<u64, StoreError> {
    let mut t = txn.open_table(AUTH_SEQUENCES)?;
    let next = t.get(seq)?.map(|v| v.value()).unwrap_or(0) + 1;
    t.insert(seq, next)?;
    Ok(next)
}

impl Store {
    pub fn user_count(&self) -> Result<u64, StoreError> {
        let txn = self.db()?.begin_read()?;
        Ok(match read_table(&txn, USERS)? {
            Some(t) => t.len()?,
            None => 0,
        })
    }

    /// Creates a user; with `only_first`, only when no user exists yet (onboarding).
    pub fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        only_first: bool,
    ) -> Result<CreateUser, StoreError> {
        let txn = self.db()?.begin_write()?;
        let rec = {
            let mut users = txn.open_table(USERS)?;
            let mut names = txn.open_table(USERNAMES)?;
            if only_first && users.len()? > 0 {
                return Ok(CreateUser::AlreadyInitialized);
            }
            if names.get(username)?.is_some() {
                return Ok(CreateUser::UsernameTaken);
            }
            let now = now_ms();
            let rec = UserRecord {
                id: next_id(&txn, "users")?,
                username: username.to_string(),
                password_hash: password_hash.to_string(),
                role,
                created_at: now,
                updated_at: now,
            };
            users.insert(rec.id, encode("users", &rec)?.as_slice())?;
            names.insert(username, rec.id)?;
            rec
        };
        txn.commit()?;
        Ok(CreateUser::Created(rec))
    }

    pub fn get_user(&self, id: u64) -> Result<Option<UserRecord>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let Some(t) = read_table(&txn, USERS)? else {
            return Ok(None);
        };
        t.get(id)?.map(|v| decode("users", v.value())).transpose()
    }

    pub fn find_user(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let id = {
            let txn = self.db()?.begin_read()?;
            let Some(t) = read_table(&txn, USERNAMES)? else {
                return Ok(None);
            };
            t.get(username)?.map(|v| v.value())
        };
        match id {
            Some(id) => self.get_user(id),
            None => Ok(None),
        }
    }

    pub fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let txn = self.db()?.begin_read()?;
        let Some(t) = read_table(&txn, USERS)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in t.iter()? {
            let (_, v) = entry?;
            out.push(decode("users", v.value())?);
        }
        Ok(out)
    }

    /// Deletes a user with their sessions and credentials; the last admin stays.
    pub fn delete_user(&self, id: u64) -> Result<DeleteUser, StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let mut users = txn.open_table(USERS)?;
            let Some(rec) = users.get(id)?.map(|v| v.value().to_vec()) else {
                return Ok(DeleteUser::NotFound);
            };
            let rec: UserRecord = decode("users", &rec)?;
            if rec.role == Role::Admin {
                let mut admins = 0;
                for entry in users.iter()? {
                    let (_, v) = entry?;
                    if decode::<UserRecord>("users", v.value())?.role == Role::Admin {
                        admins += 1;
                    }
                }
                if admins <= 1 {
                    return Ok(DeleteUser::LastAdmin);
                }
            }
            users.remove(id)?;
            txn.open_table(USERNAMES)?.remove(rec.username.as_str())?;
            txn.open_table(CREDENTIALS)?
                .remove(super::credentials::user_owner(id).as_str())?;
            super::sessions::remove_user_sessions(&mut txn.open_table(SESSIONS)?, id)?;
        }
        txn.commit()?;
        Ok(DeleteUser::Deleted)
    }

    /// Replaces a user's password hash and revokes all their sessions.
    pub fn set_password(&self, id: u64, password_hash: &str) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_write()?;
        {
            let mut users = txn.open_table(USERS)?;
            let Some(rec) = users.get(id)?.map(|v| v.value().to_vec()) else {
                return Ok(false);
            };
            let mut rec: UserRecord = decode("users", &rec)?;
            rec.password_hash = password_hash.to_string();
            rec.updated_at = now_ms();
            users.insert(id, encode("users", &rec)?.as_slice())?;
            super::sessions::remove_user_sessions(&mut txn.open_table(SESSIONS)?, id)?;
        }
        txn.commit()?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_unique_and_the_last_admin_stays() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        assert_eq!(s.user_count().unwrap(), 0);
        assert!(s.find_user("alice").unwrap().is_none());
        let CreateUser::Created(a) = s.create_user("alice", "h", Role::Admin, true).unwrap() else {
            panic!("first user")
        };
        assert!(matches!(
            s.create_user("bob", "h", Role::Admin, true).unwrap(),
            CreateUser::AlreadyInitialized
        ));
        assert!(matches!(
            s.create_user("alice", "h", Role::User, false).unwrap(),
            CreateUser::UsernameTaken
        ));
        let CreateUser::Created(b) = s.create_user("bob", "h", Role::User, false).unwrap() else {
            panic!("second user")
        };
        assert_eq!(s.user_count().unwrap(), 2);
        assert_eq!(s.delete_user(a.id).unwrap(), DeleteUser::LastAdmin);
        assert_eq!(s.delete_user(b.id).unwrap(), DeleteUser::Deleted);
        assert_eq!(s.delete_user(b.id).unwrap(), DeleteUser::NotFound);
        assert!(s.find_user("bob").unwrap().is_none());
        // Ids are never reused.
        let CreateUser::Created(c) = s.create_user("bob", "h", Role::User, false).unwrap() else {
            panic!("third user")
        };
        assert!(c.id > b.id);
        assert!(s.set_password(c.id, "h2").unwrap());
        assert_eq!(s.get_user(c.id).unwrap().unwrap().password_hash, "h2");
        assert!(!format!("{c:?}").contains("password_hash"));
    }
}
