//! Dealer keysets, recovery and threshold ECDH against the bifrost 1.0.7 / igloo-core 0.2.4
//! vectors, with properties over random t-of-n keysets, and the `igloo keyset` commands.

use igloo::cli::keyset::{KeysetCommand, run};
use igloo::frostr::credentials::{
    check_share_in_group, decode_group, decode_share, encode_group, encode_share,
};
use igloo::frostr::ecdh::{self, EcdhError};
use igloo::frostr::keyset::{self, KeysetError};
use igloo::frostr::nip19;
use igloo::frostr::poly::lagrange_at_zero;
use igloo::frostr::recovery::{RecoveryError, interpolate_at_zero, recover_secret};
use igloo::frostr::types::{SecretScalar, SharePackage, compressed};
use k256::Scalar;
use proptest::prelude::*;
use rand::{CryptoRng, RngCore, SeedableRng};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/frostr-v1-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON")
}

fn s(v: &Value) -> &str {
    v.as_str().expect("string")
}

fn arr<const N: usize>(hex_str: &str) -> [u8; N] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

fn keyset_by_name<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["keysets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap()
}

fn shares_of(ks: &Value) -> Vec<SharePackage> {
    ks["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sh| decode_share(s(&sh["bfshare"])).unwrap())
        .collect()
}

/// Replays recorded random draws (the vectors' DRBG output) in order.
struct Replay(Vec<u8>);
impl RngCore for Replay {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_be_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_be_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(
            self.0.len() >= dest.len(),
            "more randomness drawn than recorded"
        );
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Replay {}

#[test]
fn dealer_reproduces_every_vector_keyset() {
    let v = vectors();
    for ks in v["keysets"].as_array().unwrap() {
        let name = s(&ks["name"]);
        let t = ks["threshold"].as_u64().unwrap() as u32;
        let n = ks["share_count"].as_u64().unwrap() as u32;
        let coeffs: Vec<[u8; 32]> = ks["dealer_inputs"]["polynomial_coefficients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| arr(s(c)))
            .collect();
        let seeds: Vec<[u8; 64]> = ks["dealer_inputs"]["aux_seeds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| arr(s(c)))
            .collect();
        let out = keyset::split_with(t, n, &coeffs, &seeds).unwrap();
        assert_eq!(
            encode_group(&out.group),
            s(&ks["bfgroup"]),
            "{name} bfgroup"
        );
        for (sh, jsh) in out.shares.iter().zip(ks["shares"].as_array().unwrap()) {
            assert_eq!(
                encode_share(sh).as_str(),
                s(&jsh["bfshare"]),
                "{name} share {}",
                sh.idx
            );
        }
        for (j, (c, jc)) in coeffs
            .iter()
            .zip(ks["vss_commits"].as_array().unwrap())
            .enumerate()
        {
            let a = SecretScalar::from_bytes_reduced(c).unwrap();
            assert_eq!(
                hex::encode(compressed(&a.public_key())),
                s(jc),
                "{name} vss commit {j}"
            );
        }
    }
}

#[test]
fn split_of_nsec_matches_vector() {
    let v = vectors();
    let split = &v["split"]["deterministic_split"];
    let b = keyset_by_name(&v, "B_3of5");
    let secret = nip19::decode_nsec(s(&split["nsec"])).unwrap();
    let coeffs: Vec<[u8; 32]> = b["dealer_inputs"]["polynomial_coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| arr(s(c)))
        .collect();
    assert_eq!(coeffs[0], *secret.to_bytes());
    // Replay a1, a2 then the five seeds through the random-dealer path with the nsec.
    let mut draws = Vec::new();
    for c in &coeffs[1..] {
        draws.extend_from_slice(c);
    }
    for seed in b["dealer_inputs"]["aux_seeds"].as_array().unwrap() {
        draws.extend(hex::decode(s(seed)).unwrap());
    }
    let out = keyset::generate(&mut Replay(draws), 3, 5, Some(&secret)).unwrap();
    assert_eq!(encode_group(&out.group), s(&b["bfgroup"]));
}

#[test]
fn igloo_core_generate_with_secret_is_reproduced() {
    let v = vectors();
    let ig = &v["split"]["igloo_generateKeysetWithSecret_2of3"];
    let secret = SecretScalar::from_bytes(&arr(s(&ig["secret_hex"]))).unwrap();
    let draws: Vec<u8> = ig["rng_draws"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| hex::decode(s(d)).unwrap())
        .collect();
    let out = keyset::generate(&mut Replay(draws), 2, 3, Some(&secret)).unwrap();
    assert_eq!(encode_group(&out.group), s(&ig["groupCredential"]));
    assert_eq!(
        hex::encode(compressed(&out.group.group_pk)),
        s(&ig["group_pk"])
    );
    for (sh, want) in out
        .shares
        .iter()
        .zip(ig["shareCredentials"].as_array().unwrap())
    {
        assert_eq!(encode_share(sh).as_str(), s(want));
    }
}

#[test]
fn dealer_rejects_bad_parameters() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    assert_eq!(
        keyset::generate(&mut rng, 0, 3, None).unwrap_err(),
        KeysetError::InvalidThreshold {
            threshold: 0,
            total: 3
        }
    );
    assert_eq!(
        keyset::generate(&mut rng, 4, 3, None).unwrap_err(),
        KeysetError::InvalidThreshold {
            threshold: 4,
            total: 3
        }
    );
    assert!(matches!(
        keyset::generate(&mut rng, 1, 0, None),
        Err(KeysetError::InvalidShareCount { total: 0, .. })
    ));
    assert!(matches!(
        keyset::generate(&mut rng, 2, keyset::MAX_SHARES + 1, None),
        Err(KeysetError::InvalidShareCount { .. })
    ));
    assert_eq!(
        keyset::split_with(2, 2, &[[0u8; 32], [1u8; 32]], &[[0u8; 64]; 2]).unwrap_err(),
        KeysetError::ZeroSecret
    );
    assert!(matches!(
        keyset::split_with(2, 2, &[[1u8; 32]], &[[0u8; 64]; 2]),
        Err(KeysetError::WrongCoefficientCount {
            expected: 2,
            got: 1
        })
    ));
    assert!(matches!(
        keyset::split_with(2, 2, &[[1u8; 32]; 2], &[[0u8; 64]; 3]),
        Err(KeysetError::WrongSeedCount {
            expected: 2,
            got: 3
        })
    ));
}

#[test]
fn recovery_vectors() {
    let v = vectors();
    let cases = v["recovery"].as_array().unwrap();
    assert_eq!(cases.len(), 9);
    for r in cases {
        let ks = keyset_by_name(&v, s(&r["keyset"]));
        let group = decode_group(s(&ks["bfgroup"])).unwrap();
        let all = shares_of(ks);
        let idxs: Vec<u32> = r["share_indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_u64().unwrap() as u32)
            .collect();
        for i in &idxs {
            let lambda = lagrange_at_zero(*i, &idxs).unwrap();
            assert_eq!(
                hex::encode(lambda.to_bytes()),
                s(&r["lagrange_at_zero"][i.to_string()])
            );
        }
        let chosen: Vec<SharePackage> = idxs
            .iter()
            .map(|i| all.iter().find(|s| s.idx == *i).unwrap().clone())
            .collect();
        let points: Vec<(u32, &SecretScalar)> = chosen.iter().map(|s| (s.idx, &s.seckey)).collect();
        let raw = interpolate_at_zero(&points).unwrap();
        assert_eq!(hex::encode(raw.to_bytes()), s(&r["raw_interpolation"]));

        let result = recover_secret(&group, &chosen);
        if r["bifrost_recover_secret_key"]["ok"].as_bool().unwrap() {
            let secret = result.unwrap();
            assert_eq!(
                hex::encode(secret.to_bytes().as_ref()),
                s(&r["bifrost_recover_secret_key"]["value"])
            );
            assert_eq!(
                nip19::encode_nsec(&secret).as_str(),
                s(&r["igloo_recoverSecretKeyFromCredentials"]["value"])
            );
        } else {
            assert_eq!(
                result.unwrap_err(),
                RecoveryError::NotEnoughShares {
                    have: idxs.len(),
                    need: group.threshold
                }
            );
        }
    }
}

#[test]
fn recovery_rejects_foreign_and_duplicate_shares() {
    let v = vectors();
    let a = keyset_by_name(&v, "A_2of3_upstream");
    let b = keyset_by_name(&v, "B_3of5");
    let ga = decode_group(s(&a["bfgroup"])).unwrap();
    let sa = shares_of(a);
    let sb = shares_of(b);
    assert!(matches!(
        recover_secret(&ga, &[sa[0].clone(), sb[1].clone()]),
        Err(RecoveryError::ShareNotInGroup(_))
    ));
    assert_eq!(
        recover_secret(&ga, &[sa[0].clone(), sa[0].clone()]).unwrap_err(),
        RecoveryError::DuplicateShare { idx: 1 }
    );
    assert!(recover_secret(&ga, &[]).is_err());
    let msg = recover_secret(&ga, &[sa[0].clone()])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("at least 2"), "{msg}");
}

#[test]
fn ecdh_vectors() {
    let v = vectors();
    let cases = v["ecdh"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for e in cases {
        let ks = keyset_by_name(&v, s(&e["keyset"]));
        let all = shares_of(ks);
        let members: Vec<u32> = e["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_u64().unwrap() as u32)
            .collect();
        let pk = ecdh::parse_ecdh_pk(&hex::decode(s(&e["ecdh_pk"])).unwrap()).unwrap();
        let mut parts = Vec::new();
        for p in e["ecdh_pkgs"].as_array().unwrap() {
            let idx = p["idx"].as_u64().unwrap() as u32;
            let lambda = lagrange_at_zero(idx, &members).unwrap();
            assert_eq!(
                hex::encode(lambda.to_bytes()),
                s(&e["lagrange_at_zero"][idx.to_string()])
            );
            let share = all.iter().find(|s| s.idx == idx).unwrap();
            let k = ecdh::keyshare(share, &members, &pk).unwrap();
            assert_eq!(hex::encode(compressed(&k)), s(&p["keyshare"]));
            // The requester parses what it received from the wire.
            parts.push(ecdh::parse_ecdh_pk(&hex::decode(s(&p["keyshare"])).unwrap()).unwrap());
        }
        let combined = ecdh::combine(&parts).unwrap();
        assert_eq!(hex::encode(compressed(&combined)), s(&e["combined_point"]));
        assert_eq!(
            hex::encode(ecdh::shared_x(&combined).as_ref()),
            s(&e["shared_x"])
        );
        assert_eq!(s(&e["shared_x"]), s(&e["counterparty_shared_x"]));
    }
}

#[test]
fn ecdh_rejections() {
    let v = vectors();
    let a = keyset_by_name(&v, "A_2of3_upstream");
    let sa = shares_of(a);
    let pk = ecdh::parse_ecdh_pk(&hex::decode(s(&v["ecdh"][0]["ecdh_pk"])).unwrap()).unwrap();
    assert_eq!(
        ecdh::keyshare(&sa[2], &[1, 2], &pk).unwrap_err(),
        EcdhError::NotAMember { idx: 3 }
    );
    assert_eq!(
        ecdh::keyshare(&sa[0], &[1, 2, 2], &pk).unwrap_err(),
        EcdhError::BadMembers
    );
    assert_eq!(
        ecdh::parse_ecdh_pk(&[2u8; 31]).unwrap_err(),
        EcdhError::KeyLength(31)
    );
    let mut off = [0u8; 32];
    off[31] = 5;
    assert_eq!(
        ecdh::parse_ecdh_pk(&off).unwrap_err(),
        EcdhError::NotOnCurve
    );
    let mut bad_prefix = [4u8; 33];
    bad_prefix[1..].copy_from_slice(&hex::decode(s(&v["ecdh"][0]["ecdh_pk"])).unwrap());
    assert_eq!(
        ecdh::parse_ecdh_pk(&bad_prefix).unwrap_err(),
        EcdhError::NotOnCurve
    );
    assert_eq!(ecdh::combine(&[]).unwrap_err(), EcdhError::NoKeyshares);
    let neg = k256::PublicKey::from_affine((-pk.to_projective()).to_affine()).unwrap();
    assert_eq!(ecdh::combine(&[pk, neg]).unwrap_err(), EcdhError::Identity);
}

// ---- properties over random keysets ----

fn tn() -> impl Strategy<Value = (u32, u32)> {
    (1u32..=15).prop_flat_map(|n| (1..=n, Just(n)))
}

/// A random subset of exactly `t` indexes out of 1..=n, in shuffled order.
fn pick(rng: &mut impl RngCore, t: u32, n: u32) -> Vec<u32> {
    use rand::seq::SliceRandom;
    let mut all: Vec<u32> = (1..=n).collect();
    all.shuffle(rng);
    all.truncate(t as usize);
    all
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn any_t_shares_recover_the_secret(seed in any::<u64>(), (t, n) in tn(), from_nsec in any::<bool>()) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let secret = from_nsec.then(|| {
            let mut b = [0u8; 32];
            rng.fill_bytes(&mut b);
            SecretScalar::from_bytes_reduced(&b).unwrap()
        });
        let ks = keyset::generate(&mut rng, t, n, secret.as_ref()).unwrap();
        if let Some(sec) = &secret {
            prop_assert_eq!(sec.public_key(), ks.group.group_pk);
        }
        let idxs = pick(&mut rng, t, n);
        let chosen: Vec<SharePackage> =
            idxs.iter().map(|i| ks.shares[*i as usize - 1].clone()).collect();
        let recovered = recover_secret(&ks.group, &chosen).unwrap();
        prop_assert_eq!(recovered.public_key(), ks.group.group_pk);
        if let Some(sec) = &secret {
            prop_assert_eq!(&recovered, sec);
        }
        for sh in &ks.shares {
            check_share_in_group(sh, &ks.group).unwrap();
        }
        if t > 1 {
            let few = &chosen[..(t as usize - 1)];
            let is_not_enough = matches!(
                recover_secret(&ks.group, few),
                Err(RecoveryError::NotEnoughShares { .. })
            );
            prop_assert!(is_not_enough);
        }
    }

    #[test]
    fn ecdh_combination_is_a0_times_p(seed in any::<u64>(), (t, n) in tn(), xonly in any::<bool>()) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut a0 = [0u8; 32];
        rng.fill_bytes(&mut a0);
        let a0 = SecretScalar::from_bytes_reduced(&a0).unwrap();
        let ks = keyset::generate(&mut rng, t, n, Some(&a0)).unwrap();
        let mut pk_secret = [0u8; 32];
        rng.fill_bytes(&mut pk_secret);
        let peer = SecretScalar::from_bytes_reduced(&pk_secret).unwrap().public_key();
        let c = compressed(&peer);
        let wire: &[u8] = if xonly { &c[1..] } else { &c };
        let p = ecdh::parse_ecdh_pk(wire).unwrap();
        let members = pick(&mut rng, t, n);
        let parts: Vec<_> = members
            .iter()
            .map(|i| ecdh::keyshare(&ks.shares[*i as usize - 1], &members, &p).unwrap())
            .collect();
        let combined = ecdh::combine(&parts).unwrap();
        let expected = p.to_projective() * a0.scalar();
        prop_assert_eq!(combined.to_projective(), expected);
        // And its x equals the counterparty's plain ECDH with the group key.
        let peer_scalar: Scalar = SecretScalar::from_bytes_reduced(&pk_secret).unwrap().scalar();
        let other = ks.group.group_pk.to_projective() * peer_scalar;
        let other_x = compressed(&k256::PublicKey::from_affine(other.to_affine()).unwrap());
        prop_assert_eq!(&ecdh::shared_x(&combined)[..], &other_x[1..]);
    }
}

// ---- `igloo keyset` commands ----

fn run_cmd(cmd: KeysetCommand, stdin: &str) -> (i32, String, String) {
    let mut input = std::io::Cursor::new(stdin.as_bytes().to_vec());
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = run(cmd, &mut input, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn cli_generate_then_recover_and_verify() {
    let v = vectors();
    let nsec = s(&keyset_by_name(&v, "B_3of5")["group_nsec"]);
    let (code, out, err) = run_cmd(
        KeysetCommand::Generate {
            threshold: 2,
            shares: 4,
            nsec: Some("-".into()),
            nsec_file: None,
        },
        &format!("{nsec}\n"),
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty());
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["threshold"], 2);
    assert_eq!(j["total_shares"], 4);
    assert_eq!(j["npub"], keyset_by_name(&v, "B_3of5")["group_npub"]);
    let group = s(&j["group"]).to_owned();
    let shares: Vec<String> = j["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| s(x).to_owned())
        .collect();
    assert_eq!(shares.len(), 4);

    let (code, out, err) = run_cmd(
        KeysetCommand::Recover {
            group: group.clone(),
            rest: vec![],
            share_files: vec![],
        },
        &format!("{}\n{}\n", shares[3], shares[1]),
    );
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["nsec"], nsec);

    let (code, out, _) = run_cmd(
        KeysetCommand::Verify {
            group: group.clone(),
            rest: vec!["-".into()],
            share_file: None,
        },
        &shares[2],
    );
    assert_eq!(code, 0);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["belongs"], true);
    assert_eq!(r["idx"], 3);

    // A share of another group: answered, not an error.
    let foreign = s(&keyset_by_name(&v, "A_2of3_upstream")["shares"][0]["bfshare"]).to_owned();
    let (code, out, _) = run_cmd(
        KeysetCommand::Verify {
            group: group.clone(),
            rest: vec![],
            share_file: None,
        },
        &foreign,
    );
    assert_eq!(code, 1);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["belongs"], false);
    assert!(s(&r["reason"]).contains("does not belong"));

    // Recovery below threshold is an error with exit code 2.
    let (code, out, err) = run_cmd(
        KeysetCommand::Recover {
            group,
            rest: vec![],
            share_files: vec![],
        },
        &shares[0],
    );
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(err.starts_with("error: not enough shares"), "{err}");
}

#[test]
fn cli_generate_random_keyset() {
    let (code, out, err) = run_cmd(
        KeysetCommand::Generate {
            threshold: 3,
            shares: 7,
            nsec: None,
            nsec_file: None,
        },
        "",
    );
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    let group = decode_group(s(&j["group"])).unwrap();
    assert_eq!(group.threshold, 3);
    assert_eq!(
        hex::encode(igloo::frostr::credentials::group_id(&group)),
        s(&j["group_id"])
    );
    for sh in j["shares"].as_array().unwrap() {
        check_share_in_group(&decode_share(s(sh)).unwrap(), &group).unwrap();
    }
}

#[test]
fn cli_decode_and_errors() {
    let v = vectors();
    let a = keyset_by_name(&v, "A_2of3_upstream");
    let (code, out, _) = run_cmd(
        KeysetCommand::Decode {
            credential: Some(s(&a["bfgroup"]).into()),
            file: None,
        },
        "",
    );
    assert_eq!(code, 0);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["type"], "group");
    assert_eq!(j["group_id"], a["group_id"]);

    let share = &a["shares"][0];
    let (code, out, _) = run_cmd(
        KeysetCommand::Decode {
            credential: None,
            file: None,
        },
        s(&share["bfshare"]),
    );
    assert_eq!(code, 0);
    assert!(!out.contains(s(&share["decoded"]["seckey"])));
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["type"], "share");
    assert_eq!(j["nostr_pubkey"], share["nostr_pubkey"]);

    let (code, out, err) = run_cmd(
        KeysetCommand::Decode {
            credential: Some("bfgroup1qqqqqqqq".into()),
            file: None,
        },
        "",
    );
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.starts_with("error: "), "{err}");

    let (code, _, err) = run_cmd(
        KeysetCommand::Generate {
            threshold: 5,
            shares: 3,
            nsec: None,
            nsec_file: None,
        },
        "",
    );
    assert_eq!(code, 2);
    assert!(err.contains("threshold 5"), "{err}");

    let (code, _, err) = run_cmd(
        KeysetCommand::Generate {
            threshold: 2,
            shares: 3,
            nsec: Some("-".into()),
            nsec_file: None,
        },
        "",
    );
    assert_eq!(code, 2);
    assert!(err.contains("standard input"), "{err}");

    let (code, _, err) = run_cmd(
        KeysetCommand::Generate {
            threshold: 2,
            shares: 3,
            nsec: Some("-".into()),
            nsec_file: None,
        },
        s(&a["group_npub"]),
    );
    assert_eq!(code, 2);
    assert!(err.contains("nsec"), "{err}");

    // Debug of a command never shows secrets.
    let dbg = format!(
        "{:?}",
        KeysetCommand::Generate {
            threshold: 2,
            shares: 3,
            nsec: Some(s(&a["group_nsec"]).into()),
            nsec_file: None,
        }
    );
    assert!(!dbg.contains(s(&a["group_nsec"])), "{dbg}");
}
