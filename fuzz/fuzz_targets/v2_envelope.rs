//! Fuzz the V2 receive path after decryption (envelope + every payload type), the group
//! package parser, and NIP-44 unpadded content decoding. Any panic is a bug.
#![no_main]

use igloo::frostr::SecretScalar;
use igloo::frostr_v2::{GroupPackage, cipher, envelope::Envelope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(env) = Envelope::parse(text) {
        // What parses must re-serialise to something that parses the same.
        let again = Envelope::parse(&env.to_json()).expect("re-serialised envelope parses");
        assert_eq!(env, again);
    }
    let _ = GroupPackage::from_json(text);
    if let (Some(a), Some(b)) = (
        SecretScalar::from_bytes(&[1; 32]),
        SecretScalar::from_bytes(&[2; 32]),
    ) {
        let bx: [u8; 32] = igloo::frostr_v2::types::compress(&b.public_key())[1..]
            .try_into()
            .unwrap_or([0; 32]);
        if let Ok(k) = cipher::conversation_key(&a, &bx) {
            let _ = cipher::decrypt(&k, text);
        }
    }
});
