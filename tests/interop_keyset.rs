//! Interop with the real JavaScript libraries (`@frostr/bifrost` 1.0.7, `@frostr/igloo-core`
//! 0.2.4, pinned in tests/interop/package-lock.json): they must accept the keysets igloo deals,
//! recover the same nsec and compute the same threshold ECDH; igloo must accept theirs.
//!
//! Needs `node` and `npm ci --prefix tests/interop` (scripts/test runs it).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use igloo::frostr::credentials::{
    self, check_share_in_group, decode_group, decode_share, encode_group, encode_share,
};
use igloo::frostr::types::{SecretScalar, compressed};
use igloo::frostr::{ecdh, keyset, nip19, recovery};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngCore, SeedableRng};
use serde_json::{Value, json};

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("interop")
}

fn node(args: &[&str], stdin: Option<&str>) -> Value {
    let dir = interop_dir();
    assert!(
        dir.join("node_modules/@frostr/bifrost").is_dir()
            && dir.join("node_modules/@frostr/igloo-core").is_dir(),
        "the JavaScript libraries are not installed: run `npm ci --prefix tests/interop` first"
    );
    let mut child = Command::new("node")
        .arg("check-keyset.mjs")
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run `node` ({e}); install Node.js 20 to run the interop tests")
        });
    {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        if let Some(text) = stdin {
            pipe.write_all(text.as_bytes()).expect("write to node");
        }
    }
    let out = child.wait_with_output().expect("node output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "node printed no JSON result.\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(result["ok"], true, "JavaScript check failed: {result}");
    result
}

#[test]
fn js_libraries_accept_igloo_keysets() {
    let mut rng = StdRng::seed_from_u64(0x1f1f_2026);
    for (t, n) in [(1u32, 1u32), (2, 3), (3, 5), (4, 7), (2, 11)] {
        let mut a0 = [0u8; 32];
        rng.fill_bytes(&mut a0);
        let secret = SecretScalar::from_bytes_reduced(&a0).expect("non-zero secret");
        let ks = keyset::generate(&mut rng, t, n, Some(&secret)).expect("keyset");
        let group = encode_group(&ks.group);
        let shares: Vec<String> = ks
            .shares
            .iter()
            .map(|s| encode_share(s).to_string())
            .collect();

        // ECDH over a random t-member set, in group commit order as a JS requester builds it.
        let mut members: Vec<u32> = (1..=n).collect();
        members.shuffle(&mut rng);
        members.truncate(t as usize);
        members.sort_unstable();
        let mut peer = [0u8; 32];
        rng.fill_bytes(&mut peer);
        let peer_pk = SecretScalar::from_bytes_reduced(&peer)
            .expect("peer")
            .public_key();
        let ecdh_pk = hex::encode(&compressed(&peer_pk)[1..]);
        let point = ecdh::parse_ecdh_pk(&compressed(&peer_pk)[1..]).expect("point");
        let parts: Vec<_> = members
            .iter()
            .map(|i| ecdh::keyshare(&ks.shares[*i as usize - 1], &members, &point).expect("share"))
            .collect();
        let combined = hex::encode(compressed(&ecdh::combine(&parts).expect("combine")));

        let input = json!({
            "group": group,
            "shares": shares,
            "nsec": nip19::encode_nsec(&secret).as_str(),
            "group_id": hex::encode(credentials::group_id(&ks.group)),
            "ecdh": { "ecdh_pk": ecdh_pk, "members": members, "combined": combined },
        });
        let r = node(&["check"], Some(&input.to_string()));
        assert!(r["checks"].as_u64().unwrap_or(0) >= 8, "{t}-of-{n}: {r}");
    }
}

#[test]
fn igloo_accepts_igloo_core_keysets() {
    let mut rng = StdRng::seed_from_u64(7);
    for (t, n) in [(2u32, 3u32), (3, 6)] {
        let mut a0 = [0u8; 32];
        rng.fill_bytes(&mut a0);
        let secret = SecretScalar::from_bytes_reduced(&a0).expect("secret");
        let secret_hex = hex::encode(secret.to_bytes().as_ref());
        let r = node(
            &["generate", &t.to_string(), &n.to_string(), &secret_hex],
            None,
        );
        let group_str = r["group"].as_str().expect("group");
        let group = decode_group(group_str).expect("igloo decodes igloo-core's group");
        assert_eq!(encode_group(&group), group_str);
        assert_eq!(group.threshold, t);
        assert_eq!(group.group_pk, secret.public_key());
        let shares: Vec<_> = r["shares"]
            .as_array()
            .expect("shares")
            .iter()
            .map(|s| {
                let text = s.as_str().expect("share string");
                let share = decode_share(text).expect("igloo decodes igloo-core's share");
                assert_eq!(encode_share(&share).as_str(), text);
                check_share_in_group(&share, &group).expect("member");
                share
            })
            .collect();
        assert_eq!(shares.len(), n as usize);
        let recovered = recovery::recover_secret(&group, &shares[..t as usize]).expect("recover");
        assert_eq!(recovered, secret);
    }
}
