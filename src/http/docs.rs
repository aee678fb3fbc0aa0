//! The OpenAPI document, generated from the handlers' annotations, and Swagger UI served
//! from files vendored into the binary, gzipped (no download at build or run time).

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::{
    admin, auth, crypto, env, events, keyset, nip46, node, onboarding, peers, qr, recover, status,
    user,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "igloo API",
        description = "HTTP API of the igloo FROSTR signing node. Paths and shapes follow igloo-server.",
        license(name = "MIT")
    ),
    paths(status::status, events::events, node::sign, node::peers, node::ping, openapi_json, openapi_yaml,
        // ---- POLICY ----
        peers::self_key, peers::group, peers::policies, peers::get_policy, peers::put_policy,
        peers::delete_policy, node::pending_signs, node::approve_sign, node::deny_sign,
        // ---- CRYPTO ----
        crypto::nip44_encrypt, crypto::nip44_decrypt, crypto::nip04_encrypt, crypto::nip04_decrypt,
        recover::recover, recover::validate, qr::qr,
        // ---- AUTH ----
        auth::login, auth::logout, auth::status, auth::unlock,
        onboarding::status, onboarding::validate_admin, onboarding::setup,
        user::profile, user::get_credentials, user::set_credentials, user::set_credentials_put,
        user::delete_credentials, user::get_relays, user::set_relays, user::set_relays_put,
        user::change_password,
        admin::whoami, admin::status, admin::list_users, admin::add_user, admin::delete_user,
        admin::list_api_keys, admin::create_api_key, admin::revoke_api_key, admin::set_passphrase,
        env::get_env, env::post_env, env::delete_env, env::get_shares, env::post_shares,
        env::reveal_admin_secret,
        // ---- NIP-46 ----
        nip46::list_sessions, nip46::create_session, nip46::delete_session, nip46::put_policy,
        nip46::put_status, nip46::history, nip46::list_requests, nip46::decide_request,
        nip46::get_relays, nip46::put_relays, nip46::transport, nip46::connect, nip46::bunker,
        // ---- V2M ----
        keyset::get_keyset, keyset::delete_keyset, keyset::migrate_keyset, keyset::import_keyset),
    components(schemas(ErrorBody, status::StatusResponse, status::Health, status::RestartInfo, status::RelayStatus,
        node::SignRequest, node::UnsignedEvent, node::SignResponse, node::PeersResponse, node::PeerView,
        node::PingRequest, node::PingResultView, node::PingAllResponse, node::PingOneView, node::PingStatusView,
        // ---- POLICY ----
        node::SignedEvent, node::PendingSignView, node::PendingSignsResponse, node::ApprovedResponse,
        node::DeniedResponse, peers::PeerPolicyView, peers::SelfResponse, peers::GroupResponse,
        peers::PoliciesResponse, peers::PolicyResponse, peers::PolicyRemovedResponse,
        peers::PolicyRequest,
        // ---- CRYPTO ----
        crypto::CryptoRequest, crypto::CryptoResponse, recover::RecoverRequest, recover::RecoverResponse,
        recover::RecoverDetails, recover::InvalidShare, recover::RecoverErrorBody, recover::ValidateRequest,
        recover::ValidateResponse, recover::Validation, recover::Decoded, qr::QrRequest,
        // ---- AUTH ----
        auth::LoginRequest, auth::LoginResponse, auth::UnlockRequest, onboarding::OnboardingStatus,
        onboarding::SetupRequest,
        // ---- NIP-46 ----
        nip46::SessionView, nip46::SessionsResponse, nip46::CreateSessionRequest,
        nip46::SessionResponse, nip46::OkResponse, nip46::StatusRequest, nip46::SessionHistory,
        nip46::HistoryResponse, nip46::RequestsResponse, nip46::DecideRequest,
        nip46::DecideResponse, nip46::RelaysBody, nip46::ConnectRequest, nip46::BunkerResponse,
        crate::store::nip46::Policy, crate::nip46::service::RequestRecord,
        crate::nip46::service::RequestStatus, crate::nip46::service::TransportInfo,
        crate::nip46::service::RelayStateView, crate::store::nip46::Profile,
        crate::store::nip46::SessionStatus, crate::store::nip46::HistoryEntry,
        // ---- V2M ----
        keyset::MigrateRequest, keyset::MigrateResponse, keyset::OnboardPackageView, keyset::ImportRequest,
        keyset::V2View, keyset::KeysetResponse)),
    tags((name = "status", description = "Server and node status"), (name = "docs", description = "This document"), (name = "events", description = "Live event stream (WebSocket)"), (name = "node", description = "Signing node: sign, peers, ping"),
        (name = "nip46", description = "NIP-46 remote signer: paired apps, approvals, relays, pairing (owner only)"),
        (name = "crypto", description = "NIP-44 v2 and NIP-04 with the group key (threshold ECDH)"),
        (name = "recovery", description = "Rebuild the group nsec from shares"),
        (name = "auth", description = "Login, logout, unlock"), (name = "onboarding", description = "First admin (database mode)"),
        (name = "user", description = "The logged-in user's profile and node credentials (database mode)"),
        (name = "admin", description = "Users and API keys (database mode)"), (name = "env", description = "Configuration"),
        (name = "keyset", description = "FROSTR v1 → V2 migration and V2 credentials")),
    modifiers(&CommonErrors)
)]
pub struct ApiDoc;

/// The error answers any route can give, in the one `{error, code}` shape, added to every
/// operation that does not document that status itself (found by schemathesis: clients and
/// fuzzers must know these bodies are JSON errors, not something else).
struct CommonErrors;

const COMMON_ERRORS: [(&str, &str); 7] = [
    ("400", "Malformed request"),
    ("401", "Authentication required"),
    ("403", "Not allowed for this caller or origin"),
    ("404", "Not found"),
    ("413", "Request body too large (`REQUEST_TOO_LARGE`)"),
    ("429", "Rate limited (`RATE_LIMITED`, with `Retry-After`)"),
    (
        "503",
        "Not available now: no signing node, a locked vault or a busy store",
    ),
];

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                for (status, what) in COMMON_ERRORS {
                    if op.responses.responses.contains_key(status) {
                        continue;
                    }
                    let response = ResponseBuilder::new()
                        .description(what)
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ErrorBody")))
                                .build(),
                        )
                        .build();
                    op.responses
                        .responses
                        .insert(status.to_string(), RefOr::T(response));
                }
            }
        }
    }
}

/// The spec, built once per call; callers that serve it often should cache it.
pub fn spec() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[utoipa::path(get, path = "/api/docs/openapi.json", tag = "docs",
    responses((status = 200, description = "The OpenAPI document as JSON")))]
pub async fn openapi_json() -> Response {
    match spec().to_pretty_json() {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "DOCS_ERROR",
            e.to_string(),
        )
        .into_response(),
    }
}

#[utoipa::path(get, path = "/api/docs/openapi.yaml", tag = "docs",
    responses((status = 200, description = "The OpenAPI document as YAML")))]
pub async fn openapi_yaml() -> Response {
    match spec().to_yaml() {
        Ok(body) => ([(header::CONTENT_TYPE, "application/yaml")], body).into_response(),
        Err(e) => ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "DOCS_ERROR",
            e.to_string(),
        )
        .into_response(),
    }
}

/// Swagger UI at `/api/docs` (and `/api/docs/`), reading `/api/docs/openapi.json`.
pub fn swagger_ui() -> Router<AppState> {
    let router: Router<AppState> = SwaggerUi::new("/api/docs")
        .config(Config::from("/api/docs/openapi.json"))
        .into();
    router.layer(axum::middleware::from_fn(inflate_unless_accepted))
}

/// Swagger UI's files are embedded gzipped (utoipa-swagger-ui's `gzip` feature: 4.3 MB of
/// JavaScript becomes 1.1 MB of the binary) and always answered with `Content-Encoding: gzip`.
/// A client that does not accept gzip gets them inflated here, so every client still reads them.
async fn inflate_unless_accepted(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let accepts_gzip = req
        .headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        });
    let mut res = next.run(req).await;
    let gzipped = res
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    if !gzipped {
        return res;
    }
    res.headers_mut().insert(
        header::VARY,
        header::HeaderValue::from_static("accept-encoding"),
    );
    if accepts_gzip {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let inflated = axum::body::to_bytes(body, usize::MAX)
        .await
        .ok()
        .and_then(|gz| {
            use std::io::Read;
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut out)
                .ok()
                .map(|_| out)
        });
    match inflated {
        Some(bytes) => {
            parts.headers.remove(header::CONTENT_ENCODING);
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, axum::body::Body::from(bytes))
        }
        None => ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "DOCS_ERROR",
            "embedded Swagger UI file is corrupt",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_the_common_json_errors() {
        let doc = serde_json::to_value(spec()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() > 40);
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                for (status, _) in COMMON_ERRORS {
                    let r = &op["responses"][status];
                    assert!(r.is_object(), "{method} {path} lacks {status}");
                }
            }
        }
        let r = &doc["paths"]["/api/status"]["get"]["responses"]["429"];
        assert_eq!(
            r["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
    }
}
