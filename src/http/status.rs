//! `GET /api/status`: igloo-server's shape (reference §3.6) with true values.

use std::time::SystemTime;

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::AppState;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    pub server_running: bool,
    /// True only while a signing node runs with credentials.
    pub node_active: bool,
    /// Whether credentials are configured (headless: from the environment).
    pub has_credentials: Option<bool>,
    pub relay_count: usize,
    pub relays: Vec<String>,
    /// ISO-8601 time of this answer.
    pub timestamp: String,
    pub version: String,
    /// `headless` or `database`.
    pub mode: String,
    pub tls: bool,
    /// True while an owner passphrase keeps the stored secrets (and so the node) locked.
    pub locked: bool,
    pub uptime_seconds: u64,
    pub restart_info: RestartInfo,
    pub health: Health,
    /// Counters of the built-in relay; absent when it is disabled.
    #[schema(value_type = Option<Object>)]
    pub relay: Option<serde_json::Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestartInfo {
    /// The node cannot (re)start because no credentials are configured.
    pub blocked_by_credentials: bool,
}

/// Node health as the watchdog sees it; null fields mean "no node yet".
#[derive(Serialize, utoipa::ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub is_healthy: bool,
    pub is_connected: bool,
    pub last_activity: Option<String>,
    pub last_health_check: Option<String>,
    pub consecutive_failures: u32,
    pub restart_count: u32,
    /// Milliseconds since the last activity.
    pub time_since_last_activity: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/status",
    tag = "status",
    responses((status = 200, description = "Server and node status", body = StatusResponse))
)]
pub async fn status(State(state): State<AppState>) -> Json<StatusResponse> {
    let cfg = &state.config;
    let has_credentials = cfg.has_env_credentials();
    let node = state.node.current();
    let node_active = node.is_some();
    // Connected means an open relay socket, never a configured URL.
    let is_connected = node.as_ref().is_some_and(|n| n.is_connected());
    Json(StatusResponse {
        server_running: true,
        node_active,
        has_credentials: Some(has_credentials),
        relay_count: cfg.relays.len(),
        relays: cfg.relays.clone(),
        timestamp: crate::timefmt::iso8601(SystemTime::now()),
        version: env!("CARGO_PKG_VERSION").to_string(),
        mode: if cfg.headless { "headless" } else { "database" }.to_string(),
        tls: state.tls_enabled,
        locked: state.vault.is_locked(),
        uptime_seconds: state.started.elapsed().as_secs(),
        restart_info: RestartInfo {
            blocked_by_credentials: !has_credentials,
        },
        health: Health {
            is_healthy: node_active && is_connected,
            is_connected,
            ..Health::default()
        },
        relay: state.relay_stats(),
    })
}
