//! `POST /api/recover` and `POST /api/recover/validate` (reference §3.8): rebuild the group's
//! nsec from t shares, and check one credential. The nsec is returned to the caller (that is
//! the endpoint's purpose) and never logged; submitted shares are wiped after use.

use axum::Json;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::frostr::SharePackage;
use crate::frostr::credentials::{check_share_in_group, decode_group, decode_share};
use crate::frostr::nip19::encode_nsec;
use crate::frostr::recovery::recover_secret;

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
    let group = decode_group(group_cred.trim())
        .map_err(|e| Failure::bad(format!("Invalid group credential: {e}")))?;
    let mut valid: Vec<SharePackage> = Vec::new();
    let mut invalid: Vec<InvalidShare> = Vec::new();
    for (index, cred) in share_creds.iter().enumerate() {
        let checked = decode_share(cred.trim())
            .map_err(|e| e.to_string())
            .and_then(|s| {
                check_share_in_group(&s, &group).map_err(|e| e.to_string())?;
                if valid.iter().any(|v| v.idx == s.idx) {
                    return Err(format!("share {} was given more than once", s.idx));
                }
                Ok(s)
            });
        match checked {
            Ok(s) => valid.push(s),
            Err(error) => invalid.push(InvalidShare { index, error }),
        }
    }
    if valid.is_empty() {
        return Err(
            Failure::bad("No valid share credentials provided").with_details(to_json(&invalid))
        );
    }
    let need = group.threshold;
    if valid.len() < need as usize {
        return Err(Failure::bad(format!(
            "Insufficient shares: need {need}, got {}",
            valid.len()
        ))
        .with_details(serde_json::json!({
            "provided": valid.len(),
            "required": need,
            "invalidShares": to_json(&invalid),
        })));
    }
    let secret = recover_secret(&group, &valid).map_err(|e| {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "RECOVERY_FAILED",
            format!("Recovery failed: {e}"),
        )
        .with_details(serde_json::json!({
            "sharesProvided": valid.len(),
            "invalidShares": to_json(&invalid),
        }))
    })?;
    let nsec = encode_nsec(&secret);
    let resp = RecoverResponse {
        success: true,
        nsec: nsec.as_str(),
        details: RecoverDetails {
            shares_used: valid.len(),
            threshold_required: need,
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
    let cred = cred.trim();
    let result = match kind.as_str() {
        "group" => decode_group(cred).map(|g| Decoded {
            threshold: Some(g.threshold),
            total_shares: Some(g.total()),
            idx: None,
        }),
        "share" => decode_share(cred).map(|s| Decoded {
            threshold: None,
            total_shares: None,
            idx: Some(s.idx),
        }),
        _ => return Err(Failure::bad("Invalid type. Must be \"group\" or \"share\"")),
    };
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
                message: Some(e.to_string()),
            },
            decoded: None,
        },
    })
}
