//! The API's one error type: every error body is JSON `{error, code}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A sentence a person can read.
    pub error: String,
    /// A stable machine-readable code, e.g. `NOT_FOUND`.
    pub code: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "Method not allowed",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.message,
            code: self.code.to_string(),
        };
        (self.status, Json(body)).into_response()
    }
}

/// The control layer's errors as API answers (status, stable code, message).
impl From<crate::control::ControlError> for ApiError {
    fn from(e: crate::control::ControlError) -> Self {
        use crate::control::ControlError as E;
        use crate::keyset::{ImportError, MigrateError};
        use crate::secrets::SecretsError;
        let bad = |code, e: &E| ApiError::new(StatusCode::BAD_REQUEST, code, e.to_string());
        match e {
            E::Store(e) => super::auth::store_error(e),
            E::Credentials(e) => super::user::credentials_error(e),
            E::Unreadable(m) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "CREDENTIALS_UNREADABLE",
                m,
            ),
            E::InvalidCredentials(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, "INVALID_CREDENTIALS", m)
            }
            E::Migrate(ref m) => match m {
                MigrateError::Source => bad("INVALID_REQUEST", &e),
                MigrateError::Password => bad("WEAK_PASSWORD", &e),
                MigrateError::Relays(_) => bad("INVALID_RELAYS", &e),
                MigrateError::Keyset(_) | MigrateError::TooManyMembers(_) => {
                    bad("INVALID_SHAPE", &e)
                }
                MigrateError::Package(_) => {
                    tracing::error!(error = %e, "sealing an onboarding package failed");
                    ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "INTERNAL",
                        "Could not seal the onboarding packages",
                    )
                }
                _ => bad("INVALID_CREDENTIALS", &e),
            },
            E::Import(ref i) => match i {
                ImportError::Package(crate::frostr_v2::credentials::PackageError::Decrypt) => {
                    bad("DECRYPT_FAILED", &e)
                }
                ImportError::Password => bad("INVALID_REQUEST", &e),
                _ => bad("INVALID_PACKAGE", &e),
            },
            E::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "BUSY",
                "The server is shutting down",
            ),
            E::Internal => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "Unexpected server error",
            ),
            E::NodeUnavailable => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "NODE_UNAVAILABLE",
                "The signing node is not running",
            ),
            E::NoCredentials => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "NODE_UNAVAILABLE",
                "No signing node: no group and share credentials are configured",
            ),
            E::Sign(e) => super::node::sign_error(e),
            E::BadInput(m) => ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", m),
            E::Ecdh(e) => ecdh_error(e),
            E::Crypto(e) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "CRYPTO_ERROR",
                e.to_string(),
            ),
            E::NoPassphrase => ApiError::new(
                StatusCode::BAD_REQUEST,
                "NO_PASSPHRASE",
                "No passphrase is set; the secrets are not locked",
            ),
            E::Unlock(SecretsError::WrongPassphrase) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "WRONG_PASSPHRASE",
                "Wrong passphrase",
            ),
            E::Unlock(e) => {
                tracing::error!(error = %e, "unlock failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UNLOCK_FAILED",
                    e.to_string(),
                )
            }
            E::Passphrase(e @ SecretsError::BadPassphrase) => {
                ApiError::new(StatusCode::BAD_REQUEST, "INVALID_PASSPHRASE", e.to_string())
            }
            E::Passphrase(e @ SecretsError::Locked) => {
                ApiError::new(StatusCode::LOCKED, "LOCKED", e.to_string())
            }
            E::Passphrase(e) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "PASSPHRASE_FAILED",
                e.to_string(),
            ),
        }
    }
}

/// A failed threshold ECDH round (NIP-04/44 endpoints).
fn ecdh_error(e: crate::node::NodeError) -> ApiError {
    use crate::node::NodeError;
    use crate::node::v2::V2Error;
    match e {
        NodeError::Timeout(t) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "ECDH_TIMEOUT",
            format!("ECDH timed out after {} ms", t.as_millis()),
        ),
        NodeError::Stopped | NodeError::NotPublished | NodeError::NotEnoughPeers { .. } => {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "NODE_UNAVAILABLE",
                e.to_string(),
            )
        }
        NodeError::BadReply(_) | NodeError::V2(V2Error::Ecdh(_) | V2Error::Rejected { .. }) => {
            ApiError::new(StatusCode::BAD_GATEWAY, "ECDH_FAILED", e.to_string())
        }
        _ => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ECDH_FAILED",
            e.to_string(),
        ),
    }
}
