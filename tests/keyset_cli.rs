//! `igloo keyset migrate`, run as the built binary: JSON on stdout, errors on stderr.

use std::io::Write;
use std::process::{Command, Stdio};

use igloo::frostr::credentials::{decode_group, encode_group, encode_share};
use igloo::frostr::keyset::generate;
use igloo::frostr::nip19;
use igloo::frostr_v2::credentials::{decode_onboard, decode_profile};
use serde_json::Value;

const PW: &str = "cli package password";

/// The binary in a scratch directory (no `.env`, no RELAYS from the test machine), `stdin` fed.
fn igloo(args: &[&str], stdin: &str) -> (i32, String, String) {
    igloo_env(args, stdin, &[])
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
            &group,
            "--relay",
            "ws://127.0.0.1:9",
            "--password-file",
            pwf,
        ],
        &format!("{s1}\n{s3}\n"),
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
    let relay = "ws://127.0.0.1:9";
    let one = format!("{s1}\n");
    let twice = format!("{s1}\n{s1}\n");
    let differ = format!("{s1}\n{PW}\n{PW}x\n");
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec![&group, "--relay", relay, "--password-file", pwf],
            &one,
            "not enough shares",
        ),
        (
            vec![&group, "--relay", relay, "--password-file", pwf],
            &twice,
            "more than once",
        ),
        (
            vec![&group, "--relay", relay, "--password-file", pwf],
            "",
            "--nsec",
        ),
        (
            vec![&group, "--relay", relay, "--password-file", missing],
            &one,
            "could not read",
        ),
        // A share on the command line is refused without repeating it.
        (
            vec![&group, &s1, "--relay", relay, "--password-file", pwf],
            "",
            "command line",
        ),
        // Password on stdin: the two entries must match.
        (vec![&group, "--relay", relay], &differ, "differ"),
        (vec![&group, "--relay", relay], &one, "no password"),
    ];
    for (args, stdin, want) in cases {
        let mut full = vec!["keyset", "migrate"];
        full.extend(args);
        let (code, out, err) = igloo(&full, stdin);
        assert_eq!(code, 2, "{err}");
        assert!(out.is_empty());
        assert!(err.contains(want), "{want}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(!err.contains(&s1), "no share in the error");
        assert!(!err.contains(PW), "no password in the error");
    }
}

fn igloo_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_igloo"))
        .args(args)
        .current_dir(dir.path())
        .env_remove("RELAYS")
        .envs(env.iter().copied())
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
fn secrets_on_the_command_line_are_refused_and_never_repeated() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let group = encode_group(&ks.group);
    let s1 = encode_share(&ks.shares[0]).to_string();
    let secret = igloo::frostr::recovery::recover_secret(&ks.group, &ks.shares).unwrap();
    let nsec = nip19::encode_nsec(&secret).to_string();
    let upper = s1.to_uppercase();
    let cases: Vec<Vec<&str>> = vec![
        vec!["keyset", "decode", &s1],
        vec!["keyset", "decode", &upper],
        vec!["keyset", "recover", &group, &s1],
        vec!["keyset", "recover", &group, "-", &s1],
        vec!["keyset", "verify", &group, &s1],
        vec!["keyset", "verify", &s1],
        vec!["keyset", "generate", "-t", "2", "-n", "3", "--nsec", &nsec],
        vec![
            "keyset",
            "migrate",
            "--nsec",
            &nsec,
            "--relay",
            "ws://127.0.0.1:9",
        ],
        vec![
            "keyset",
            "migrate",
            &group,
            &s1,
            "--relay",
            "ws://127.0.0.1:9",
        ],
        // clap's own errors quote the argument: unexpected arguments, bad values, unknown
        // subcommands.
        vec!["keyset", "generate", "-t", "2", "-n", "3", &s1],
        vec!["keyset", "generate", "-t", &s1, "-n", "3"],
        vec!["keyset", "decode", &group, &s1],
        vec!["keyset", "verify", &group, "--share", &s1],
        vec![&s1],
        vec!["keyset", &nsec],
        vec!["--host-port", &nsec],
    ];
    for args in cases {
        let (code, out, err) = igloo_env(&args, "", &[]);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(!err.is_empty());
        let lower = err.to_lowercase();
        for secret in [&s1, &nsec] {
            // Not even a tail of it.
            let tail = &secret[secret.len() - 20..];
            assert!(!lower.contains(tail), "{args:?} repeats a secret: {err}");
        }
    }
    // The refusal says what to do instead.
    let (_, _, err) = igloo_env(&["keyset", "recover", &group, &s1], "", &[]);
    assert!(err.contains("standard input"), "{err}");
    let (_, _, err) = igloo_env(
        &["keyset", "generate", "-t", "2", "-n", "3", "--nsec", &nsec],
        "",
        &[],
    );
    assert!(err.contains("--nsec-file"), "{err}");
}

#[test]
fn shares_nsecs_and_passwords_come_from_stdin_or_files() {
    let tmp = tempfile::tempdir().unwrap();
    let path = |n: &str| tmp.path().join(n).to_str().unwrap().to_owned();
    // Short flags, fresh secret.
    let (code, out, err) = igloo_env(&["keyset", "generate", "-t", "2", "-n", "3"], "", &[]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let group = v["group"].as_str().unwrap().to_owned();
    let shares: Vec<String> = v["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();

    // recover: shares on stdin (lines or spaces), or in files.
    let (code, out, err) = igloo_env(
        &["keyset", "recover", &group],
        &format!("{} {}\n", shares[2], shares[0]),
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let nsec = serde_json::from_str::<Value>(&out).unwrap()["nsec"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["npub"],
        v["npub"]
    );
    std::fs::write(path("s1"), format!("{}\n", shares[0])).unwrap();
    std::fs::write(path("s2"), &shares[1]).unwrap();
    let (code, out, err) = igloo_env(
        &[
            "keyset",
            "recover",
            &group,
            "--share-file",
            &path("s1"),
            "--share-file",
            &path("s2"),
        ],
        "",
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&nsec));

    // generate --nsec - / --nsec-file: the same npub.
    std::fs::write(path("nsec"), format!("{nsec}\n")).unwrap();
    for (args, stdin) in [
        (vec!["--nsec", "-"], format!("{nsec}\n")),
        (vec!["--nsec-file", &path("nsec")], String::new()),
    ] {
        let mut full = vec!["keyset", "generate", "-t", "2", "-n", "3"];
        full.extend(args.iter().copied());
        let (code, out, err) = igloo_env(&full, &stdin, &[]);
        assert_eq!(code, 0, "{err}");
        let g: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(g["npub"], v["npub"]);
        assert!(!out.contains(&nsec));
    }

    // verify and decode: the share on stdin (`-` or nothing) or in a file.
    for (args, stdin) in [
        (vec!["keyset", "verify", &group], shares[1].clone()),
        (vec!["keyset", "verify", &group, "-"], shares[1].clone()),
        (
            vec!["keyset", "verify", &group, "--share-file", &path("s2")],
            String::new(),
        ),
    ] {
        let (code, out, err) = igloo_env(&args, &stdin, &[]);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap()["belongs"],
            true
        );
    }
    for (args, stdin) in [
        (vec!["keyset", "decode"], shares[1].clone()),
        (vec!["keyset", "decode", "-"], shares[1].clone()),
        (
            vec!["keyset", "decode", "--file", &path("s2")],
            String::new(),
        ),
    ] {
        let (code, out, err) = igloo_env(&args, &stdin, &[]);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap()["type"],
            "share"
        );
        assert!(!out.contains(&shares[1]));
    }
    let (code, out, _) = igloo_env(&["keyset", "decode", &group], "", &[]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["type"],
        "group"
    );
}

#[test]
fn migrate_reads_the_password_twice_from_stdin_and_defaults_to_the_configured_relays() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let group = encode_group(&ks.group);
    let s1 = encode_share(&ks.shares[0]).to_string();
    let s2 = encode_share(&ks.shares[1]).to_string();
    let (code, out, err) = igloo_env(
        &["keyset", "migrate", &group],
        &format!("{s1}\n{s2}\n{PW}\n{PW}\n"),
        &[("RELAYS", "ws://127.0.0.1:7, ws://127.0.0.1:8")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains(PW) && !out.contains(PW));
    let v: Value = serde_json::from_str(&out).unwrap();
    let own = decode_profile(v["own"]["bfprofile"].as_str().unwrap(), PW).unwrap();
    assert_eq!(
        own.relays,
        vec![
            "ws://127.0.0.1:7".to_string(),
            "ws://127.0.0.1:8".to_string()
        ]
    );
    // --relay wins over RELAYS.
    let (code, out, err) = igloo_env(
        &["keyset", "migrate", &group, "--relay", "ws://127.0.0.1:9"],
        &format!("{s1}\n{s2}\n{PW}\n{PW}\n"),
        &[("RELAYS", "ws://127.0.0.1:7")],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let own = decode_profile(v["own"]["bfprofile"].as_str().unwrap(), PW).unwrap();
    assert_eq!(own.relays, vec!["ws://127.0.0.1:9".to_string()]);
}

#[test]
fn junk_input_and_foreign_shares_get_clear_messages() {
    for (input, want) in [
        ("hello world", "not one"),
        ("", "empty"),
        ("   ", "empty"),
        ("npub1xyz", "starts with \"npub1\""),
    ] {
        let (code, _, err) = igloo_env(&["keyset", "decode", "-"], input, &[]);
        assert_eq!(code, 2, "{input:?}");
        assert!(err.contains(want), "{input:?}: {err}");
        assert!(
            !err.contains("hello world1") && !err.contains("\"1\""),
            "{err}"
        );
    }
    // A share of another keyset with the same index as one of ours: it does not belong.
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let other = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let group = encode_group(&ks.group);
    let mine = encode_share(&ks.shares[0]).to_string();
    let foreign = encode_share(&other.shares[0]).to_string();
    for stdin in [
        format!("{mine}\n{foreign}\n"),
        format!("{foreign}\n{mine}\n"),
    ] {
        let (code, _, err) = igloo_env(&["keyset", "recover", &group], &stdin, &[]);
        assert_eq!(code, 2);
        assert!(err.contains("does not belong"), "{err}");
        assert!(!err.contains("more than once"), "{err}");
    }
    // The same share twice is still "more than once".
    let (code, _, err) = igloo_env(
        &["keyset", "recover", &group],
        &format!("{mine}\n{mine}\n"),
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("more than once"), "{err}");
}
