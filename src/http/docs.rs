//! The OpenAPI document, generated from the handlers' annotations, and Swagger UI served
//! from files vendored into the binary (no download at build or run time).

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::OpenApi;
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::AppState;
use super::error::{ApiError, ErrorBody};
use super::{crypto, node, recover, status};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "igloo API",
        description = "HTTP API of the igloo FROSTR signing node. Paths and shapes follow igloo-server.",
        license(name = "MIT")
    ),
    paths(status::status, node::sign, node::peers, node::ping, openapi_json, openapi_yaml,
        crypto::nip44_encrypt, crypto::nip44_decrypt, crypto::nip04_encrypt, crypto::nip04_decrypt,
        recover::recover, recover::validate),
    components(schemas(ErrorBody, status::StatusResponse, status::Health, status::RestartInfo,
        node::SignRequest, node::UnsignedEvent, node::SignResponse, node::PeersResponse, node::PeerView,
        node::PeerPolicyView, node::PingRequest, node::PingResultView, node::PingAllResponse,
        crypto::CryptoRequest, crypto::CryptoResponse, recover::RecoverRequest, recover::RecoverResponse,
        recover::RecoverDetails, recover::InvalidShare, recover::RecoverErrorBody, recover::ValidateRequest,
        recover::ValidateResponse, recover::Validation, recover::Decoded)),
    tags((name = "status", description = "Server and node status"), (name = "docs", description = "This document"), (name = "node", description = "Signing node: sign, peers, ping"),
        (name = "crypto", description = "NIP-44 v2 and NIP-04 with the group key (threshold ECDH)"),
        (name = "recovery", description = "Rebuild the group nsec from shares"))
)]
pub struct ApiDoc;

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
    SwaggerUi::new("/api/docs")
        .config(Config::from("/api/docs/openapi.json"))
        .into()
}
