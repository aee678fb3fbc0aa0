//! Threshold ECDH in the fixed form: Appendix A's known answer for every quorum, the
//! request/response round, and the responder's checks.

use igloo::frostr::SecretScalar;
use igloo::frostr_v2::ecdh::{self, EcdhError, EcdhRound};
use igloo::frostr_v2::envelope::EcdhPackage;
use igloo::frostr_v2::keyset;
use igloo::frostr_v2::types::{GroupPackage, Member, ShareSecret, compress};
use k256::Scalar;
use k256::elliptic_curve::point::AffineCoordinates;
use rand::SeedableRng;
use rand::rngs::StdRng;

const EXPECTED: &str = "044cb5cb96a3459b171e913b34b8e85c3bb17ca228aa608d37151ec7e478e8ac";

fn scalar_secret(s: Scalar) -> SecretScalar {
    SecretScalar::from_bytes(&s.to_bytes().into()).unwrap()
}

/// f(x) = a0 + a1·x, shares f(1..3), counterparty c (Appendix A, vector 2).
fn appendix_a() -> (GroupPackage, Vec<ShareSecret>, [u8; 32]) {
    let a0 = Scalar::from(0x1234_5678_9abc_def0u64);
    let a1 = Scalar::from(0x0fed_cba9_8765_4321u64);
    let shares: Vec<ShareSecret> = (1..=3u16)
        .map(|i| ShareSecret {
            idx: i,
            secret: scalar_secret(a0 + a1 * Scalar::from(u64::from(i))),
        })
        .collect();
    let c = scalar_secret(Scalar::from(0x00de_ad00_beef_0042u64));
    let target: [u8; 32] = c.public_key().as_affine().x().into();
    let group_pk: [u8; 32] = scalar_secret(a0).public_key().as_affine().x().into();
    let group = GroupPackage {
        group_name: "appendix-a".into(),
        group_pk,
        threshold: 2,
        members: shares
            .iter()
            .map(|s| Member {
                idx: s.idx,
                pubkey: compress(&s.secret.public_key()),
            })
            .collect(),
    };
    (group, shares, target)
}

#[test]
fn appendix_a_known_answer_for_every_quorum_through_the_round() {
    let (group, shares, target) = appendix_a();
    for (a, b) in [(0usize, 1usize), (0, 2), (1, 2), (1, 0), (2, 0), (2, 1)] {
        let me = &shares[a];
        let peer = &shares[b];
        let mut round = EcdhRound::start(me, &group, &[peer.idx], &[target]).unwrap();
        let resp = ecdh::respond(peer, &group, me.idx, round.request()).unwrap();
        let out = round.accept(peer.idx, &resp).unwrap().unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, target);
        assert_eq!(
            hex::encode(*out[0].1),
            EXPECTED,
            "quorum {}+{}",
            me.idx,
            peer.idx
        );
    }
    // All three together give the same secret.
    let ks: Vec<[u8; 33]> = shares
        .iter()
        .map(|s| ecdh::keyshare(s, &[1, 2, 3], &target).unwrap())
        .collect();
    assert_eq!(hex::encode(*ecdh::combine(ks.iter()).unwrap()), EXPECTED);
}

#[test]
fn result_is_the_nip44_shared_x_of_the_group_key() {
    let mut rng = StdRng::seed_from_u64(5);
    let nsec = SecretScalar::from_bytes(&[0x5a; 32]).unwrap();
    let ks = keyset::split("g", &nsec, 2, 3, &mut rng).unwrap();
    let peer = SecretScalar::from_bytes(&[0x33; 32]).unwrap();
    let peer_x: [u8; 32] = peer.public_key().as_affine().x().into();
    let mut round = EcdhRound::start(&ks.shares[2], &ks.group, &[1], &[peer_x]).unwrap();
    let resp = ecdh::respond(&ks.shares[0], &ks.group, 3, round.request()).unwrap();
    let out = round.accept(1, &resp).unwrap().unwrap();
    // Ordinary single-key ECDH from the peer's side against the group key.
    let group_point = igloo::frostr_v2::types::lift_x(&ks.group.group_pk).unwrap();
    let direct = (group_point.to_projective() * peer.scalar()).to_affine();
    let direct_x: [u8; 32] = direct.x().into();
    assert_eq!(*out[0].1, direct_x);
}

#[test]
fn responder_checks_sender_members_and_targets() {
    let (group, shares, target) = appendix_a();
    let req = ecdh::package(&shares[0], &[1, 2], &[target]).unwrap();
    assert!(ecdh::respond(&shares[1], &group, 1, &req).is_ok());
    assert_eq!(
        ecdh::respond(&shares[1], &group, 3, &req),
        Err(EcdhError::Sender)
    );
    // The responder is not in the member list.
    assert!(matches!(
        ecdh::respond(&shares[2], &group, 1, &req),
        Err(EcdhError::Members(_))
    ));
    let unsorted = EcdhPackage {
        members: vec![2, 1],
        ..req.clone()
    };
    assert!(matches!(
        ecdh::respond(&shares[1], &group, 1, &unsorted),
        Err(EcdhError::Members(_))
    ));
    let empty = EcdhPackage {
        entries: vec![],
        ..req.clone()
    };
    assert_eq!(
        ecdh::respond(&shares[1], &group, 1, &empty),
        Err(EcdhError::Targets)
    );
    let mut dup = req.clone();
    dup.entries.push(dup.entries[0].clone());
    assert_eq!(
        ecdh::respond(&shares[1], &group, 1, &dup),
        Err(EcdhError::Targets)
    );
    let mut bad_target = req.clone();
    bad_target.entries[0].ecdh_pk = [0xff; 32];
    assert_eq!(
        ecdh::respond(&shares[1], &group, 1, &bad_target),
        Err(EcdhError::Target)
    );
}

#[test]
fn requester_checks_responses() {
    let (group, shares, target) = appendix_a();
    let mut round = EcdhRound::start(&shares[0], &group, &[2], &[target]).unwrap();
    let good = ecdh::respond(&shares[1], &group, 1, round.request()).unwrap();
    assert_eq!(round.accept(3, &good).unwrap_err(), EcdhError::BadResponse);
    let other_members = EcdhPackage {
        members: vec![1, 2, 3],
        ..good.clone()
    };
    assert_eq!(
        round.accept(2, &other_members).unwrap_err(),
        EcdhError::BadResponse
    );
    let mut bad_point = good.clone();
    bad_point.entries[0].keyshare = [0x05; 33];
    assert_eq!(
        round.accept(2, &bad_point).unwrap_err(),
        EcdhError::Keyshare
    );
    assert!(round.accept(2, &good).unwrap().is_some());
    assert_eq!(round.accept(2, &good).unwrap_err(), EcdhError::BadResponse);
}
