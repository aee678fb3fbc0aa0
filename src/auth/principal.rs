//! The authenticated caller of a request.

use crate::store::api_keys::ApiKeyScope;
use crate::store::users::Role;

/// Who made a request. Inserted into the request extensions by [`super::enforce`]; handlers
/// take it with `Extension<Principal>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// Authentication is disabled (`AUTH_ENABLED=false`): everyone is the owner.
    Anonymous,
    /// A database user (session).
    User {
        id: u64,
        username: String,
        role: Role,
    },
    /// A database API key and what it may do.
    ApiKey {
        id: u64,
        prefix: String,
        scope: ApiKeyScope,
    },
    /// The headless `API_KEY`.
    EnvApiKey,
    /// `BASIC_AUTH_USER`.
    Basic { username: String },
}

impl Principal {
    /// igloo-server's `userId`: the numeric DB id, `api-user`, `api-key:<prefix>`, the basic
    /// user name or `anonymous`.
    pub fn user_id_json(&self) -> serde_json::Value {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::User { id, .. } => (*id).into(),
            Principal::ApiKey { prefix, .. } => format!("api-key:{prefix}").into(),
            Principal::EnvApiKey => "api-user".into(),
            Principal::Basic { username } => username.clone().into(),
        }
    }

    /// May this caller manage the device (users, keys, configuration)? The access matrix's
    /// `Admin` row ([`super::access::decide`]): admin users and `admin` API keys; in headless
    /// mode the API key and basic user.
    pub fn is_admin(&self, headless: bool) -> bool {
        super::access::decide(super::access::Access::Admin, Some(self), headless)
            == super::access::Decision::Allow
    }

    pub fn db_user_id(&self) -> Option<u64> {
        match self {
            Principal::User { id, .. } => Some(*id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_rights_depend_on_mode_and_role() {
        let user = |role| Principal::User {
            id: 1,
            username: "u".into(),
            role,
        };
        assert!(user(Role::Admin).is_admin(false));
        assert!(!user(Role::User).is_admin(false));
        assert!(Principal::EnvApiKey.is_admin(true));
        assert!(!Principal::EnvApiKey.is_admin(false));
        assert!(
            !Principal::ApiKey {
                id: 1,
                prefix: "p".into(),
                scope: ApiKeyScope::Read,
            }
            .is_admin(false)
        );
        assert!(
            Principal::ApiKey {
                id: 1,
                prefix: "p".into(),
                scope: ApiKeyScope::Admin,
            }
            .is_admin(false)
        );
        assert_eq!(user(Role::User).user_id_json(), serde_json::json!(1));
        assert_eq!(Principal::EnvApiKey.user_id_json(), "api-user");
    }
}
