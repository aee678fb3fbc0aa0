//! `igloo keyset migrate`, run as the built binary: JSON on stdout, errors on stderr.

use std::io::Write;
use std::process::{Command, Stdio};

use igloo::frostr::credentials::{decode_group, encode_group, encode_share};
use igloo::frostr::keyset::generate;
use igloo::frostr::nip19;
use igloo::frostr_v2::credentials::{decode_onboard, decode_profile};
use serde_json::Value;

const PW: &str = "cli package password";

fn igloo(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_igloo"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("igloo runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn migrate_prints_npub_packages_and_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let pwf = tmp.path().join("pw");
    std::fs::write(&pwf, format!("{PW}\n")).unwrap();
    let pwf = pwf.to_str().unwrap();
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let group = encode_group(&ks.group);
    let s1 = encode_share(&ks.shares[0]).to_string();
    let s3 = encode_share(&ks.shares[2]).to_string();
    let npub = nip19::encode_npub(&decode_group(&group).unwrap().pubkey_x_only());

    let (code, out, err) = igloo(
        &[
            "keyset",
            "migrate",
            "--group",
            &group,
            "--share",
            &s1,
            "--share",
            &s3,
            "--relay",
            "ws://127.0.0.1:9",
            "--password-file",
            pwf,
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["npub"], npub.as_str());
    assert_eq!(v["protocol"], "v2");
    assert!(v["warning"].as_str().unwrap().contains("v1 shares"));
    assert!(!out.contains(&s1) && !out.contains(PW));
    let gp: igloo::frostr_v2::GroupPackage =
        serde_json::from_value(v["group_package"].clone()).unwrap();
    // The password is the file's first line, without the newline.
    let own = decode_profile(v["own"]["bfprofile"].as_str().unwrap(), PW).unwrap();
    assert_eq!(own.group, gp);
    let me = igloo::frostr_v2::ShareSecret::locate(own.share_secret, &gp).unwrap();
    assert_eq!(me.idx, 1);
    let onboard = v["onboard"].as_array().unwrap();
    assert_eq!(onboard.len(), 2);
    for o in onboard {
        let p = decode_onboard(o["bfonboard"].as_str().unwrap(), PW).unwrap();
        assert_eq!(p.peer_pk, me.peer_id());
        assert_eq!(p.relays, vec!["ws://127.0.0.1:9".to_string()]);
    }

    // nsec on stdin, new shape.
    let secret = igloo::frostr::recovery::recover_secret(&ks.group, &ks.shares).unwrap();
    let nsec = nip19::encode_nsec(&secret);
    let (code, out, err) = igloo(
        &[
            "keyset",
            "migrate",
            "--nsec",
            "-",
            "--threshold",
            "2",
            "--members",
            "2",
            "--relay",
            "ws://127.0.0.1:9",
            "--password-file",
            pwf,
        ],
        &format!("{}\n", nsec.as_str()),
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["npub"], npub.as_str());
    assert_eq!(v["onboard"].as_array().unwrap().len(), 1);
    assert!(!out.contains(nsec.as_str()));
}

#[test]
fn migrate_errors_are_one_line_with_exit_code_2() {
    let tmp = tempfile::tempdir().unwrap();
    let pwf = tmp.path().join("pw");
    std::fs::write(&pwf, PW).unwrap();
    let pwf = pwf.to_str().unwrap();
    let missing = tmp.path().join("missing");
    let missing = missing.to_str().unwrap();
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let group = encode_group(&ks.group);
    let s1 = encode_share(&ks.shares[0]).to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--group",
                &group,
                "--share",
                &s1,
                "--relay",
                "ws://127.0.0.1:9",
                "--password-file",
                pwf,
            ],
            "not enough shares",
        ),
        (
            vec![
                "--group",
                &group,
                "--share",
                &s1,
                "--share",
                &s1,
                "--relay",
                "ws://127.0.0.1:9",
                "--password-file",
                pwf,
            ],
            "more than once",
        ),
        (
            vec![
                "--group",
                &group,
                "--relay",
                "ws://127.0.0.1:9",
                "--password-file",
                pwf,
            ],
            "--nsec",
        ),
        (
            vec![
                "--group",
                &group,
                "--share",
                &s1,
                "--relay",
                "ws://127.0.0.1:9",
                "--password-file",
                missing,
            ],
            "password file",
        ),
    ];
    for (args, want) in cases {
        let mut full = vec!["keyset", "migrate"];
        full.extend(args);
        let (code, out, err) = igloo(&full, "");
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty());
        assert!(err.contains(want), "{err}");
        assert!(!err.contains(&s1), "no share in the error");
    }
}
