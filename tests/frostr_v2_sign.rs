//! V2 signing: nonce-pool exchange by ping, 2-of-3 and 3-of-5 sessions that produce
//! BIP-340 signatures valid under the group key, replay and exhaustion handling, session
//! tampering, and the official `frost-secp256k1-tr` vectors through our signing primitive.

use std::collections::BTreeMap;

use igloo::frostr::SecretScalar;
use igloo::frostr_v2::envelope::{Ping, SignSession};
use igloo::frostr_v2::hexser::parse;
use igloo::frostr_v2::ids;
use igloo::frostr_v2::keyset::{self, Keyset};
use igloo::frostr_v2::nonces::{PeerPool, PoolError};
use igloo::frostr_v2::sign::{self, SignError, SignRound, SignerKey};
use igloo::frostr_v2::types::{GroupPackage, Member, ShareSecret, compress};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// One in-process member: its key and a nonce pool per peer.
struct Node {
    key: SignerKey,
    pools: BTreeMap<u16, PeerPool>,
}

fn nodes(ks: &Keyset) -> Vec<Node> {
    ks.shares
        .iter()
        .map(|s| Node {
            key: SignerKey::new(&ks.group, s).unwrap(),
            pools: ks
                .group
                .members
                .iter()
                .filter(|m| m.idx != s.idx)
                .map(|m| (m.idx, PeerPool::new()))
                .collect(),
        })
        .collect()
}

fn by_idx(ns: &mut [Node], idx: u16) -> &mut Node {
    ns.iter_mut().find(|n| n.key.idx() == idx).unwrap()
}

/// `a` pings `b` and `b` answers, as §4.6 describes.
fn ping(ns: &mut [Node], a: u16, b: u16, rng: &mut StdRng) {
    let req = {
        let na = by_idx(ns, a);
        let share = *na.key.signing_share();
        let pool = na.pools.get_mut(&b).unwrap();
        Ping {
            version: 2,
            advertised_nonces: pool.advertise(&share, rng),
            held_peer_nonce_codes: pool.held_incoming_codes(),
            policy_profile: None,
        }
    };
    let resp = {
        let nb = by_idx(ns, b);
        let share = *nb.key.signing_share();
        let pool = nb.pools.get_mut(&a).unwrap();
        pool.apply_remote(&req.advertised_nonces, Some(&req.held_peer_nonce_codes))
            .unwrap();
        Ping {
            version: 2,
            advertised_nonces: pool.advertise(&share, rng),
            held_peer_nonce_codes: pool.held_incoming_codes(),
            policy_profile: None,
        }
    };
    by_idx(ns, a)
        .pools
        .get_mut(&b)
        .unwrap()
        .apply_remote(&resp.advertised_nonces, Some(&resp.held_peer_nonce_codes))
        .unwrap();
}

fn start(
    ns: &mut [Node],
    me: u16,
    peers: &[u16],
    msgs: Vec<[u8; 32]>,
    rng: &mut StdRng,
) -> Result<SignRound, SignError> {
    let n = by_idx(ns, me);
    let mut picked = Vec::new();
    for p in peers {
        picked.push((*p, n.pools.get_mut(p).unwrap().take_incoming(msgs.len())?));
    }
    SignRound::start(&n.key, picked, msgs, 1_700_000_000, rng)
}

fn respond(
    ns: &mut [Node],
    responder: u16,
    sender: u16,
    s: &SignSession,
) -> Result<igloo::frostr_v2::envelope::SignResponse, SignError> {
    let n = by_idx(ns, responder);
    let codes = sign::validate_request(&n.key, sender, s)?;
    // The node persists `spent.codes()` here before answering.
    let spent = n.pools.get_mut(&sender).unwrap().spend(&codes)?;
    sign::respond(&n.key, s, spent)
}

fn verify(group: &GroupPackage, msg: &[u8; 32], sig: &[u8; 64]) {
    let vk = k256::schnorr::VerifyingKey::from_bytes(&group.group_pk).unwrap();
    let sig = k256::schnorr::Signature::try_from(&sig[..]).unwrap();
    vk.verify_raw(msg, &sig)
        .expect("BIP-340 signature verifies under the group key");
}

fn full_round(
    ks: &Keyset,
    ns: &mut [Node],
    me: u16,
    peers: &[u16],
    msgs: Vec<[u8; 32]>,
    rng: &mut StdRng,
) -> Vec<[u8; 64]> {
    for p in peers {
        ping(ns, me, *p, rng);
    }
    let mut round = start(ns, me, peers, msgs.clone(), rng).unwrap();
    let session = round.request().clone();
    let mut out = None;
    for p in peers {
        let r = respond(ns, *p, me, &session).unwrap();
        assert_eq!(r.sid, session.sid);
        out = round.accept(*p, &r).unwrap();
    }
    let sigs = out.expect("complete after the last partial");
    for (m, s) in msgs.iter().zip(&sigs) {
        verify(&ks.group, m, s);
    }
    sigs
}

#[test]
fn two_of_three_every_pair_signs_in_both_directions() {
    let mut rng = StdRng::seed_from_u64(11);
    let ks = keyset::generate("g", 2, 3, &mut rng).unwrap();
    let mut ns = nodes(&ks);
    for (a, b) in [(1, 2), (2, 1), (1, 3), (3, 1), (2, 3), (3, 2)] {
        full_round(
            &ks,
            &mut ns,
            a,
            &[b],
            vec![[a as u8 * 16 + b as u8; 32]],
            &mut rng,
        );
    }
}

#[test]
fn three_of_five_with_several_hashes() {
    let mut rng = StdRng::seed_from_u64(12);
    let ks = keyset::generate("g", 3, 5, &mut rng).unwrap();
    let mut ns = nodes(&ks);
    let sigs = full_round(
        &ks,
        &mut ns,
        4,
        &[2, 5],
        vec![[1; 32], [2; 32], [3; 32]],
        &mut rng,
    );
    assert_eq!(sigs.len(), 3);
    full_round(&ks, &mut ns, 1, &[3, 4], vec![[9; 32]], &mut rng);
}

#[test]
fn ping_exchanges_seventy_nonces_then_only_inventories() {
    let mut rng = StdRng::seed_from_u64(13);
    let ks = keyset::generate("g", 2, 3, &mut rng).unwrap();
    let mut ns = nodes(&ks);
    ping(&mut ns, 1, 2, &mut rng);
    assert_eq!(by_idx(&mut ns, 1).pools[&2].incoming_len(), 70);
    assert_eq!(by_idx(&mut ns, 2).pools[&1].incoming_len(), 70);
    assert!(by_idx(&mut ns, 1).pools[&2].is_sign_ready());
    // Second ping: the peer holds 70 of ours, nothing new is advertised.
    let n1 = by_idx(&mut ns, 1);
    let share = *n1.key.signing_share();
    assert!(
        n1.pools
            .get_mut(&2)
            .unwrap()
            .advertise(&share, &mut rng)
            .is_empty()
    );
}

#[test]
fn replayed_sign_request_gets_no_second_partial() {
    let mut rng = StdRng::seed_from_u64(14);
    let ks = keyset::generate("g", 2, 3, &mut rng).unwrap();
    let mut ns = nodes(&ks);
    ping(&mut ns, 1, 2, &mut rng);
    let round = start(&mut ns, 1, &[2], vec![[5; 32]], &mut rng).unwrap();
    let s = round.request().clone();
    respond(&mut ns, 2, 1, &s).unwrap();
    assert_eq!(
        respond(&mut ns, 2, 1, &s).unwrap_err(),
        SignError::Pool(PoolError::UnknownCode)
    );
    // Another member cannot use codes we advertised to member 1 either.
    assert!(respond(&mut ns, 2, 3, &s).is_err());
}

#[test]
fn exhausted_pool_is_a_clear_error_and_the_next_ping_recovers() {
    let mut rng = StdRng::seed_from_u64(15);
    let ks = keyset::generate("g", 2, 3, &mut rng).unwrap();
    let mut ns = nodes(&ks);
    let err = start(&mut ns, 1, &[2], vec![[1; 32]], &mut rng).unwrap_err();
    assert_eq!(err, SignError::Pool(PoolError::Exhausted));
    assert!(err.to_string().contains("ping"));
    ping(&mut ns, 1, 2, &mut rng);
    for i in 0..70u8 {
        let mut round = start(&mut ns, 1, &[2], vec![[i; 32]], &mut rng).unwrap();
        let s = round.request().clone();
        let r = respond(&mut ns, 2, 1, &s).unwrap();
        assert!(round.accept(2, &r).unwrap().is_some());
    }
    assert_eq!(
        start(&mut ns, 1, &[2], vec![[1; 32]], &mut rng).unwrap_err(),
        SignError::Pool(PoolError::Exhausted)
    );
    // Member 2 refills on the next ping because member 1 now holds fewer than 20.
    ping(&mut ns, 1, 2, &mut rng);
    full_round(&ks, &mut ns, 1, &[2], vec![[0xee; 32]], &mut rng);
}

#[test]
fn discarded_pool_refuses_stale_codes_until_the_next_ping() {
    let mut rng = StdRng::seed_from_u64(16);
    let ks = keyset::generate("g", 2, 3, &mut rng).unwrap();
    let mut ns = nodes(&ks);
    ping(&mut ns, 1, 2, &mut rng);
    // Member 2 restarts uncleanly and discards its pools.
    by_idx(&mut ns, 2).pools.get_mut(&1).unwrap().discard();
    let round = start(&mut ns, 1, &[2], vec![[1; 32]], &mut rng).unwrap();
    let s = round.request().clone();
    assert_eq!(
        respond(&mut ns, 2, 1, &s).unwrap_err(),
        SignError::Pool(PoolError::UnknownCode)
    );
    // Member 1 still holds stale nonces; a discard on its side plus a ping re-syncs.
    by_idx(&mut ns, 1).pools.get_mut(&2).unwrap().discard();
    full_round(&ks, &mut ns, 1, &[2], vec![[2; 32]], &mut rng);
}

#[test]
fn responder_rejects_tampered_sessions_before_spending() {
    let mut rng = StdRng::seed_from_u64(17);
    let ks = keyset::generate("g", 2, 3, &mut rng).unwrap();
    let mut ns = nodes(&ks);
    ping(&mut ns, 1, 2, &mut rng);
    let round = start(&mut ns, 1, &[2], vec![[1; 32]], &mut rng).unwrap();
    let good = round.request().clone();
    let key = &by_idx(&mut ns, 2).key;
    let mut s = good.clone();
    s.gid[0] ^= 1;
    assert_eq!(sign::validate_request(key, 1, &s), Err(SignError::GroupId));
    let mut s = good.clone();
    s.hashes[0][0] ^= 1;
    assert_eq!(
        sign::validate_request(key, 1, &s),
        Err(SignError::SessionId)
    );
    let mut s = good.clone();
    s.members.reverse();
    assert!(matches!(
        sign::validate_request(key, 1, &s),
        Err(SignError::Members(_))
    ));
    // Sender not among the members.
    assert!(matches!(
        sign::validate_request(key, 3, &good),
        Err(SignError::Members(_))
    ));
    let mut s = good.clone();
    s.nonces[1].entries.clear();
    assert_eq!(sign::validate_request(key, 1, &s), Err(SignError::Nonces));
    assert!(sign::validate_request(key, 1, &good).is_ok());
    // Nothing was spent by the rejected attempts: the good request still succeeds.
    respond(&mut ns, 2, 1, &good).unwrap();
}

#[test]
fn requester_rejects_bad_partials_and_strangers() {
    let mut rng = StdRng::seed_from_u64(18);
    let ks = keyset::generate("g", 3, 3, &mut rng).unwrap();
    let mut ns = nodes(&ks);
    ping(&mut ns, 1, 2, &mut rng);
    ping(&mut ns, 1, 3, &mut rng);
    let mut round = start(&mut ns, 1, &[2, 3], vec![[1; 32]], &mut rng).unwrap();
    let s = round.request().clone();
    let r2 = respond(&mut ns, 2, 1, &s).unwrap();
    let mut bad = r2.clone();
    bad.psigs[0].partial_sig[31] ^= 1;
    assert_eq!(round.accept(2, &bad), Err(SignError::BadPartial));
    assert_eq!(round.accept(3, &r2), Err(SignError::UnexpectedResponder));
    let mut wrong_sid = r2.clone();
    wrong_sid.sid[0] ^= 1;
    assert_eq!(round.accept(2, &wrong_sid), Err(SignError::BadResponse));
    assert_eq!(round.accept(2, &r2), Ok(None));
    assert_eq!(round.accept(2, &r2), Err(SignError::UnexpectedResponder));
    assert_eq!(round.pending(), vec![3]);
    let r3 = respond(&mut ns, 3, 1, &s).unwrap();
    let sigs = round.accept(3, &r3).unwrap().unwrap();
    verify(&ks.group, &[1; 32], &sigs[0]);
}

#[test]
fn gid_and_sid_hash_u32_little_endian() {
    let mut rng = StdRng::seed_from_u64(19);
    let ks = keyset::generate("name is not hashed", 2, 3, &mut rng).unwrap();
    let mut pre = ks.group.group_pk.to_vec();
    pre.extend_from_slice(&[2, 0, 0, 0]);
    for m in &ks.group.members {
        pre.extend_from_slice(&m.pubkey);
    }
    use sha2::Digest;
    let gid: [u8; 32] = sha2::Sha256::digest(&pre).into();
    assert_eq!(ids::group_id(&ks.group), gid);
    let mut renamed = ks.group.clone();
    renamed.group_name = "other".into();
    assert_eq!(ids::group_id(&renamed), gid);

    let mut pre = gid.to_vec();
    pre.extend_from_slice(&[1, 0, 0, 0, 3, 0, 0, 0]);
    pre.extend_from_slice(&[7; 32]);
    pre.push(0);
    pre.extend_from_slice(b"message");
    pre.extend_from_slice(&0x0102_0304u32.to_le_bytes());
    let sid: [u8; 32] = sha2::Sha256::digest(&pre).into();
    assert_eq!(
        ids::session_id(&gid, &[1, 3], &[[7; 32]], None, "message", 0x0102_0304),
        sid
    );
    assert_eq!(
        ids::session_id(&gid, &[1, 3], &[[7; 32]], Some(&[]), "message", 0x0102_0304),
        sid
    );
    assert_ne!(
        ids::session_id(
            &gid,
            &[1, 3],
            &[[7; 32]],
            Some(&[1]),
            "message",
            0x0102_0304
        ),
        sid
    );
}

#[test]
fn signer_key_refuses_foreign_shares_and_inconsistent_groups() {
    let mut rng = StdRng::seed_from_u64(20);
    let ks = keyset::generate("g", 2, 3, &mut rng).unwrap();
    let other = keyset::generate("g", 2, 3, &mut rng).unwrap();
    assert!(SignerKey::new(&ks.group, &other.shares[0]).is_err());
    let mut g = ks.group.clone();
    g.members[2].pubkey = other.group.members[2].pubkey;
    g.members.swap(0, 2);
    assert!(matches!(
        SignerKey::new(&g, &ks.shares[1]),
        Err(SignError::Inconsistent)
    ));
}

/// The official FROST(secp256k1, SHA-256)-TR vectors, shipped with the crate's sources.
#[test]
fn official_frost_tr_vectors_through_our_primitives() {
    let raw: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/bifrost-rs-frost-tr-vectors.json")).unwrap();
    let inputs = &raw["inputs"];
    let h = |v: &serde_json::Value| hex::decode(v.as_str().unwrap()).unwrap();
    let vk = h(&inputs["verifying_key_key"]);
    let msg = h(&inputs["message"]);
    let threshold: u16 = raw["config"]["MIN_PARTICIPANTS"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut members = Vec::new();
    let mut shares = BTreeMap::new();
    for s in inputs["participant_shares"].as_array().unwrap() {
        let idx = s["identifier"].as_u64().unwrap() as u16;
        let sec = SecretScalar::from_bytes(
            &parse::<32>(s["participant_share"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        members.push(Member {
            idx,
            pubkey: compress(&sec.public_key()),
        });
        shares.insert(idx, ShareSecret { idx, secret: sec });
    }
    assert_eq!(vk[0], 0x02, "vector group key has even y");
    let group = GroupPackage {
        group_name: "vectors".into(),
        group_pk: vk[1..].try_into().unwrap(),
        threshold,
        members,
    };
    let mut commitments = Vec::new();
    let mut nonces = BTreeMap::new();
    for o in raw["round_one_outputs"]["outputs"].as_array().unwrap() {
        let idx = o["identifier"].as_u64().unwrap() as u16;
        let hiding =
            frost_core::round1::Nonce::<frost_secp256k1_tr::Secp256K1Sha256TR>::deserialize(&h(
                &o["hiding_nonce"]
            ))
            .unwrap();
        let binding =
            frost_core::round1::Nonce::<frost_secp256k1_tr::Secp256K1Sha256TR>::deserialize(&h(
                &o["binding_nonce"]
            ))
            .unwrap();
        nonces.insert(
            idx,
            frost_secp256k1_tr::round1::SigningNonces::from_nonces(hiding, binding),
        );
        commitments.push((
            idx,
            h(&o["hiding_nonce_commitment"]).try_into().unwrap(),
            h(&o["binding_nonce_commitment"]).try_into().unwrap(),
        ));
    }
    let mut partials = Vec::new();
    for o in raw["round_two_outputs"]["outputs"].as_array().unwrap() {
        let idx = o["identifier"].as_u64().unwrap() as u16;
        let key = SignerKey::new(&group, &shares[&idx]).unwrap();
        let p = sign::partial_sign(&key, &commitments, &msg, &nonces[&idx]).unwrap();
        assert_eq!(
            hex::encode(p),
            o["sig_share"].as_str().unwrap(),
            "sig share of {idx}"
        );
        partials.push((idx, p));
    }
    let key = SignerKey::new(&group, &shares[&1]).unwrap();
    let sig = sign::aggregate_partials(&key, &commitments, &msg, &partials).unwrap();
    assert_eq!(
        hex::encode(sig),
        raw["final_output"]["sig"].as_str().unwrap()
    );
}
