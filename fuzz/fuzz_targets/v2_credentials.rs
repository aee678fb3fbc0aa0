//! Fuzz V2 package decoding up to the KDF (bech32m, prefix, envelope JSON, version and
//! parameter checks). Inputs that reach a real KDF are rejected by cost, so a tiny budget.
#![no_main]

use igloo::frostr_v2::credentials::{decode_onboard, decode_profile, decode_share};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = decode_share(text, "pw");
    let _ = decode_onboard(text, "pw");
    let _ = decode_profile(text, "pw");
});
