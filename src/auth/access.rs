//! The access matrix: who may call which class of route. Pure decisions, no I/O; the HTTP
//! layer declares each route's [`Access`] in `api_routes()` and applies [`decide`] to the
//! authenticated caller. The same matrix is written out in ARCHITECTURE.md ("Access") and
//! tested route by route in `tests/access_matrix.rs`.
//!
//! | Access   | nobody | user (session) | admin user | key `sign` | key `read` | key `admin` |
//! |----------|--------|----------------|------------|------------|------------|-------------|
//! | Public   | yes    | yes            | yes        | yes        | yes        | yes         |
//! | Sign     | 401    | yes            | yes        | yes        | 401        | yes         |
//! | Read     | 401    | yes            | yes        | 401        | yes        | yes         |
//! | User     | 401    | yes            | yes        | 401        | 401        | yes         |
//! | DbUser   | 401    | yes            | yes        | 401        | 401        | 401         |
//! | Admin    | 401    | 403            | yes        | 401        | 401        | yes         |
//!
//! An API key outside its scope gets 401 (the key is not a credential for that route, as in
//! igloo-server), a signed-in user who is not an admin 403. Headless mode has no users: its
//! `API_KEY` and basic user are the owner and may call everything. With authentication off
//! (`AUTH_ENABLED=false`, loopback only) everyone is the owner, except for routes about a
//! user's own account (DbUser). `ADMIN_SECRET` is no principal at all: only onboarding reads it.

use super::principal::Principal;
use crate::store::api_keys::ApiKeyScope;
use crate::store::users::Role;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone (status, onboarding, login, docs outside production).
    Public,
    /// Signing and encryption: any signed-in user; API keys with scope `sign` or `admin`.
    Sign,
    /// Reading the node's state (peers, our key, ping, events): any signed-in user; API keys
    /// with scope `read` or `admin`.
    Read,
    /// Any signed-in user; of API keys only `admin` (tools such as nsec recovery).
    User,
    /// A database user's session (their own profile and credentials); never an API key.
    DbUser,
    /// The device's owner: an admin user or an `admin` API key; in headless mode the API key
    /// or basic user. Peer policies, caps, sign approvals, configuration, keyset, users, keys.
    Admin,
}

impl Access {
    pub const ALL: [Access; 6] = [
        Access::Public,
        Access::Sign,
        Access::Read,
        Access::User,
        Access::DbUser,
        Access::Admin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Sign => "sign",
            Access::Read => "read",
            Access::User => "user",
            Access::DbUser => "db-user",
            Access::Admin => "admin",
        }
    }
}

/// In which modes a route exists; elsewhere it answers 404 JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modes {
    Both,
    Database,
    Headless,
}

impl Modes {
    pub fn includes(self, headless: bool) -> bool {
        match self {
            Modes::Both => true,
            Modes::Database => !headless,
            Modes::Headless => headless,
        }
    }
}

/// The verdict on one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// 401: no credential, or one that does not count for this route (an API key outside
    /// its scope, a key where a user's session is needed).
    Unauthenticated,
    /// 403: a signed-in caller without the rights (a user who is not an admin).
    Forbidden,
}

/// Whether an API key with `scope` may call a route of class `access`.
pub fn scope_allows(scope: ApiKeyScope, access: Access) -> bool {
    match access {
        Access::Public => true,
        Access::DbUser => false,
        Access::Sign => matches!(scope, ApiKeyScope::Sign | ApiKeyScope::Admin),
        Access::Read => matches!(scope, ApiKeyScope::Read | ApiKeyScope::Admin),
        Access::User | Access::Admin => scope == ApiKeyScope::Admin,
    }
}

/// The matrix: may `caller` (None: nobody authenticated) call a route of class `access`?
pub fn decide(access: Access, caller: Option<&Principal>, headless: bool) -> Decision {
    use Decision::{Allow, Forbidden, Unauthenticated};
    let Some(caller) = caller else {
        return if access == Access::Public {
            Allow
        } else {
            Unauthenticated
        };
    };
    match (caller, access) {
        (_, Access::Public) => Allow,
        (Principal::User { .. }, Access::DbUser) => Allow,
        (_, Access::DbUser) => Unauthenticated,
        (Principal::Anonymous, _) => Allow,
        (Principal::ApiKey { scope, .. }, a) => {
            if scope_allows(*scope, a) {
                Allow
            } else {
                Unauthenticated
            }
        }
        (Principal::User { role, .. }, Access::Admin) => {
            if *role == Role::Admin {
                Allow
            } else {
                Forbidden
            }
        }
        (Principal::User { .. }, _) => Allow,
        // The headless owner; in database mode API_KEY and the basic user are signed-in
        // callers but no admins.
        (Principal::EnvApiKey | Principal::Basic { .. }, Access::Admin) => {
            if headless {
                Allow
            } else {
                Forbidden
            }
        }
        (Principal::EnvApiKey | Principal::Basic { .. }, _) => Allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scope: ApiKeyScope) -> Principal {
        Principal::ApiKey {
            id: 1,
            prefix: "p".into(),
            scope,
        }
    }

    fn user(role: Role) -> Principal {
        Principal::User {
            id: 1,
            username: "u".into(),
            role,
        }
    }

    /// The table in the module docs, row by row.
    #[test]
    fn the_matrix_as_documented() {
        use Decision::{Allow as Y, Forbidden as F, Unauthenticated as U};
        let callers: [Option<Principal>; 6] = [
            None,
            Some(user(Role::User)),
            Some(user(Role::Admin)),
            Some(key(ApiKeyScope::Sign)),
            Some(key(ApiKeyScope::Read)),
            Some(key(ApiKeyScope::Admin)),
        ];
        let rows = [
            (Access::Public, [Y, Y, Y, Y, Y, Y]),
            (Access::Sign, [U, Y, Y, Y, U, Y]),
            (Access::Read, [U, Y, Y, U, Y, Y]),
            (Access::User, [U, Y, Y, U, U, Y]),
            (Access::DbUser, [U, Y, Y, U, U, U]),
            (Access::Admin, [U, F, Y, U, U, Y]),
        ];
        for (access, want) in rows {
            for (c, w) in callers.iter().zip(want) {
                assert_eq!(decide(access, c.as_ref(), false), w, "{access:?} {c:?}");
            }
        }
    }

    #[test]
    fn headless_owner_and_auth_off() {
        for a in Access::ALL {
            let want = if a == Access::DbUser {
                Decision::Unauthenticated
            } else {
                Decision::Allow
            };
            assert_eq!(decide(a, Some(&Principal::EnvApiKey), true), want);
            assert_eq!(decide(a, Some(&Principal::Anonymous), false), want);
        }
        // Database mode: API_KEY is a signed-in caller, not an admin.
        assert_eq!(
            decide(Access::Admin, Some(&Principal::EnvApiKey), false),
            Decision::Forbidden
        );
        assert_eq!(
            decide(Access::Sign, Some(&Principal::EnvApiKey), false),
            Decision::Allow
        );
    }
}
