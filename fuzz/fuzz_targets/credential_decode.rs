//! Credential decoding never panics, and whatever decodes re-encodes to the same text/bytes.
#![no_main]

use igloo::frostr::{credentials, nip19};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Raw package bytes, as a decoder sees them after bech32m.
    if let Ok(g) = credentials::group_from_bytes(data) {
        assert_eq!(credentials::group_to_bytes(&g), data);
        let _ = credentials::group_id(&g);
    }
    if let Ok(s) = credentials::share_from_bytes(data) {
        assert_eq!(credentials::share_to_bytes(&s).as_slice(), data);
    }
    // Credential strings, as an operator pastes them.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let canonical = text.trim().to_ascii_lowercase();
    match credentials::decode_any(text) {
        Ok(credentials::Credential::Group(g)) => {
            assert_eq!(credentials::encode_group(&g), canonical);
            let _ = credentials::GroupView::new(&g);
        }
        Ok(credentials::Credential::Share(s)) => {
            assert_eq!(credentials::encode_share(&s).as_str(), canonical);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok(k) = nip19::decode_nsec(text) {
        assert_eq!(nip19::encode_nsec(&k).as_str(), canonical);
    }
    if let Ok(k) = nip19::decode_npub(text) {
        assert_eq!(nip19::encode_npub(&k), canonical);
    }
});
