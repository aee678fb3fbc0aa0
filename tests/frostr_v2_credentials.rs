//! V2 credentials: envelope v2 round trips and tamper checks, envelope v1 decoding of
//! packages built by an independent implementation, bfprofile id binding.

use igloo::frostr::SecretScalar;
use igloo::frostr::bech32m::{self, Variant};
use igloo::frostr_v2::credentials::*;
use igloo::frostr_v2::hexser::parse;
use igloo::frostr_v2::keyset;
use igloo::frostr_v2::types::GroupPackage;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

const PW: &str = "correct horse battery staple";

fn v1_fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/bifrost-rs-packages-v1.json")).unwrap()
}

fn secret(hex: &str) -> SecretScalar {
    SecretScalar::from_bytes(&parse::<32>(hex).unwrap()).unwrap()
}

fn relays() -> Vec<String> {
    vec![
        "wss://relay.example.com".into(),
        "ws://127.0.0.1:8080/p?a=1&b=2 c".into(),
    ]
}

#[test]
fn v1_envelope_packages_decode() {
    let f = v1_fixture();
    let pk = &f["packages"];
    let want_relays: Vec<String> = serde_json::from_value(f["relays"].clone()).unwrap();
    let want_secret = secret(f["share_secret"].as_str().unwrap());

    let s = decode_share(pk["bfshare"].as_str().unwrap(), PW).unwrap();
    assert_eq!(s.share_secret, want_secret);
    assert_eq!(s.relays, want_relays);

    let o = decode_onboard(pk["bfonboard"].as_str().unwrap(), PW).unwrap();
    assert_eq!(o.share_secret, want_secret);
    assert_eq!(o.relays, want_relays);
    assert_eq!(hex::encode(o.peer_pk), f["peer_pk"].as_str().unwrap());

    let p = decode_profile(pk["bfprofile"].as_str().unwrap(), PW).unwrap();
    assert_eq!(p.share_secret, want_secret);
    assert_eq!(p.name, "igloo");
    assert_eq!(p.relays, want_relays);
    assert_eq!(p.policy_overrides.len(), 1);
    assert_eq!(p.policy_overrides[0].policy.request.sign, Override::Deny);
    assert_eq!(p.policy_overrides[0].policy.respond.sign, Override::Allow);
    let want_group: GroupPackage = serde_json::from_value(f["group"].clone()).unwrap();
    assert_eq!(p.group, want_group);
    assert_eq!(
        profile_id(&p.share_secret),
        f["profile_id"].as_str().unwrap()
    );

    assert_eq!(
        decode_share(pk["bfshare"].as_str().unwrap(), "wrong").unwrap_err(),
        PackageError::Decrypt
    );
    assert!(matches!(
        decode_share(pk["bfonboard"].as_str().unwrap(), PW),
        Err(PackageError::WrongKind { .. })
    ));
}

#[test]
fn v2_share_onboard_and_profile_round_trip_with_aad_binding() {
    let mut rng = StdRng::seed_from_u64(1);
    let ks = keyset::generate("home", 2, 3, &mut rng).unwrap();
    let share = &ks.shares[0];

    let sp = SharePackage {
        share_secret: share.secret.clone(),
        relays: relays(),
    };
    let s = encode_share(&sp, PW, KdfParams::FLOOR, &mut rng).unwrap();
    assert!(s.starts_with("bfshare1"));
    assert_eq!(decode_share(&s, PW).unwrap(), sp);
    assert_eq!(
        decode_share(&s, "not it").unwrap_err(),
        PackageError::Decrypt
    );
    // The envelope JSON names the v2 scheme.
    let (_, bytes) = bech32m::decode(&s, Variant::Bech32m).unwrap();
    let env: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(env["version"], 2);
    assert_eq!(env["kdf"], "argon2id");
    assert_eq!(env["aead"], "xchacha20poly1305");
    assert_eq!(env["kdf_m_cost"], 65_536);
    assert_eq!(env["salt_hex"].as_str().unwrap().len(), 32);
    assert_eq!(env["nonce_hex"].as_str().unwrap().len(), 48);
    // Re-wrapping the same envelope under another prefix fails authentication (HRP in AAD).
    let swapped = bech32m::encode("bfonboard", &bytes, Variant::Bech32m);
    assert_eq!(
        decode_onboard(&swapped, PW).unwrap_err(),
        PackageError::Decrypt
    );

    let op = OnboardPackage {
        share_secret: share.secret.clone(),
        relays: relays(),
        peer_pk: ks.shares[1].peer_id(),
    };
    let o = encode_onboard(&op, PW, KdfParams::FLOOR, &mut rng).unwrap();
    assert_eq!(decode_onboard(&o, PW).unwrap(), op);

    let prof = Profile {
        name: "igloo".into(),
        share_secret: share.secret.clone(),
        relays: relays(),
        policy_overrides: vec![PolicyOverride {
            pubkey: ks.shares[2].peer_id(),
            policy: PeerPolicy {
                respond: MethodOverrides {
                    sign: Override::Deny,
                    ..Default::default()
                },
                ..Default::default()
            },
        }],
        group: ks.group.clone(),
    };
    let p = encode_profile(&prof, PW, KdfParams::FLOOR, &mut rng).unwrap();
    assert!(
        p.len() > 1023,
        "bfprofile needs the unlimited bech32m codec"
    );
    assert_eq!(decode_profile(&p, PW).unwrap(), prof);
    // A different outer id (bound in the AAD) is refused.
    let (_, mut data) = bech32m::decode(&p, Variant::Bech32m).unwrap();
    let other = profile_id(&ks.shares[1].secret);
    data[..64].copy_from_slice(other.as_bytes());
    let moved = bech32m::encode("bfprofile", &data, Variant::Bech32m);
    assert!(matches!(
        decode_profile(&moved, PW),
        Err(PackageError::Decrypt)
    ));
}

#[test]
fn v2_envelope_refuses_weak_or_huge_params_and_unknown_schemes_without_deriving() {
    let mk = |m: u32, t: u32, kdf: &str, aead: &str, version: u32| {
        let env = serde_json::json!({
            "version": version, "kdf": kdf, "kdf_m_cost": m, "kdf_t_cost": t, "kdf_p_cost": 1,
            "aead": aead, "salt_hex": "00".repeat(16), "nonce_hex": "00".repeat(24), "ciphertext": "AAAA"
        });
        bech32m::encode("bfshare", env.to_string().as_bytes(), Variant::Bech32m)
    };
    assert_eq!(
        decode_share(&mk(32_768, 3, "argon2id", "xchacha20poly1305", 2), PW).unwrap_err(),
        PackageError::UnsupportedParams {
            m: 32_768,
            t: 3,
            p: 1
        }
    );
    assert!(matches!(
        decode_share(&mk(u32::MAX, 3, "argon2id", "xchacha20poly1305", 2), PW),
        Err(PackageError::UnsupportedParams { .. })
    ));
    assert!(matches!(
        decode_share(&mk(65_536, 2, "argon2id", "xchacha20poly1305", 2), PW),
        Err(PackageError::UnsupportedParams { .. })
    ));
    assert_eq!(
        decode_share(&mk(65_536, 3, "pbkdf2", "xchacha20poly1305", 2), PW).unwrap_err(),
        PackageError::UnsupportedKdf("pbkdf2".into())
    );
    assert_eq!(
        decode_share(&mk(65_536, 3, "argon2id", "aes-256-gcm-24", 2), PW).unwrap_err(),
        PackageError::UnsupportedAead("aes-256-gcm-24".into())
    );
    assert_eq!(
        decode_share(&mk(65_536, 3, "argon2id", "xchacha20poly1305", 3), PW).unwrap_err(),
        PackageError::UnsupportedVersion(3)
    );
    let mut rng = StdRng::seed_from_u64(2);
    let sp = SharePackage {
        share_secret: SecretScalar::from_bytes(&[7; 32]).unwrap(),
        relays: relays(),
    };
    assert!(matches!(
        encode_share(
            &sp,
            PW,
            KdfParams {
                m_cost: 1024,
                t_cost: 1,
                p_cost: 1
            },
            &mut rng
        ),
        Err(PackageError::UnsupportedParams { .. })
    ));
    let none = SharePackage {
        relays: vec![],
        ..sp
    };
    assert!(matches!(
        encode_share(&none, PW, KdfParams::FLOOR, &mut rng),
        Err(PackageError::Contents(_))
    ));
}

#[test]
fn garbage_never_panics() {
    for s in [
        "",
        "bfshare1",
        "bfshare1qqqqqq",
        "bfprofile1qqqqqqqqqqqqqqqq",
        "x",
        "bfonboard1zzzzzzzzzzzzzzzz",
    ] {
        assert!(decode_share(s, PW).is_err());
        assert!(decode_onboard(s, PW).is_err());
        assert!(decode_profile(s, PW).is_err());
    }
    let short = bech32m::encode("bfprofile", b"abc", Variant::Bech32m);
    assert!(matches!(
        decode_profile(&short, PW),
        Err(PackageError::Contents(_))
    ));
}
