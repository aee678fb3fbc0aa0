//! Fuzz the NIP-46 receive path after decryption: the request decoder, the sign_event and
//! cipher parameters, the connection URIs, permissions, and content decryption with a fixed
//! key (both schemes). Any panic is a bug.
#![no_main]

use igloo::nip46::message::{parse_cipher_params, parse_request, parse_unsigned_event};
use igloo::nip46::perms::parse_perms;
use igloo::nip46::transport::decrypt;
use igloo::nip46::uri::{BunkerUri, NostrConnectUri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(req) = parse_request(text) {
        let _ = parse_unsigned_event(&req.params);
        let _ = parse_cipher_params(&req.params);
    }
    let _ = parse_perms(text);
    if let Ok(b) = BunkerUri::parse(text) {
        // What we print parses back to the same thing.
        assert_eq!(BunkerUri::parse(&b.to_uri()).expect("round trip"), b);
    }
    if let Ok(c) = NostrConnectUri::parse(text) {
        assert_eq!(NostrConnectUri::parse(&c.to_uri()).expect("round trip"), c);
    }
    let _ = decrypt(&[7u8; 32], text);
});
