//! Fuzz the receive path after decryption: envelope schema and typed payload parsing,
//! plus event JSON parsing and content decoding. Any panic is a bug.
#![no_main]

use igloo::frostr::transport::{cipher, event::Event, payload::parse_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((id, payload)) = parse_message(text) {
        // A parsed payload must re-serialise into something that parses the same way.
        let again = payload.to_envelope(id).to_json();
        let (id2, payload2) = parse_message(&again).expect("re-serialised payload parses");
        assert_eq!(id, id2);
        assert_eq!(payload, payload2);
    }
    if let Ok(ev) = Event::from_json(text) {
        let _ = ev.verify();
    }
    let _ = cipher::decrypt(&[7u8; 32], text);
});
