//! V2 keysets: split of an nsec keeps the x-only npub (odd-y secrets negated), and the
//! migration core: t v1 shares → V2 keyset whose signatures verify under the v1 group key.

use igloo::frostr::SecretScalar;
use igloo::frostr_v2::keyset::{self, KeysetError};
use igloo::frostr_v2::nonces::PeerPool;
use igloo::frostr_v2::sign::{self, SignRound, SignerKey};
use k256::elliptic_curve::point::AffineCoordinates;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn xonly(s: &SecretScalar) -> [u8; 32] {
    s.public_key().as_affine().x().into()
}

/// One 2-party signature between shares `a` and `b` of `ks`, through the pools.
fn sign_with(ks: &keyset::Keyset, a: usize, b: usize, msg: [u8; 32], rng: &mut StdRng) -> [u8; 64] {
    let ka = SignerKey::new(&ks.group, &ks.shares[a]).unwrap();
    let kb = SignerKey::new(&ks.group, &ks.shares[b]).unwrap();
    let (mut a_for_b, mut b_for_a) = (PeerPool::new(), PeerPool::new());
    let adv = b_for_a.advertise(kb.signing_share(), rng);
    a_for_b.apply_remote(&adv, None).unwrap();
    let mut round = SignRound::start(
        &ka,
        vec![(kb.idx(), a_for_b.take_incoming(1).unwrap())],
        vec![msg],
        1,
        rng,
    )
    .unwrap();
    let s = round.request().clone();
    let codes = sign::validate_request(&kb, ka.idx(), &s).unwrap();
    let spent = b_for_a.spend(&codes).unwrap();
    let r = sign::respond(&kb, &s, spent).unwrap();
    round.accept(kb.idx(), &r).unwrap().unwrap()[0]
}

fn verify(xonly_pk: &[u8; 32], msg: &[u8; 32], sig: &[u8; 64]) {
    let vk = k256::schnorr::VerifyingKey::from_bytes(xonly_pk).unwrap();
    vk.verify_raw(msg, &k256::schnorr::Signature::try_from(&sig[..]).unwrap())
        .unwrap();
}

#[test]
fn split_keeps_the_npub_for_even_and_odd_secrets() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut parities = [false, false];
    for seed in 1u8..=12 {
        let nsec = SecretScalar::from_bytes(&[seed; 32]).unwrap();
        let odd = igloo::frostr_v2::types::compress(&nsec.public_key())[0] == 3;
        parities[usize::from(odd)] = true;
        let ks = keyset::split("g", &nsec, 2, 3, &mut rng).unwrap();
        assert_eq!(ks.group.group_pk, xonly(&nsec));
        ks.group.validate().unwrap();
        let sig = sign_with(&ks, 0, 2, [seed; 32], &mut rng);
        verify(&xonly(&nsec), &[seed; 32], &sig);
    }
    assert_eq!(parities, [true, true], "both parities exercised");
}

#[test]
fn v1_keyset_migrates_to_v2_with_the_same_npub() {
    let mut rng = StdRng::seed_from_u64(2);
    let v1 = igloo::frostr::keyset::generate(&mut rng, 2, 3, None).unwrap();
    let v1_x: [u8; 32] = v1.group.group_pk.as_affine().x().into();
    let v2 =
        keyset::from_v1_shares("migrated", &v1.group, &v1.shares[1..3], 3, 5, &mut rng).unwrap();
    assert_eq!(v2.group.group_pk, v1_x);
    assert_eq!((v2.group.threshold, v2.group.members.len()), (3, 5));
    // A V2 signature (3-of-5 needs two peers; use a three-member round) verifies under v1's key.
    let k: Vec<SignerKey> = v2
        .shares
        .iter()
        .map(|s| SignerKey::new(&v2.group, s).unwrap())
        .collect();
    let mut pools: Vec<PeerPool> = (0..2).map(|_| PeerPool::new()).collect();
    let mut mine: Vec<PeerPool> = (0..2).map(|_| PeerPool::new()).collect();
    let mut peers = Vec::new();
    for (j, peer) in [1usize, 4].iter().enumerate() {
        let adv = pools[j].advertise(k[*peer].signing_share(), &mut rng);
        mine[j].apply_remote(&adv, None).unwrap();
        peers.push((k[*peer].idx(), mine[j].take_incoming(1).unwrap()));
    }
    let msg = [0x77; 32];
    let mut round = SignRound::start(&k[0], peers, vec![msg], 9, &mut rng).unwrap();
    let s = round.request().clone();
    let mut sig = None;
    for (j, peer) in [1usize, 4].iter().enumerate() {
        let codes = sign::validate_request(&k[*peer], k[0].idx(), &s).unwrap();
        let r = sign::respond(&k[*peer], &s, pools[j].spend(&codes).unwrap()).unwrap();
        sig = round.accept(k[*peer].idx(), &r).unwrap();
    }
    verify(&v1_x, &msg, &sig.unwrap()[0]);
    // Too few v1 shares is a clear error.
    assert!(matches!(
        keyset::from_v1_shares("m", &v1.group, &v1.shares[..1], 2, 3, &mut rng),
        Err(KeysetError::Recovery(_))
    ));
}

#[test]
fn bad_parameters_are_refused() {
    let mut rng = StdRng::seed_from_u64(3);
    let nsec = SecretScalar::from_bytes(&[9; 32]).unwrap();
    assert_eq!(
        keyset::split("g", &nsec, 0, 3, &mut rng).unwrap_err(),
        KeysetError::Params
    );
    assert_eq!(
        keyset::split("g", &nsec, 4, 3, &mut rng).unwrap_err(),
        KeysetError::Params
    );
    assert_eq!(
        keyset::split("g", &nsec, 2, 256, &mut rng).unwrap_err(),
        KeysetError::Params
    );
    assert_eq!(
        keyset::split("", &nsec, 2, 3, &mut rng).unwrap_err(),
        KeysetError::Name
    );
}

/// A peer that restarted refuses the codes it advertised before and advertises fresh ones:
/// the pool must then sign with the fresh nonces, even when it was full of stale ones.
#[test]
fn after_a_peer_restarts_its_fresh_nonces_are_used() {
    let mut rng = StdRng::seed_from_u64(7);
    let nsec = SecretScalar::from_bytes(&[9; 32]).unwrap();
    let ks = keyset::split("g", &nsec, 2, 3, &mut rng).unwrap();
    let kb = SignerKey::new(&ks.group, &ks.shares[1]).unwrap();
    let mut a_for_b = PeerPool::new();
    let mut b_for_a = PeerPool::new();
    let stale = b_for_a.advertise(kb.signing_share(), &mut rng);
    a_for_b.apply_remote(&stale, None).unwrap();
    assert_eq!(a_for_b.incoming_len(), stale.len());
    // B restarts: its pool is new, and it advertises fresh nonces.
    let mut b_restarted = PeerPool::new();
    let fresh = b_restarted.advertise(kb.signing_share(), &mut rng);
    assert!(!fresh.is_empty());
    a_for_b.apply_remote(&fresh, None).unwrap();
    assert!(a_for_b.incoming_len() <= igloo::frostr_v2::nonces::POOL_SIZE);
    for _ in 0..fresh.len() {
        let taken = a_for_b.take_incoming(1).unwrap();
        b_restarted
            .spend(&[taken[0].code])
            .expect("every nonce used after the restart is one the peer still has");
    }
}

/// A ping the peer prepared before our sign request reached it may advertise a nonce we just
/// used: the pool must not take it again (the peer has spent it and would refuse).
#[test]
fn a_used_nonce_advertised_again_is_not_taken_again() {
    let mut rng = StdRng::seed_from_u64(8);
    let nsec = SecretScalar::from_bytes(&[5; 32]).unwrap();
    let ks = keyset::split("g", &nsec, 2, 3, &mut rng).unwrap();
    let kb = SignerKey::new(&ks.group, &ks.shares[1]).unwrap();
    let (mut a_for_b, mut b_for_a) = (PeerPool::new(), PeerPool::new());
    let adv = b_for_a.advertise(kb.signing_share(), &mut rng);
    a_for_b.apply_remote(&adv, None).unwrap();
    let before = a_for_b.incoming_len();
    let used = a_for_b.take_incoming(1).unwrap();
    // The crossing ping re-advertises everything, the used code included.
    a_for_b.apply_remote(&adv, None).unwrap();
    assert_eq!(a_for_b.incoming_len(), before - 1);
    assert!(!a_for_b.held_incoming_codes().contains(&used[0].code));
    // Nonces dropped as stale (a timeout) are not "used": re-advertised, they are taken back.
    assert_eq!(a_for_b.drop_incoming(), before - 1);
    a_for_b.apply_remote(&adv, None).unwrap();
    assert_eq!(a_for_b.incoming_len(), before - 1);
}
