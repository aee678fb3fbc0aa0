//! bifrost v1 signing against the JS-generated vectors, negative cases and a
//! random-keyset property test.

use std::collections::HashMap;

use igloo::frostr::hash::{h1, h4, h5};
use igloo::frostr::session::{
    Hex32, SessionPackage, SessionTemplate, SigVector, create_session, group_id,
    session_id_preimage,
};
use igloo::frostr::sign::{
    PsigPackage, SessionNonces, SighashContext, SignError, SigningSession, compress, sign_session,
};
use igloo::frostr::{Commit, GroupPackage, SecretScalar, SharePackage};
use k256::elliptic_curve::PrimeField;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::schnorr::{Signature, VerifyingKey};
use k256::{ProjectivePoint, PublicKey, Scalar};
use proptest::prelude::*;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/frostr-v1-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn b32(v: &Value) -> [u8; 32] {
    hex::decode(s(v)).unwrap().try_into().unwrap()
}

fn pk(v: &Value) -> PublicKey {
    PublicKey::from_sec1_bytes(&hex::decode(s(v)).unwrap()).unwrap()
}

fn secret(v: &Value) -> SecretScalar {
    SecretScalar::from_bytes(&b32(v)).unwrap()
}

fn scalar_hex(x: &Scalar) -> String {
    hex::encode(x.to_bytes())
}

fn point_hex(p: &ProjectivePoint) -> String {
    hex::encode(compress(&p.to_affine()))
}

/// Group package from the vectors' `group_decoded` JSON (F1 owns the bech32 decoder).
fn group_from_json(g: &Value) -> GroupPackage {
    GroupPackage {
        group_pk: pk(&g["group_pk"]),
        threshold: g["threshold"].as_u64().unwrap() as u32,
        commits: g["commits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| Commit {
                idx: c["idx"].as_u64().unwrap() as u32,
                pubkey: pk(&c["pubkey"]),
                hidden_pn: pk(&c["hidden_pn"]),
                binder_pn: pk(&c["binder_pn"]),
            })
            .collect(),
    }
}

fn share_from_json(d: &Value) -> SharePackage {
    SharePackage {
        idx: d["idx"].as_u64().unwrap() as u32,
        seckey: secret(&d["seckey"]),
        binder_sn: secret(&d["binder_sn"]),
        hidden_sn: secret(&d["hidden_sn"]),
    }
}

struct Keyset {
    group: GroupPackage,
    shares: HashMap<u32, SharePackage>,
}

fn keysets(v: &Value) -> HashMap<String, Keyset> {
    v["keysets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ks| {
            let group = group_from_json(&ks["group_decoded"]);
            let shares = ks["shares"]
                .as_array()
                .unwrap()
                .iter()
                .map(|sh| {
                    let share = share_from_json(&sh["decoded"]);
                    (share.idx, share)
                })
                .collect();
            (s(&ks["name"]).to_owned(), Keyset { group, shares })
        })
        .collect()
}

fn vector_from_json(v: &Value) -> SigVector {
    let parts: Vec<[u8; 32]> = v.as_array().unwrap().iter().map(b32).collect();
    SigVector::with_tweaks(parts[0], parts[1..].to_vec())
}

fn bip340_verify(xonly: &[u8], msg: &[u8], sig: &[u8; 64]) -> bool {
    let vk = VerifyingKey::from_bytes(xonly).unwrap();
    let sig = Signature::try_from(&sig[..]).unwrap();
    vk.verify_raw(msg, &sig).is_ok()
}

#[test]
fn group_ids_match_vectors() {
    let v = vectors();
    let ks = keysets(&v);
    let mut n = 0;
    for k in v["keysets"].as_array().unwrap() {
        let g = &ks[s(&k["name"])].group;
        assert_eq!(hex::encode(group_id(g)), s(&k["group_id"]), "{}", k["name"]);
        n += 1;
    }
    assert_eq!(n, 3);
}

#[test]
fn requester_builds_identical_sessions() {
    let v = vectors();
    let ks = keysets(&v);
    for case in v["signing"].as_array().unwrap() {
        let k = &ks[s(&case["keyset"])];
        let inp = &case["request_inputs"];
        let hashes = inp["sigvecs"]
            .as_array()
            .unwrap()
            .iter()
            .map(vector_from_json)
            .collect();
        let members = inp["members_in"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_u64().unwrap() as u32)
            .collect();
        let opts = &inp["options"];
        let mut t = SessionTemplate::new(hashes, members, opts["stamp"].as_u64().unwrap() as u32);
        if let Some(c) = opts.get("content") {
            t.content = Some(s(c).to_owned());
        }
        if let Some(ty) = opts.get("type") {
            t.kind = s(ty).to_owned();
        }
        let session = create_session(&k.group, t).unwrap();
        assert_eq!(
            session.to_json(),
            s(&case["session_json"]),
            "{}",
            case["name"]
        );
        let pre = session_id_preimage(
            &session.gid.0,
            &session.members,
            &session.hashes,
            session.content.as_deref(),
            &session.kind,
            session.stamp,
        )
        .unwrap();
        assert_eq!(hex::encode(pre), s(&case["sid_preimage"]));
        assert_eq!(session.compute_sid().unwrap(), session.sid.0);
        // The wire JSON parses back to the same package.
        let parsed: SessionPackage = serde_json::from_str(s(&case["session_json"])).unwrap();
        assert_eq!(parsed, session);
    }
}

#[test]
fn every_intermediate_value_matches_vectors() {
    let v = vectors();
    let ks = keysets(&v);
    let mut checked = 0;
    for case in v["signing"].as_array().unwrap() {
        let k = &ks[s(&case["keyset"])];
        let session: SessionPackage = serde_json::from_str(s(&case["session_json"])).unwrap();
        for (vec_json, exp) in case["session"]["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .zip(case["per_sighash"].as_array().unwrap())
        {
            let vector = vector_from_json(vec_json);
            let ctx =
                SighashContext::new(&k.group, &session.sid.0, &session.members, &vector).unwrap();
            let kc = &exp["key_context"];
            assert_eq!(point_hex(&ctx.key.internal_key), s(&kc["int_pk"]));
            assert_eq!(point_hex(&ctx.key.group_pk), s(&kc["group_pk_tweaked"]));
            let sign = |x: Scalar| if x == Scalar::ONE { 1 } else { -1 };
            assert_eq!(sign(ctx.key.parity), kc["parity"].as_i64().unwrap());
            assert_eq!(sign(ctx.key.state), kc["state"].as_i64().unwrap());
            assert_eq!(scalar_hex(&ctx.key.tweak_acc), s(&kc["tweak_acc"]));
            assert_eq!(
                hex::encode(&ctx.commit_list),
                s(&exp["commit_list_encoding"])
            );
            assert_eq!(hex::encode(h4(&vector.sighash.0)), s(&exp["H4_msg_hash"]));
            assert_eq!(hex::encode(h5(&ctx.commit_list)), s(&exp["H5_commit_hash"]));
            assert_eq!(hex::encode(&ctx.rho_prefix), s(&exp["rho_input_prefix"]));
            assert_eq!(
                hex::encode(compress(&ctx.group_commitment)),
                s(&exp["group_commitment_R"])
            );
            assert_eq!(
                ctx.r_sign == Scalar::ONE,
                exp["R_has_even_y"].as_bool().unwrap()
            );
            assert_eq!(scalar_hex(&ctx.challenge), s(&exp["challenge"]));

            let mut partials = Vec::new();
            for m in exp["members"].as_array().unwrap() {
                let idx = m["idx"].as_u64().unwrap() as u32;
                let mc = ctx.member(idx).unwrap();
                let share = &k.shares[&idx];
                assert_eq!(hex::encode(mc.bind_hash), s(&m["bind_hash"]));
                let nonces = SessionNonces::derive(share, &session.sid.0, &vector);
                assert_eq!(scalar_hex(&nonces.hidden), s(&m["session_hidden_sn"]));
                assert_eq!(scalar_hex(&nonces.binder), s(&m["session_binder_sn"]));
                assert_eq!(
                    hex::encode(compress(&mc.hidden_pn)),
                    s(&m["session_hidden_pn"])
                );
                assert_eq!(
                    hex::encode(compress(&mc.binder_pn)),
                    s(&m["session_binder_pn"])
                );
                assert_eq!(scalar_hex(&mc.binding_factor), s(&m["binding_factor"]));
                assert_eq!(scalar_hex(&mc.lagrange), s(&m["lagrange_coeff"]));
                let z = ctx.partial_sign(share, &session.sid.0).unwrap();
                assert_eq!(scalar_hex(&z), s(&m["partial_sig"]));
                ctx.verify_partial(idx, &z).unwrap();
                partials.push((idx, z));
                checked += 1;
            }
            let sig = ctx.aggregate(&partials).unwrap();
            assert_eq!(hex::encode(sig), s(&exp["signature"]));
            let entry = exp["signature_entry"].as_array().unwrap();
            assert_eq!(s(&entry[1]), point_hex(&ctx.key.group_pk));
            assert!(bip340_verify(
                &b32(&exp["verify_pubkey_xonly"]),
                &vector.sighash.0,
                &sig
            ));
        }
    }
    assert_eq!(
        checked, 22,
        "number of (sighash, member) partials in the vectors"
    );
}

#[test]
fn responders_produce_identical_sign_responses() {
    let v = vectors();
    let ks = keysets(&v);
    for case in v["signing"].as_array().unwrap() {
        let k = &ks[s(&case["keyset"])];
        let session: SessionPackage = serde_json::from_str(s(&case["session_json"])).unwrap();
        for exp in case["psig_pkgs"].as_array().unwrap() {
            let idx = exp["idx"].as_u64().unwrap() as u32;
            let pkg = sign_session(&k.group, &k.shares[&idx], session.clone()).unwrap();
            assert_eq!(pkg.to_json(), serde_json::to_string(exp).unwrap());
            let parsed: PsigPackage = serde_json::from_value(exp.clone()).unwrap();
            assert_eq!(parsed, pkg);
        }
    }
    // The captured /sign/res envelope data is the same JSON text, byte for byte.
    let sign_res = v["transport"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["envelope"]["tag"] == "/sign/res")
        .unwrap();
    let case = &v["signing"][0];
    let k = &ks[s(&case["keyset"])];
    let session: SessionPackage = serde_json::from_str(s(&case["session_json"])).unwrap();
    let pkg = sign_session(&k.group, &k.shares[&3], session).unwrap();
    assert_eq!(pkg.to_json(), s(&sign_res["envelope"]["data"]));
}

#[test]
fn requester_aggregates_vector_sessions() {
    let v = vectors();
    let ks = keysets(&v);
    for case in v["signing"].as_array().unwrap() {
        let k = &ks[s(&case["keyset"])];
        let session: SessionPackage = serde_json::from_str(s(&case["session_json"])).unwrap();
        let ss = SigningSession::new(&k.group, session).unwrap();
        let pkgs: Vec<PsigPackage> = case["psig_pkgs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| serde_json::from_value(p.clone()).unwrap())
            .collect();
        let entries = ss.aggregate(&pkgs).unwrap();
        for (entry, exp) in entries.iter().zip(case["per_sighash"].as_array().unwrap()) {
            let e = exp["signature_entry"].as_array().unwrap();
            assert_eq!(hex::encode(entry.sighash), s(&e[0]));
            assert_eq!(hex::encode(entry.group_pk), s(&e[1]));
            assert_eq!(hex::encode(entry.signature), s(&e[2]));
        }
        assert_eq!(entries.len(), case["per_sighash"].as_array().unwrap().len());
    }
}

/// The first vector session with its two valid packages.
fn first_session() -> (GroupPackage, SigningSession, Vec<PsigPackage>) {
    let v = vectors();
    let mut ks = keysets(&v);
    let case = &v["signing"][0];
    let k = ks.remove(s(&case["keyset"])).unwrap();
    let session: SessionPackage = serde_json::from_str(s(&case["session_json"])).unwrap();
    let ss = SigningSession::new(&k.group, session).unwrap();
    let pkgs = case["psig_pkgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| serde_json::from_value(p.clone()).unwrap())
        .collect();
    (k.group, ss, pkgs)
}

#[test]
fn tampered_partial_is_rejected() {
    let (_, ss, mut pkgs) = first_session();
    pkgs[1].psigs[0].1.0[31] ^= 1;
    assert!(matches!(
        ss.aggregate(&pkgs),
        Err(SignError::PartialInvalid { idx: 3, .. })
    ));
}

#[test]
fn negated_partial_is_rejected_on_full_points() {
    // JS compares only x-coordinates, so -z would pass there; we compare full points.
    let (_, ss, mut pkgs) = first_session();
    let z = Scalar::from_repr(pkgs[0].psigs[0].1.0.into()).unwrap();
    pkgs[0].psigs[0].1 = Hex32((-z).to_bytes().into());
    assert!(matches!(
        ss.verify_response(&pkgs[0]),
        Err(SignError::PartialInvalid { idx: 1, .. })
    ));
}

#[test]
fn wrong_sid_pubkey_or_member_set_is_rejected() {
    let (group, ss, pkgs) = first_session();
    let mut bad = pkgs[0].clone();
    bad.sid.0[0] ^= 1;
    assert!(matches!(
        ss.verify_response(&bad),
        Err(SignError::SidMismatch { .. })
    ));

    let mut bad = pkgs[0].clone();
    bad.pubkey = pkgs[1].pubkey;
    assert_eq!(
        ss.verify_response(&bad),
        Err(SignError::WrongPubkey { idx: 1 })
    );

    let mut bad = pkgs[0].clone();
    bad.idx = 2;
    bad.pubkey = igloo::frostr::sign::HexPoint::from_public_key(&group.commits[1].pubkey);
    assert_eq!(ss.verify_response(&bad), Err(SignError::NotAMember(2)));

    let mut bad = pkgs[0].clone();
    bad.psigs.push(bad.psigs[0]);
    assert_eq!(
        ss.verify_response(&bad),
        Err(SignError::WrongSighashes { idx: 1 })
    );

    assert!(matches!(
        ss.aggregate(&pkgs[..1]),
        Err(SignError::IncompletePartials(_))
    ));
    let dup = vec![pkgs[0].clone(), pkgs[0].clone()];
    assert_eq!(ss.aggregate(&dup), Err(SignError::DuplicateResponse(1)));
}

#[test]
fn non_member_share_does_not_sign() {
    let v = vectors();
    let ks = keysets(&v);
    let k = &ks["A_2of3_upstream"];
    let session: SessionPackage =
        serde_json::from_str(s(&v["signing"][0]["session_json"])).unwrap();
    assert_eq!(session.members, vec![1, 3]);
    assert_eq!(
        sign_session(&k.group, &k.shares[&2], session),
        Err(SignError::NotAMember(2))
    );
}

#[test]
fn share_of_another_group_does_not_sign() {
    let v = vectors();
    let ks = keysets(&v);
    let session: SessionPackage =
        serde_json::from_str(s(&v["signing"][0]["session_json"])).unwrap();
    let foreign = &ks["B_3of5"].shares[&1];
    let err = sign_session(&ks["A_2of3_upstream"].group, foreign, session).unwrap_err();
    assert_eq!(err, SignError::ShareNotInGroup(1));
}

#[test]
fn rfc9591_binding_factors_and_commitment() {
    let v = vectors();
    let r = &v["ciphersuite_crosscheck"]["rfc9591_secp256k1"];
    let inp = &r["inputs"];
    let mut coms: Vec<&Value> = inp["commitments"].as_array().unwrap().iter().collect();
    coms.sort_by_key(|c| c["idx"].as_u64().unwrap());
    let mut enc = Vec::new();
    for c in &coms {
        enc.extend_from_slice(&igloo::frostr::session::u256be(
            c["idx"].as_u64().unwrap() as u32
        ));
        enc.extend_from_slice(&hex::decode(s(&c["hidden_pn"])).unwrap());
        enc.extend_from_slice(&hex::decode(s(&c["binder_pn"])).unwrap());
    }
    let mut prefix = hex::decode(s(&inp["group_public_key"])).unwrap();
    prefix.extend_from_slice(&h4(&hex::decode(s(&inp["message"])).unwrap()));
    prefix.extend_from_slice(&h5(&enc));
    assert_eq!(hex::encode(&prefix), s(&r["library_rho_input_prefix"]));
    let mut big_r = ProjectivePoint::IDENTITY;
    for c in &coms {
        let idx = c["idx"].as_u64().unwrap() as u32;
        let rho = h1(&[&prefix, &igloo::frostr::session::u256be(idx)]);
        assert_eq!(
            scalar_hex(&rho),
            s(&r["rfc_binding_factors"][idx.to_string()])
        );
        big_r += pk(&c["hidden_pn"]).to_projective() + pk(&c["binder_pn"]).to_projective() * rho;
    }
    assert_eq!(point_hex(&big_r), s(&r["rfc_R"]));
}

// ---------------------------------------------------------------- property test

/// Trusted-dealer Shamir split with random static nonces (test-only helper).
fn split(secret: Scalar, coeffs: &[Scalar], n: u32, nonces: &[(Scalar, Scalar)]) -> Keyset {
    let mut commits = Vec::new();
    let mut shares = HashMap::new();
    for i in 1..=n {
        let x = Scalar::from(u64::from(i));
        let mut f = Scalar::ZERO;
        for a in coeffs.iter().rev() {
            f = f * x + a;
        }
        f = f * x + secret;
        let (d, e) = nonces[(i - 1) as usize];
        let share = SharePackage {
            idx: i,
            seckey: SecretScalar::from_bytes(&f.to_bytes().into()).unwrap(),
            hidden_sn: SecretScalar::from_bytes(&d.to_bytes().into()).unwrap(),
            binder_sn: SecretScalar::from_bytes(&e.to_bytes().into()).unwrap(),
        };
        commits.push(Commit {
            idx: i,
            pubkey: share.seckey.public_key(),
            hidden_pn: share.hidden_sn.public_key(),
            binder_pn: share.binder_sn.public_key(),
        });
        shares.insert(i, share);
    }
    let group_pk =
        PublicKey::from_affine((ProjectivePoint::GENERATOR * secret).to_affine()).unwrap();
    Keyset {
        group: GroupPackage {
            group_pk,
            threshold: coeffs.len() as u32 + 1,
            commits,
        },
        shares,
    }
}

fn nonzero_scalar() -> impl Strategy<Value = Scalar> {
    any::<[u8; 32]>().prop_filter_map("zero or out of range", |b| {
        Option::<Scalar>::from(Scalar::from_repr(b.into())).filter(|s| !bool::from(s.is_zero()))
    })
}

fn tweak() -> impl Strategy<Value = [u8; 32]> {
    nonzero_scalar().prop_map(|s| s.to_bytes().into())
}

prop_compose! {
    fn keyset_params()(n in 1u32..=15)(
        n in Just(n),
        t in 1u32..=n,
        secret in nonzero_scalar(),
        coeffs in prop::collection::vec(nonzero_scalar(), 14),
        nonces in prop::collection::vec((nonzero_scalar(), nonzero_scalar()), n as usize),
        extra in 0u32..=2,
        pick in any::<u64>(),
    ) -> (u32, u32, Scalar, Vec<Scalar>, Vec<(Scalar, Scalar)>, u32, u64) {
        (n, t, secret, coeffs, nonces, extra, pick)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn aggregate_verifies_for_tweaked_group_key(
        (n, t, secret, coeffs, nonces, extra, pick) in keyset_params(),
        msgs in prop::collection::vec((any::<[u8; 32]>(), prop::collection::vec(tweak(), 0..=3)), 1..=3),
        stamp in any::<u32>(),
    ) {
        let ks = split(secret, &coeffs[..(t - 1) as usize], n, &nonces);
        // A pseudo-random signer set of size t..=min(n, t + extra).
        let size = (t + extra).min(n) as usize;
        let mut all: Vec<u32> = (1..=n).collect();
        let mut state = pick;
        for i in (1..all.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            all.swap(i, (state >> 33) as usize % (i + 1));
        }
        let members = all[..size].to_vec();
        let mut seen = std::collections::HashSet::new();
        let hashes: Vec<SigVector> = msgs
            .into_iter()
            .filter(|(m, _)| seen.insert(*m))
            .map(|(m, tw)| SigVector::with_tweaks(m, tw))
            .collect();
        let session = create_session(&ks.group, SessionTemplate::new(hashes.clone(), members.clone(), stamp)).unwrap();
        let ss = SigningSession::new(&ks.group, session).unwrap();
        let pkgs: Vec<PsigPackage> = members.iter().map(|i| ss.sign(&ks.group, &ks.shares[i]).unwrap()).collect();
        let entries = ss.aggregate(&pkgs).unwrap();
        prop_assert_eq!(entries.len(), hashes.len());
        for (entry, vector) in entries.iter().zip(&hashes) {
            // Independently tweak the group key: Q = par·Q + τ·G for each tweak.
            let mut q = ks.group.group_pk.to_projective();
            for tw in &vector.tweaks {
                let odd = q.to_affine().to_encoded_point(true).as_bytes()[0] == 3;
                if odd { q = -q; }
                q += ProjectivePoint::GENERATOR * Scalar::from_repr(tw.0.into()).unwrap();
            }
            prop_assert_eq!(hex::encode(entry.group_pk), point_hex(&q));
            prop_assert!(bip340_verify(&entry.group_pk[1..], &vector.sighash.0, &entry.signature));
        }
    }
}
