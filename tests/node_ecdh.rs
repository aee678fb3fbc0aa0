//! Threshold ECDH between two in-process nodes over a daemon's built-in relay: the combined
//! point equals group_secret·P, computed independently from the dealt secret.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use igloo::frostr::SecretScalar;
use igloo::frostr::keyset::generate;
use igloo::frostr::types::x_only;
use igloo::node::{self, NodeError, Policy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_compute_the_group_ecdh_secret() {
    let secret = SecretScalar::from_bytes(&rand::random()).expect("secret");
    let ks = generate(&mut rand::thread_rng(), 2, 3, Some(&secret)).expect("keyset");
    let relay = TestServer::start(&[]);
    let url = vec![format!("ws://{}", relay.addr)];
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut shares = ks.shares.into_iter();
    let s1 = shares.next().expect("share 1");
    let s2 = shares.next().expect("share 2");
    let b_x = x_only(&s2.public_key());
    let timeout = Duration::from_secs(5);
    let a = node::start_with(ks.group.clone(), s1, url.clone(), timeout, stop_rx.clone())
        .expect("node a");
    let b = node::start_with(ks.group.clone(), s2, url, timeout, stop_rx).expect("node b");

    // Wait until both are subscribed: a ping from A to B succeeds.
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.ping(&b_x, Duration::from_millis(500)).await.is_err() {
        assert!(Instant::now() < deadline, "B never answered a ping");
    }
    assert!(
        a.peers()
            .iter()
            .any(|p| p.xonly == b_x && p.latency_ms.is_some())
    );

    let other = SecretScalar::from_bytes(&rand::random()).expect("other key");
    let target = other.public_key();
    let combined = a.ecdh(&target).await.expect("ecdh");
    let expected =
        k256::PublicKey::from_affine((target.to_projective() * secret.scalar()).to_affine())
            .expect("point");
    assert_eq!(combined, expected);

    // With B's receive policy closed, A's request goes unanswered and times out. A picks
    // B (most recently seen) ahead of member 3, which is offline.
    let a_x = a.self_xonly();
    assert!(b.set_policy(
        &a_x,
        Policy {
            send: true,
            recv: false
        }
    ));
    match a.sign([7u8; 32]).await {
        Err(NodeError::Timeout(_)) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
}
