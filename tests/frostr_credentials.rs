//! bfgroup/bfshare/NIP-19 credentials against the bifrost 1.0.7 vectors, every rejection
//! variant, and properties (round trip, single-bit flips).

use igloo::frostr::bech32m::{self, Variant};
use igloo::frostr::credentials::{
    self, CredentialError, CredentialView, check_share_in_group, decode_any, decode_group,
    decode_share, encode_group, encode_share, group_from_bytes, group_id, group_to_bytes,
    share_from_bytes, share_to_bytes,
};
use igloo::frostr::keyset;
use igloo::frostr::nip19;
use igloo::frostr::types::{compressed, x_only};
use proptest::prelude::*;
use rand::SeedableRng;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/frostr-v1-vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("vectors fixture");
    serde_json::from_str(&text).expect("vectors JSON")
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string")
}

fn hx(b: impl AsRef<[u8]>) -> String {
    hex::encode(b)
}

#[test]
fn keysets_decode_and_reencode_byte_for_byte() {
    let v = vectors();
    let keysets = v["keysets"].as_array().unwrap();
    assert_eq!(keysets.len(), 3);
    for ks in keysets {
        let name = s(&ks["name"]);
        let bfgroup = s(&ks["bfgroup"]);
        assert_eq!(
            bfgroup.len() as u64,
            ks["bfgroup_length"].as_u64().unwrap(),
            "{name}"
        );
        let g = decode_group(bfgroup).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            hx(group_to_bytes(&g)),
            s(&ks["group_bytes"]),
            "{name} bytes"
        );
        assert_eq!(encode_group(&g), bfgroup, "{name} re-encode");
        assert_eq!(hx(compressed(&g.group_pk)), s(&ks["group_pk"]), "{name}");
        assert_eq!(
            hx(x_only(&g.group_pk)),
            s(&ks["group_pubkey_xonly"]),
            "{name}"
        );
        assert_eq!(
            nip19::encode_npub(&g.pubkey_x_only()),
            s(&ks["group_npub"]),
            "{name}"
        );
        assert_eq!(u64::from(g.threshold), ks["threshold"].as_u64().unwrap());
        assert_eq!(u64::from(g.total()), ks["share_count"].as_u64().unwrap());
        assert_eq!(hx(group_id(&g)), s(&ks["group_id"]), "{name} gid");

        let dec = &ks["group_decoded"];
        let commits = dec["commits"].as_array().unwrap();
        assert_eq!(commits.len(), g.commits.len());
        for (c, jc) in g.commits.iter().zip(commits) {
            assert_eq!(u64::from(c.idx), jc["idx"].as_u64().unwrap());
            assert_eq!(hx(compressed(&c.pubkey)), s(&jc["pubkey"]));
            assert_eq!(hx(compressed(&c.binder_pn)), s(&jc["binder_pn"]));
            assert_eq!(hx(compressed(&c.hidden_pn)), s(&jc["hidden_pn"]));
        }
        // The gid preimage is the commit list then the group key: its hash is the gid.
        let pre = hex::decode(s(&ks["group_id_preimage"])).unwrap();
        use sha2::Digest;
        assert_eq!(hx(sha2::Sha256::digest(&pre)), s(&ks["group_id"]));

        let nsec = nip19::decode_nsec(s(&ks["group_nsec"])).unwrap();
        assert_eq!(hx(nsec.to_bytes().as_ref()), s(&ks["group_secret"]));
        assert_eq!(nsec.public_key(), g.group_pk);
        assert_eq!(nip19::encode_nsec(&nsec).as_str(), s(&ks["group_nsec"]));

        for sh in ks["shares"].as_array().unwrap() {
            let share = decode_share(s(&sh["bfshare"])).unwrap();
            assert_eq!(hx(share_to_bytes(&share).as_slice()), s(&sh["share_bytes"]));
            assert_eq!(encode_share(&share).as_str(), s(&sh["bfshare"]));
            assert_eq!(u64::from(share.idx), sh["idx"].as_u64().unwrap());
            let d = &sh["decoded"];
            assert_eq!(hx(share.seckey.to_bytes().as_ref()), s(&d["seckey"]));
            assert_eq!(hx(share.binder_sn.to_bytes().as_ref()), s(&d["binder_sn"]));
            assert_eq!(hx(share.hidden_sn.to_bytes().as_ref()), s(&d["hidden_sn"]));
            assert_eq!(hx(compressed(&share.public_key())), s(&sh["commit_pubkey"]));
            assert_eq!(hx(x_only(&share.public_key())), s(&sh["nostr_pubkey"]));
            assert_eq!(
                nip19::encode_npub(&x_only(&share.public_key())),
                s(&sh["npub"])
            );
            assert_eq!(
                hx(nip19::decode_npub(s(&sh["npub"])).unwrap()),
                s(&sh["nostr_pubkey"])
            );
            check_share_in_group(&share, &g).unwrap();
        }
    }
}

#[test]
fn share_of_another_group_is_detected() {
    let v = vectors();
    let ga = decode_group(s(&v["keysets"][0]["bfgroup"])).unwrap();
    let sb = decode_share(s(&v["keysets"][1]["shares"][0]["bfshare"])).unwrap();
    assert_eq!(
        check_share_in_group(&sb, &ga),
        Err(CredentialError::ShareNotInGroup {
            idx: 1,
            what: "public key"
        })
    );
    let sc = decode_share(s(&v["keysets"][2]["shares"][10]["bfshare"])).unwrap();
    assert_eq!(
        check_share_in_group(&sc, &ga),
        Err(CredentialError::IndexAboveTotal { idx: 11, total: 3 })
    );
}

#[test]
fn decoded_view_is_public_only() {
    let v = vectors();
    let ks = &v["keysets"][0];
    let view = decode_any(s(&ks["bfgroup"])).unwrap().view();
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["type"], "group");
    assert_eq!(json["threshold"], 2);
    assert_eq!(json["total_shares"], 3);
    assert_eq!(json["group_pk"], ks["group_pk"]);
    assert_eq!(json["group_id"], ks["group_id"]);
    assert_eq!(json["npub"], ks["group_npub"]);
    assert_eq!(
        json["commits"][2]["pubkey"],
        ks["group_decoded"]["commits"][2]["pubkey"]
    );

    let sh = &ks["shares"][1];
    let view = decode_any(s(&sh["bfshare"])).unwrap().view();
    let CredentialView::Share(ref share_view) = view else {
        panic!("expected a share view");
    };
    assert_eq!(share_view.idx, 2);
    let text = serde_json::to_string(&view).unwrap();
    for secret in ["seckey", "binder_sn", "hidden_sn"] {
        assert!(
            !text.contains(s(&sh["decoded"][secret])),
            "view leaks {secret}"
        );
    }
    assert!(text.contains(s(&sh["nostr_pubkey"])));
    // Debug output of a share never prints its secrets.
    let share = decode_share(s(&sh["bfshare"])).unwrap();
    let dbg = format!("{share:?}");
    assert!(!dbg.contains(s(&sh["decoded"]["seckey"])));
    assert!(
        !dbg.to_lowercase()
            .contains(&s(&sh["decoded"]["seckey"])[..16])
    );
}

#[test]
fn upper_case_credentials_decode_mixed_case_rejected() {
    let v = vectors();
    let g = s(&v["keysets"][0]["bfgroup"]);
    assert!(decode_group(&g.to_ascii_uppercase()).is_ok());
    let mut mixed = g.to_owned();
    mixed.replace_range(10..11, &g[10..11].to_ascii_uppercase());
    assert_eq!(
        decode_group(&mixed).unwrap_err(),
        CredentialError::MixedCase
    );
}

// ---- every rejection, each with its own variant ----

fn group_a_bytes() -> Vec<u8> {
    hex::decode(s(&vectors()["keysets"][0]["group_bytes"])).unwrap()
}
fn share_a1_bytes() -> Vec<u8> {
    hex::decode(s(&vectors()["keysets"][0]["shares"][0]["share_bytes"])).unwrap()
}
fn group_str(b: &[u8]) -> String {
    bech32m::encode("bfgroup", b, Variant::Bech32m).to_string()
}
fn share_str(b: &[u8]) -> String {
    bech32m::encode("bfshare", b, Variant::Bech32m).to_string()
}

#[test]
fn wrong_prefix() {
    let v = vectors();
    let share = s(&v["keysets"][0]["shares"][0]["bfshare"]);
    assert!(matches!(
        decode_group(share),
        Err(CredentialError::WrongPrefix { expected: "bfgroup", ref found }) if found == "bfshare"
    ));
    assert!(matches!(
        decode_share(s(&v["keysets"][0]["bfgroup"])),
        Err(CredentialError::WrongPrefix { .. })
    ));
    assert!(matches!(
        decode_any("npub1xyz"),
        Err(CredentialError::WrongPrefix { .. })
    ));
    assert!(matches!(
        nip19::decode_nsec(s(&v["keysets"][0]["group_npub"])),
        Err(CredentialError::WrongPrefix {
            expected: "nsec",
            ..
        })
    ));
}

#[test]
fn bad_checksum() {
    let v = vectors();
    let g = s(&v["keysets"][0]["bfgroup"]);
    // Swap two adjacent, different data characters.
    let mut b = g.as_bytes().to_vec();
    let i = (20..b.len() - 1).find(|&i| b[i] != b[i + 1]).unwrap();
    b.swap(i, i + 1);
    let swapped = String::from_utf8(b).unwrap();
    assert_eq!(
        decode_group(&swapped).unwrap_err(),
        CredentialError::BadChecksum
    );
    // bech32 (NIP-19) checksum is not accepted for a bifrost credential and vice versa.
    let as_bech32 = bech32m::encode("bfgroup", &group_a_bytes(), Variant::Bech32);
    assert_eq!(
        decode_group(&as_bech32).unwrap_err(),
        CredentialError::BadChecksum
    );
}

#[test]
fn wrong_length() {
    let mut g = group_a_bytes();
    g.pop();
    assert!(matches!(
        decode_group(&group_str(&g)),
        Err(CredentialError::WrongLength {
            what: "group package",
            len: 345,
            ..
        })
    ));
    assert!(matches!(
        decode_group(&group_str(&g[..36])),
        Err(CredentialError::WrongLength { .. })
    ));
    let mut sb = share_a1_bytes();
    sb.push(0);
    assert!(matches!(
        decode_share(&share_str(&sb)),
        Err(CredentialError::WrongLength {
            what: "share package",
            len: 101,
            ..
        })
    ));
    let short = bech32m::encode("nsec", &[1u8; 31], Variant::Bech32);
    assert!(matches!(
        nip19::decode_nsec(&short),
        Err(CredentialError::WrongLength { len: 31, .. })
    ));
}

#[test]
fn point_not_on_curve() {
    // x = 5 has no point on secp256k1 (5³ + 7 = 132 is a non-residue mod p).
    let mut off_curve = [0u8; 33];
    off_curve[0] = 2;
    off_curve[32] = 5;
    assert!(k256::PublicKey::from_sec1_bytes(&off_curve).is_err());
    for (offset, field) in [
        (0usize, "group public key"),
        (37 + 4, "public key of member 1"),
        (37 + 103 + 37, "binding nonce of member 2"),
        (37 + 206 + 70, "hiding nonce of member 3"),
    ] {
        let mut g = group_a_bytes();
        g[offset..offset + 33].copy_from_slice(&off_curve);
        assert_eq!(
            decode_group(&group_str(&g)).unwrap_err(),
            CredentialError::PointNotOnCurve {
                field: field.into()
            },
            "{field}"
        );
    }
    // A bad prefix byte is not a point either.
    let mut g = group_a_bytes();
    g[0] = 4;
    assert!(matches!(
        group_from_bytes(&g),
        Err(CredentialError::PointNotOnCurve { .. })
    ));
    let npub = bech32m::encode("npub", &off_curve[1..], Variant::Bech32);
    assert!(matches!(
        nip19::decode_npub(&npub),
        Err(CredentialError::PointNotOnCurve { .. })
    ));
}

#[test]
fn zero_and_out_of_range_scalars() {
    const N: &str = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
    for (range, field) in [
        (4..36, "share secret key"),
        (36..68, "binding nonce secret"),
        (68..100, "hiding nonce secret"),
    ] {
        let mut b = share_a1_bytes();
        b[range.clone()].fill(0);
        assert_eq!(
            share_from_bytes(&b).unwrap_err(),
            CredentialError::ZeroScalar {
                field: field.into()
            }
        );
        b[range.clone()].copy_from_slice(&hex::decode(N).unwrap());
        assert_eq!(
            decode_share(&share_str(&b)).unwrap_err(),
            CredentialError::ScalarOutOfRange {
                field: field.into()
            }
        );
        b[range].fill(0xff);
        assert!(matches!(
            share_from_bytes(&b),
            Err(CredentialError::ScalarOutOfRange { .. })
        ));
    }
    let zero = bech32m::encode("nsec", &[0u8; 32], Variant::Bech32);
    assert!(matches!(
        nip19::decode_nsec(&zero),
        Err(CredentialError::ZeroScalar { .. })
    ));
}

#[test]
fn bad_indexes() {
    let mut b = share_a1_bytes();
    b[..4].fill(0);
    assert_eq!(
        decode_share(&share_str(&b)).unwrap_err(),
        CredentialError::IndexZero
    );

    let mut g = group_a_bytes();
    g[37..41].copy_from_slice(&0u32.to_be_bytes());
    assert_eq!(
        decode_group(&group_str(&g)).unwrap_err(),
        CredentialError::IndexZero
    );

    let mut g = group_a_bytes();
    g[37 + 103..37 + 107].copy_from_slice(&4u32.to_be_bytes());
    assert_eq!(
        decode_group(&group_str(&g)).unwrap_err(),
        CredentialError::IndexAboveTotal { idx: 4, total: 3 }
    );

    let mut g = group_a_bytes();
    g[37 + 206..37 + 210].copy_from_slice(&1u32.to_be_bytes());
    assert_eq!(
        decode_group(&group_str(&g)).unwrap_err(),
        CredentialError::DuplicateIndex { idx: 1 }
    );
}

#[test]
fn bad_thresholds() {
    for t in [0u32, 4, u32::MAX] {
        let mut g = group_a_bytes();
        g[33..37].copy_from_slice(&t.to_be_bytes());
        assert_eq!(
            decode_group(&group_str(&g)).unwrap_err(),
            CredentialError::InvalidThreshold {
                threshold: t,
                total: 3
            }
        );
    }
    // A group with no members has no valid threshold.
    let g = group_a_bytes();
    assert!(matches!(
        decode_group(&group_str(&g[..37])),
        Err(CredentialError::InvalidThreshold { total: 0, .. })
    ));
}

#[test]
fn structural_bech32_errors() {
    // No separator: not a bech32 credential at all, said so without echoing the input.
    assert!(matches!(
        decode_group("bfgroup"),
        Err(CredentialError::NotACredential { .. })
    ));
    assert!(matches!(
        bech32m::decode("bfgroup", bech32m::Variant::Bech32m),
        Err(bech32m::Bech32Error::MissingSeparator)
    ));
    assert!(matches!(
        decode_group("bfgroup1qq"),
        Err(CredentialError::Encoding(_))
    ));
    assert!(matches!(
        decode_group("bfgroup1qqqqqqqb"),
        Err(CredentialError::Encoding(_))
    ));
    assert!(decode_group("").is_err());
    // Messages are sentences a person can act on.
    let msg = CredentialError::BadChecksum.to_string();
    assert!(msg.contains("checksum"), "{msg}");
}

// ---- properties ----

fn random_keyset(seed: u64, t: u32, n: u32) -> keyset::Keyset {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    keyset::generate(&mut rng, t, n, None).unwrap()
}

fn tn() -> impl Strategy<Value = (u32, u32)> {
    (1u32..=15).prop_flat_map(|n| (1..=n, Just(n)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn encode_decode_identity(seed in any::<u64>(), (t, n) in tn()) {
        let ks = random_keyset(seed, t, n);
        let gs = encode_group(&ks.group);
        let back = decode_group(&gs).unwrap();
        prop_assert_eq!(&back, &ks.group);
        prop_assert_eq!(encode_group(&back), gs);
        prop_assert_eq!(group_id(&back), group_id(&ks.group));
        for sh in &ks.shares {
            let ss = encode_share(sh);
            prop_assert_eq!(ss.len(), 174);
            let back = decode_share(&ss).unwrap();
            prop_assert_eq!(&back, sh);
            check_share_in_group(&back, &ks.group).unwrap();
        }
    }

    #[test]
    fn any_single_bit_flip_is_rejected(seed in any::<u64>(), which in any::<bool>(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let ks = random_keyset(seed, 2, 3);
        let text: String = if which {
            encode_group(&ks.group)
        } else {
            encode_share(&ks.shares[0]).to_string()
        };
        let mut bytes = text.clone().into_bytes();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        // A flip that leaves UTF-8 cannot even be handed to the decoder as text.
        if let Ok(flipped) = String::from_utf8(bytes) {
            let r = credentials::decode_any(&flipped);
            prop_assert!(r.is_err(), "flip of bit {} at {} accepted", bit, i);
        }
    }

    #[test]
    fn nsec_npub_round_trip(seed in any::<u64>()) {
        let ks = random_keyset(seed, 1, 1);
        let nsec = nip19::encode_nsec(&ks.shares[0].seckey);
        prop_assert_eq!(nip19::decode_nsec(&nsec).unwrap(), ks.shares[0].seckey.clone());
        let xo = ks.group.pubkey_x_only();
        prop_assert_eq!(nip19::decode_npub(&nip19::encode_npub(&xo)).unwrap(), xo);
    }
}

#[test]
fn exhaustive_single_bit_flips_on_vector_share() {
    // Every bit of every character of a real share: no flip decodes.
    let v = vectors();
    let text = s(&v["keysets"][1]["shares"][2]["bfshare"]);
    let mut tried = 0;
    for i in 0..text.len() {
        for bit in 0..8 {
            let mut b = text.as_bytes().to_vec();
            b[i] ^= 1 << bit;
            if let Ok(f) = String::from_utf8(b) {
                tried += 1;
                assert!(decode_share(&f).is_err(), "flip {bit} at {i}");
            }
        }
    }
    assert!(tried > 174 * 6);
}
