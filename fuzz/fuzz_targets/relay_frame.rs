//! Fuzz the relay frames in both directions: a client's frame as the built-in relay handles it
//! (parse, EVENT checks and storage, REQ/COUNT filter compilation and matching), and a relay's
//! frame as the node's pool parses it. Any panic is a bug.
#![no_main]

use std::sync::{Arc, OnceLock};

use igloo::relay::{Relay, RelayConfig};
use libfuzzer_sys::fuzz_target;

fn relay() -> &'static Arc<Relay> {
    static RELAY: OnceLock<Arc<Relay>> = OnceLock::new();
    RELAY.get_or_init(|| Relay::new(RelayConfig::default()))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    relay().fuzz_client_frame(text);
    let _ = igloo::node::pool::parse_relay_frame(text);
});
