//! `POST /api/recover` and `POST /api/recover/validate` (reference §3.8): rebuild the group's
//! nsec from t shares, and check one credential ([`crate::control::recover`] does both). The
//! nsec is returned to the caller (that is the endpoint's purpose) and never logged;
//! submitted shares are wiped after use.

use axum::Json;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::control::recover::{self as control, CredentialKind, RecoveryError};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoverRequest {
    /// `bfgroup1…`
    pub group_credential: Option<String>,
    /// `bfshare1…` credentials; at least the group's threshold of them.
    pub share_credentials: Option<Vec<String>>,
}

/// A share that could not be used, by its position in `shareCredentials`.
#[derive(Serialize, Clone, utoipa::ToSchema)]
pub struct InvalidShare {
    pub index: usize,
    pub error: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoverDetails {
    pub shares_used: usize,
    pub threshold_required: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_shares: Option<Vec<InvalidShare>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoverResponse<'a> {
    pub success: bool,
    /// The recovered group secret key, `nsec1…`.
    pub nsec: &'a str,
    pub details: RecoverDetails,
}

/// Error body of the recovery endpoints: `{success: false, error, code, details?}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecoverErrorBody {
    pub success: bool,
    pub error: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

struct Failure {
    status: StatusCode,
    code: &'static str,
    error: String,
    details: Option<serde_json::Value>,
}

impl Failure {
    fn new(status: StatusCode, code: &'static str, error: impl Into<String>) -> Self {
        Self {
            status,
            code,
            error: error.into(),
            details: None,
        }
    }
    fn bad(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", error)
    }
    fn with_details(mut self, d: serde_json::Value) -> Self {
        self.details = Some(d);
        self
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = RecoverErrorBody {
            success: false,
            error: self.error,
            code: self.code.to_string(),
            details: self.details,
        };
        (self.status, Json(body)).into_response()
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(req: Request) -> Result<T, Failure> {
    // Already read and capped at the route's limit by `super::limits` (413 there).
    let mut body = axum::body::to_bytes(req.into_body(), super::limits::DEFAULT_LIMIT)
        .await
        .map_err(|_| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "The request body could not be read",
            )
        })?
        .to_vec();
    let parsed = serde_json::from_slice(&body).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            format!("The body is not valid JSON of the expected shape: {e}"),
        )
    });
    body.zeroize();
    parsed
}

fn to_json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

#[utoipa::path(post, path = "/api/recover", tag = "recovery", request_body = RecoverRequest,
    responses(
        (status = 200, description = "The recovered nsec", body = RecoverResponse),
        (status = 400, description = "Bad group, no valid shares, or fewer than the threshold", body = RecoverErrorBody),
        (status = 413, description = "Body over 64 KB", body = RecoverErrorBody),
        (status = 500, description = "The shares do not combine to the group key", body = RecoverErrorBody)))]
pub async fn recover(req: Request) -> Response {
    let mut body: RecoverRequest = match read_json(req).await {
        Ok(b) => b,
        Err(f) => return f.into_response(),
    };
    let out = recover_inner(&body);
    if let Some(shares) = body.share_credentials.as_mut() {
        shares.iter_mut().for_each(|s| s.zeroize());
    }
    out.unwrap_or_else(IntoResponse::into_response)
}

fn recover_inner(body: &RecoverRequest) -> Result<Response, Failure> {
    let (Some(group_cred), Some(share_creds)) = (&body.group_credential, &body.share_credentials)
    else {
        return Err(Failure::bad(
            "Missing or invalid groupCredential or shareCredentials",
        ));
    };
    let invalid_json = |invalid: &[control::InvalidShare]| {
        to_json(
            &invalid
                .iter()
                .map(|i| InvalidShare {
                    index: i.index,
                    error: i.error.clone(),
                })
                .collect::<Vec<_>>(),
        )
    };
    let r = control::recover(group_cred, share_creds).map_err(|e| match &e {
        RecoveryError::Group(_) => Failure::bad(e.to_string()),
        RecoveryError::NoValidShares { invalid } => {
            Failure::bad(e.to_string()).with_details(invalid_json(invalid))
        }
        RecoveryError::Insufficient {
            provided,
            required,
            invalid,
        } => Failure::bad(e.to_string()).with_details(serde_json::json!({
            "provided": provided,
            "required": required,
            "invalidShares": invalid_json(invalid),
        })),
        RecoveryError::Failed {
            provided, invalid, ..
        } => Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "RECOVERY_FAILED",
            e.to_string(),
        )
        .with_details(serde_json::json!({
            "sharesProvided": provided,
            "invalidShares": invalid_json(invalid),
        })),
    })?;
    let invalid: Vec<InvalidShare> = r
        .invalid
        .iter()
        .map(|i| InvalidShare {
            index: i.index,
            error: i.error.clone(),
        })
        .collect();
    let resp = RecoverResponse {
        success: true,
        nsec: r.nsec.as_str(),
        details: RecoverDetails {
            shares_used: r.shares_used,
            threshold_required: r.threshold,
            invalid_shares: (!invalid.is_empty()).then_some(invalid),
        },
    };
    let bytes = serde_json::to_vec(&resp).map_err(|e| {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "RECOVERY_FAILED",
            e.to_string(),
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ValidateRequest {
    /// `group` or `share`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub credential: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Validation {
    pub is_valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What the credential holds: `{threshold, totalShares}` for a group, `{idx}` for a share.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decoded {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_shares: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idx: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ValidateResponse {
    pub success: bool,
    pub validation: Validation,
    pub decoded: Option<Decoded>,
}

#[utoipa::path(post, path = "/api/recover/validate", tag = "recovery", request_body = ValidateRequest,
    responses(
        (status = 200, description = "Whether the credential is valid, and what it holds", body = ValidateResponse),
        (status = 400, description = "Missing type or credential, or an unknown type", body = RecoverErrorBody),
        (status = 413, description = "Body over 64 KB", body = RecoverErrorBody)))]
pub async fn validate(req: Request) -> Response {
    let mut body: ValidateRequest = match read_json(req).await {
        Ok(b) => b,
        Err(f) => return f.into_response(),
    };
    let out = validate_inner(&body);
    if let Some(c) = body.credential.as_mut() {
        c.zeroize();
    }
    match out {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.into_response(),
    }
}

fn validate_inner(body: &ValidateRequest) -> Result<ValidateResponse, Failure> {
    let (Some(kind), Some(cred)) = (&body.kind, &body.credential) else {
        return Err(Failure::bad("Missing type or credential"));
    };
    let kind = match kind.as_str() {
        "group" => CredentialKind::Group,
        "share" => CredentialKind::Share,
        _ => return Err(Failure::bad("Invalid type. Must be \"group\" or \"share\"")),
    };
    let result = control::validate(kind, cred).map(|d| match d {
        control::Decoded::Group { threshold, total } => Decoded {
            threshold: Some(threshold),
            total_shares: Some(total),
            idx: None,
        },
        control::Decoded::Share { idx } => Decoded {
            threshold: None,
            total_shares: None,
            idx: Some(idx),
        },
    });
    Ok(match result {
        Ok(decoded) => ValidateResponse {
            success: true,
            validation: Validation {
                is_valid: true,
                message: None,
            },
            decoded: Some(decoded),
        },
        Err(e) => ValidateResponse {
            success: true,
            validation: Validation {
                is_valid: false,
                message: Some(e),
            },
            decoded: None,
        },
    })
}
