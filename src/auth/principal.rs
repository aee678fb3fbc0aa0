//! The authenticated caller of a request.

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
    /// A database API key.
    ApiKey { id: u64, prefix: String },
    /// The headless `API_KEY`.
    EnvApiKey,
    /// `BASIC_AUTH_USER`.
    Basic { username: String },
    /// The `ADMIN_SECRET` presented as a bearer token or `X-Admin-Secret`.
    AdminSecret,
}

impl Principal {
    /// igloo-server's `userId`: the numeric DB id, `api-user`, `api-key:<prefix>`, the basic
    /// user name, `anonymous`, or null for the admin secret.
    pub fn user_id_json(&self) -> serde_json::Value {
        match self {
            Principal::Anonymous => "anonymous".into(),
            Principal::User { id, .. } => (*id).into(),
            Principal::ApiKey { prefix, .. } => format!("api-key:{prefix}").into(),
            Principal::EnvApiKey => "api-user".into(),
            Principal::Basic { username } => username.clone().into(),
            Principal::AdminSecret => serde_json::Value::Null,
        }
    }

    /// May this caller manage the device (users, keys, configuration)? In headless mode the
    /// API key and basic user are the owner; in database mode admins and the admin secret.
    pub fn is_admin(&self, headless: bool) -> bool {
        match self {
            Principal::Anonymous => true,
            Principal::User { role, .. } => *role == Role::Admin,
            Principal::AdminSecret => !headless,
            Principal::EnvApiKey | Principal::Basic { .. } => headless,
            Principal::ApiKey { .. } => false,
        }
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
        assert!(Principal::AdminSecret.is_admin(false));
        assert!(!Principal::AdminSecret.is_admin(true));
        assert!(Principal::EnvApiKey.is_admin(true));
        assert!(!Principal::EnvApiKey.is_admin(false));
        assert!(
            !Principal::ApiKey {
                id: 1,
                prefix: "p".into()
            }
            .is_admin(false)
        );
        assert_eq!(user(Role::User).user_id_json(), serde_json::json!(1));
        assert_eq!(Principal::EnvApiKey.user_id_json(), "api-user");
    }
}
