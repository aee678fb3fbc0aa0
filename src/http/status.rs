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
    /// FROSTR protocol of the running node: `v1` (bifrost, kind 20004) or `v2`
    /// (bifrost-rs, kind 20000); null without a node.
    #[schema(value_type = Option<String>)]
    pub protocol: Option<&'static str>,
    /// Whether credentials are configured (headless: from the environment).
    pub has_credentials: Option<bool>,
    pub relay_count: usize,
    pub relays: Vec<String>,
    /// What is true of each relay connection of the running node (empty without a node).
    pub relay_states: Vec<RelayStatus>,
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

/// One relay connection of the node.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RelayStatus {
    pub url: String,
    /// An open socket (never just a configured URL).
    pub connected: bool,
    /// ISO-8601 start of the current connection or outage.
    pub since: Option<String>,
    pub last_error: Option<String>,
    /// Round-trip time of the last WebSocket ping, in milliseconds.
    pub rtt_ms: Option<u64>,
    pub reconnects: u32,
    /// The last ping took a second or more, or a ping has waited that long (a slow relay).
    pub slow: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestartInfo {
    /// The node cannot (re)start because no credentials are configured.
    pub blocked_by_credentials: bool,
}

/// Node health from the health model; null fields mean "no check yet".
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
    // Env credentials, or stored ones the node runs (or is meant to run) with.
    let has_credentials =
        cfg.has_env_credentials() || cfg.v2_credentials.is_some() || state.node.wants_any_node();
    let node = state.node.current_any();
    let node_active = node.is_some();
    // Connected means an open relay socket, never a configured URL.
    let is_connected = node.as_ref().is_some_and(|n| n.is_connected());
    let report = state.node.health();
    let now = SystemTime::now();
    let iso = |t: Option<SystemTime>| t.map(crate::timefmt::iso8601);
    let since_activity = report
        .last_activity
        .and_then(|t| now.duration_since(t).ok())
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let relay_states = node.as_ref().map(|n| n.relay_states()).unwrap_or_default();
    // The relays the node really uses (stored credentials may name their own); the
    // configured list only when no node runs.
    let relays: Vec<String> = if node.is_some() {
        relay_states.iter().map(|s| s.url.clone()).collect()
    } else {
        cfg.relays.clone()
    };
    Json(StatusResponse {
        server_running: true,
        node_active,
        protocol: node.as_ref().map(|n| n.protocol().as_str()),
        has_credentials: Some(has_credentials),
        relay_count: relays.len(),
        relays,
        relay_states: relay_states
            .into_iter()
            .map(|s| RelayStatus {
                url: s.url,
                connected: s.connected,
                since: s.since,
                last_error: s.last_error,
                rtt_ms: s.rtt_ms,
                reconnects: s.reconnects,
                slow: s.slow,
            })
            .collect(),
        timestamp: crate::timefmt::iso8601(now),
        version: env!("CARGO_PKG_VERSION").to_string(),
        mode: if cfg.headless { "headless" } else { "database" }.to_string(),
        tls: state.tls_enabled,
        locked: state.vault.is_locked(),
        uptime_seconds: state.started.elapsed().as_secs(),
        restart_info: RestartInfo {
            blocked_by_credentials: !has_credentials,
        },
        health: Health {
            // The node's health: false without a node (the systemd watchdog, by contrast,
            // counts a server with no node configured as healthy).
            is_healthy: node_active && report.is_healthy,
            is_connected,
            last_activity: iso(report.last_activity),
            last_health_check: iso(report.last_health_check),
            consecutive_failures: report.consecutive_failures,
            restart_count: report.restart_count,
            time_since_last_activity: since_activity,
        },
        relay: state.relay_stats(),
    })
}
