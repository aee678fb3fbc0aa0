//! Every relay setting: environment name, CLI flag, default and the reason for it.

use clap::{ArgAction, Args};

/// Settings of the ephemeral relay (`crate::relay`). The daemon flattens this into its own `Config`.
///
/// The defaults size the relay for its job: carrying one FROSTR group's traffic (a handful of
/// peers exchanging small, short-lived events) on a device as small as a Pi Zero 2, while staying
/// usable as a general-purpose test relay.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RelayConfig {
    /// Serve the relay at `/` on the daemon's listener (and on `RELAY_PORT` if set).
    #[arg(long = "relay-enabled", env = "RELAY_ENABLED", default_value_t = true, action = ArgAction::Set)]
    pub enabled: bool,

    /// Also serve the relay alone on this port (plain WebSocket, all interfaces).
    #[arg(long = "relay-port", env = "RELAY_PORT")]
    pub port: Option<u16>,

    /// Seconds a stored event is kept. 30 s is what igloo-server's README promises: the relay
    /// is a meeting point for live signing rounds, not an archive. 0 keeps nothing (live only).
    #[arg(
        long = "relay-purge-seconds",
        env = "RELAY_PURGE_SECONDS",
        default_value_t = 30
    )]
    pub purge_seconds: u64,

    /// Most events stored at once. 10,000 is two orders of magnitude above what a FROSTR group
    /// produces in 30 s, yet a full scan of it stays well under a millisecond.
    #[arg(
        long = "relay-max-events",
        env = "RELAY_MAX_EVENTS",
        default_value_t = 10_000
    )]
    pub max_events: usize,

    /// Most bytes of events stored at once (serialized JSON plus index overhead). 16 MiB keeps
    /// the whole process far below 64 MiB RSS even when every event is large.
    #[arg(long = "relay-max-bytes", env = "RELAY_MAX_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_bytes: usize,

    /// Largest accepted WebSocket message in bytes. 128 KiB holds any realistic event (NIP-44
    /// caps plaintext at 64 KiB, which base64 inflates to about 87 KiB).
    #[arg(long = "relay-max-message-bytes", env = "RELAY_MAX_MESSAGE_BYTES", default_value_t = 128 * 1024)]
    pub max_message_bytes: usize,

    /// Open subscriptions per connection. A FROSTR node needs one or two; 20 matches common
    /// public relays, so ordinary clients are never refused.
    #[arg(
        long = "relay-max-subscriptions",
        env = "RELAY_MAX_SUBSCRIPTIONS",
        default_value_t = 20
    )]
    pub max_subscriptions: usize,

    /// Filters per REQ. Each filter is a scan of the store, so this bounds the work per REQ.
    #[arg(
        long = "relay-max-filters",
        env = "RELAY_MAX_FILTERS",
        default_value_t = 10
    )]
    pub max_filters: usize,

    /// Concurrent connections from one IP address. igloo-server's 5 is too few for a group
    /// running on one host (tests, several signers behind one NAT); 64 still stops one host
    /// from taking every slot.
    #[arg(
        long = "relay-max-connections-per-ip",
        env = "RELAY_MAX_CONNECTIONS_PER_IP",
        default_value_t = 64
    )]
    pub max_connections_per_ip: usize,

    /// Concurrent connections in total; bounds memory (each costs its send queue and buffers).
    #[arg(
        long = "relay-max-connections",
        env = "RELAY_MAX_CONNECTIONS",
        default_value_t = 1024
    )]
    pub max_connections: usize,

    /// Messages per second per connection (token bucket, bursts of twice this). igloo-server's
    /// 20/s closed sockets of busy signing groups; 100/s leaves headroom for a group signing
    /// in bursts while capping what one client can make the relay verify. 0 disables it.
    #[arg(
        long = "relay-messages-per-second",
        env = "RELAY_MESSAGES_PER_SECOND",
        default_value_t = 100
    )]
    pub messages_per_second: u32,

    /// Live messages queued for one connection before it is disconnected as too slow. 1,024
    /// absorbs a 200 ms stall at 5,000 events/s; queued events are shared, so the cost is a
    /// pointer each.
    #[arg(
        long = "relay-send-queue",
        env = "RELAY_SEND_QUEUE",
        default_value_t = 1024
    )]
    pub send_queue: usize,

    /// Seconds an event's `created_at` may lie in the future. 900 s (as strfry) tolerates
    /// badly set clocks on small devices without letting events sort ahead for long.
    #[arg(
        long = "relay-future-seconds",
        env = "RELAY_FUTURE_SECONDS",
        default_value_t = 900
    )]
    pub future_seconds: u64,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            port: None,
            purge_seconds: 30,
            max_events: 10_000,
            max_bytes: 16 * 1024 * 1024,
            max_message_bytes: 128 * 1024,
            max_subscriptions: 20,
            max_filters: 10,
            max_connections_per_ip: 64,
            max_connections: 1024,
            messages_per_second: 100,
            send_queue: 1024,
            future_seconds: 900,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        relay: RelayConfig,
    }

    #[test]
    fn clap_defaults_equal_default_impl() {
        let cli = Cli::try_parse_from(["igloo"]).expect("no arguments parse");
        assert_eq!(cli.relay, RelayConfig::default());
    }

    #[test]
    fn flags_override_defaults() {
        let cli = Cli::try_parse_from([
            "igloo",
            "--relay-enabled",
            "false",
            "--relay-port",
            "7777",
            "--relay-purge-seconds",
            "5",
        ])
        .expect("flags parse");
        assert!(!cli.relay.enabled);
        assert_eq!(cli.relay.port, Some(7777));
        assert_eq!(cli.relay.purge_seconds, 5);
    }
}
