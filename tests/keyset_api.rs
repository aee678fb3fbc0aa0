//! `/api/keyset*` over real sockets: migrate v1 → V2 (database mode, admin session),
//! import V2 packages (headless, API key), auth, 400s, and no secrets in responses beyond
//! the packages asked for.

mod common;

use common::{TestServer, call};
use igloo::frostr::credentials::{decode_group, encode_group, encode_share};
use igloo::frostr::keyset::generate;
use igloo::frostr::nip19;
use igloo::frostr_v2::credentials::{KdfParams, Profile, decode_onboard, encode_profile};
use igloo::keyset::migrate::MigrateOptions;
use igloo::keyset::{MigrationInput, migrate};
use reqwest::Method;
use serde_json::json;

const ADMIN_SECRET: &str = "onboarding-secret-0123";
const ADMIN_PASS: &str = "Gl4cier!Pw";
const PKG_PW: &str = "package password 1";
const API_KEY: &str = "headless-key-123";

fn db_args() -> Vec<&'static str> {
    vec![
        "--auth-enabled",
        "true",
        "--admin-secret",
        ADMIN_SECRET,
        "--rate-limit-enabled",
        "false",
        "--relays",
        "ws://127.0.0.1:9",
    ]
}

async fn admin_session(srv: &TestServer) -> String {
    common::onboard_admin(srv, ADMIN_SECRET, ADMIN_PASS).await
}

async fn login(srv: &TestServer) -> String {
    common::login_as(srv, "admin", ADMIN_PASS).await
}

async fn login_as(srv: &TestServer, user: &str) -> String {
    common::login_as(srv, user, ADMIN_PASS).await
}

#[tokio::test]
async fn migrate_in_database_mode_switches_to_v2_and_survives_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let srv = TestServer::start_in(dir.clone(), &db_args());
    let sid = admin_session(&srv).await;
    let me = Some(("x-session-id", sid.as_str()));
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).unwrap();
    let group = encode_group(&ks.group);
    let shares: Vec<String> = ks
        .shares
        .iter()
        .map(|s| encode_share(s).to_string())
        .collect();
    let npub = nip19::encode_npub(&decode_group(&group).unwrap().pubkey_x_only());

    // Without authentication: 401 everywhere.
    for (m, p) in [
        (Method::GET, "/api/keyset"),
        (Method::POST, "/api/keyset/migrate"),
        (Method::POST, "/api/keyset/import"),
        (Method::DELETE, "/api/keyset"),
    ] {
        let (code, b, _) = call(&srv, m, p, None, Some(json!({}))).await;
        assert_eq!(code, 401, "{p}: {b}");
    }
    let (code, b, _) = call(&srv, Method::GET, "/api/keyset", me, None).await;
    assert_eq!((code, b["protocol"].as_str()), (200, Some("none")), "{b}");
    // A user who is not an admin may not migrate or read the keyset.
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/admin/users",
        me,
        Some(json!({"username": "guest", "password": ADMIN_PASS})),
    )
    .await;
    assert_eq!(code, 201, "{b}");
    let guest = login_as(&srv, "guest").await;
    for (m, p) in [
        (Method::GET, "/api/keyset"),
        (Method::POST, "/api/keyset/migrate"),
    ] {
        let (code, b, _) = call(&srv, m, p, Some(("x-session-id", &guest)), Some(json!({}))).await;
        assert_eq!(code, 403, "{p}: {b}");
    }

    // v1 credentials configured → protocol v1, node running.
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/user/credentials",
        me,
        Some(json!({"group_cred": group, "share_cred": shares[0]})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    let (_, b, _) = call(&srv, Method::GET, "/api/keyset", me, None).await;
    assert_eq!(b["protocol"], "v1", "{b}");
    assert_eq!(b["v1Configured"], true);
    assert_eq!(b["nodeActive"], true);

    // 400s: no source, both sources, too few shares, weak password, bad relay, bad JSON.
    let bad = [
        (json!({"password": PKG_PW}), "INVALID_REQUEST"),
        (
            json!({"group": group, "shares": [shares[0]], "nsec": "nsec1x", "password": PKG_PW}),
            "INVALID_REQUEST",
        ),
        (
            json!({"group": group, "shares": [shares[0]], "password": PKG_PW}),
            "INVALID_CREDENTIALS",
        ),
        (
            json!({"group": group, "shares": [shares[0], shares[0]], "password": PKG_PW}),
            "INVALID_CREDENTIALS",
        ),
        (
            json!({"group": group, "shares": [shares[0], shares[1]], "password": "short"}),
            "WEAK_PASSWORD",
        ),
        (
            json!({"group": group, "shares": [shares[0], shares[1]], "password": PKG_PW, "relays": ["http://x"]}),
            "INVALID_RELAYS",
        ),
        (json!({"shares": "not a list"}), "INVALID_REQUEST"),
    ];
    for (body, want) in bad {
        let (code, b, text) = call(&srv, Method::POST, "/api/keyset/migrate", me, Some(body)).await;
        assert_eq!((code, b["code"].as_str()), (400, Some(want)), "{b}");
        assert!(!text.contains(&shares[0]), "no share echoed back");
    }
    let (_, b, _) = call(&srv, Method::GET, "/api/keyset", me, None).await;
    assert_eq!(b["protocol"], "v1", "failed migrations change nothing: {b}");

    // The migration.
    let (code, b, text) = call(
        &srv,
        Method::POST,
        "/api/keyset/migrate",
        me,
        // Its own relay list, unlike the RELAYS setting: the node and its packages use it.
        Some(
            json!({"group": group, "shares": [shares[2], shares[1]], "password": PKG_PW,
                    "relays": ["ws://127.0.0.1:11"]}),
        ),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["npub"], npub.as_str());
    assert_eq!(b["protocol"], "v2");
    assert_eq!(
        (b["idx"].as_u64(), b["threshold"].as_u64()),
        (Some(1), Some(2))
    );
    assert!(b["warning"].as_str().unwrap().contains("v1 shares"));
    assert_eq!(b["nodeActive"], true, "the V2 node runs instead of v1: {b}");
    let (_, st, _) = call(&srv, Method::GET, "/api/status", me, None).await;
    assert_eq!(st["protocol"], "v2", "{st}");
    assert_eq!(
        st["relays"],
        json!(["ws://127.0.0.1:11"]),
        "status shows the relays the node uses, not the RELAYS setting: {st}"
    );
    let onboard = b["onboard"].as_array().unwrap();
    assert_eq!(onboard.len(), 2);
    for s in &shares {
        assert!(
            !text.contains(s.as_str()),
            "v1 shares never in the response"
        );
    }
    assert!(!text.contains(PKG_PW), "password never in the response");
    // The packages open with the password and name this node as the provisioning peer.
    let gp: igloo::frostr_v2::GroupPackage =
        serde_json::from_value(b["groupPackage"].clone()).unwrap();
    let me1 = gp.member(1).unwrap().peer_id();
    let mut v2_secrets = Vec::new();
    for o in onboard {
        let p = decode_onboard(o["bfonboard"].as_str().unwrap(), PKG_PW).unwrap();
        assert_eq!(p.peer_pk, me1);
        assert_eq!(p.relays, vec!["ws://127.0.0.1:11".to_string()]);
        let s = igloo::frostr_v2::ShareSecret::locate(p.share_secret, &gp).unwrap();
        assert_eq!(Some(s.idx), o["idx"].as_u64().map(|i| i as u16));
        v2_secrets.push(hex::encode(s.secret.to_bytes().as_slice()));
    }
    let (code, b, text) = call(&srv, Method::GET, "/api/keyset", me, None).await;
    assert_eq!(code, 200);
    assert_eq!(b["protocol"], "v2", "{b}");
    assert_eq!(b["v2"]["npub"], npub.as_str());
    assert_eq!(b["v2"]["complete"], true);
    assert_eq!(b["v2"]["source"], "migrate");
    assert_eq!(b["v2"]["idx"], 1);
    for s in &v2_secrets {
        assert!(!text.contains(s.as_str()));
    }
    drop(srv);

    // After a restart the V2 node runs again and v1 stays off.
    let srv = TestServer::start_in(dir, &db_args());
    let sid = login(&srv).await;
    let me = Some(("x-session-id", sid.as_str()));
    let (_, b, _) = call(&srv, Method::GET, "/api/keyset", me, None).await;
    assert_eq!(
        (b["protocol"].as_str(), b["nodeActive"].as_bool()),
        (Some("v2"), Some(true)),
        "{b}"
    );
    let (_, st, _) = call(&srv, Method::GET, "/api/status", me, None).await;
    assert_eq!(st["protocol"], "v2", "{st}");
    // Removing the V2 credentials goes back to v1.
    let (code, b, _) = call(&srv, Method::DELETE, "/api/keyset", me, None).await;
    assert_eq!((code, b["removed"].as_bool()), (200, Some(true)), "{b}");
    let (_, b, _) = call(&srv, Method::GET, "/api/keyset", me, None).await;
    assert_eq!(
        (b["protocol"].as_str(), b["nodeActive"].as_bool()),
        (Some("v1"), Some(true)),
        "{b}"
    );
    let (_, st, _) = call(&srv, Method::GET, "/api/status", me, None).await;
    assert_eq!(st["protocol"], "v1", "{st}");
}

#[tokio::test]
async fn import_in_headless_mode_with_the_api_key() {
    let srv = TestServer::start_auth(&[
        "--headless",
        "true",
        "--api-key",
        API_KEY,
        "--rate-limit-enabled",
        "false",
        "--relays",
        "ws://127.0.0.1:9",
    ]);
    let key = Some(("x-api-key", API_KEY));
    // Packages made by the library with the cheapest allowed cost (fast tests).
    let mut rng = rand::thread_rng();
    let v1 = generate(&mut rng, 2, 3, None).unwrap();
    let nsec = nip19::encode_nsec(&{
        let g = &v1;
        igloo::frostr::recovery::recover_secret(&g.group, &g.shares).unwrap()
    });
    let opts = MigrateOptions {
        threshold: None,
        members: None,
        name: "home".into(),
        relays: vec!["ws://127.0.0.1:9".into()],
        kdf: KdfParams::FLOOR,
    };
    let m = migrate(MigrationInput::Nsec(&nsec), &opts, PKG_PW, &mut rng).unwrap();
    let onboard = m.onboard[0].bfonboard.to_string();

    let (code, _, _) = call(
        &srv,
        Method::POST,
        "/api/keyset/import",
        Some(("x-api-key", "wrong")),
        Some(json!({"bfonboard": onboard, "password": PKG_PW})),
    )
    .await;
    assert_eq!(code, 401);
    let bad = [
        (
            json!({"bfonboard": onboard, "password": "wrong password"}),
            "DECRYPT_FAILED",
        ),
        (json!({"password": PKG_PW}), "INVALID_REQUEST"),
        (
            json!({"bfonboard": onboard, "bfshare": onboard, "password": PKG_PW}),
            "INVALID_REQUEST",
        ),
        (
            json!({"package": "npub1abc", "password": PKG_PW}),
            "INVALID_PACKAGE",
        ),
        (
            json!({"package": encode_share(&v1.shares[0]).to_string(), "password": PKG_PW}),
            "INVALID_PACKAGE",
        ),
        (
            json!({"bfonboard": onboard, "password": PKG_PW, "group": {"group_name": "x"}}),
            "INVALID_PACKAGE",
        ),
    ];
    for (body, want) in bad {
        let (code, b, _) = call(&srv, Method::POST, "/api/keyset/import", key, Some(body)).await;
        assert_eq!((code, b["code"].as_str()), (400, Some(want)), "{b}");
    }

    // A bfonboard alone: stored, waiting for the onboard response.
    let (code, b, text) = call(
        &srv,
        Method::POST,
        "/api/keyset/import",
        key,
        Some(json!({"bfonboard": onboard, "password": PKG_PW})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["credentials"]["pendingOnboard"], true);
    assert_eq!(b["credentials"]["complete"], false);
    assert_eq!(b["credentials"]["peerPk"], hex::encode(m.own.peer_id()));
    assert!(!text.contains(&onboard) && !text.contains(PKG_PW));
    let (_, b, _) = call(&srv, Method::GET, "/api/keyset", key, None).await;
    assert_eq!(b["protocol"], "v2", "{b}");
    assert_eq!(b["v2"]["source"], "bfonboard");

    // With the group package it is complete, as member 2.
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/keyset/import",
        key,
        Some(json!({"package": onboard, "password": PKG_PW, "group": m.group.to_json()})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["credentials"]["complete"], true);
    assert_eq!(b["credentials"]["idx"], m.onboard[0].idx);
    assert_eq!(b["credentials"]["npub"], m.npub.as_str());

    // A bfprofile carries everything.
    let profile = Profile {
        name: "laptop".into(),
        share_secret: m.own.secret.clone(),
        relays: vec!["ws://127.0.0.1:9".into()],
        policy_overrides: vec![],
        group: m.group.clone(),
    };
    let pkg = encode_profile(&profile, PKG_PW, KdfParams::FLOOR, &mut rng).unwrap();
    let (code, b, _) = call(
        &srv,
        Method::POST,
        "/api/keyset/import",
        key,
        Some(json!({"bfprofile": pkg.as_str(), "password": PKG_PW})),
    )
    .await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["credentials"]["source"], "bfprofile");
    assert_eq!(b["credentials"]["idx"], 1);
    let (_, b, text) = call(&srv, Method::GET, "/api/keyset", key, None).await;
    assert_eq!(
        (b["protocol"].as_str(), b["v2"]["complete"].as_bool()),
        (Some("v2"), Some(true))
    );
    assert!(!text.contains(&hex::encode(m.own.secret.to_bytes().as_slice())));

    let (code, _, _) = call(&srv, Method::DELETE, "/api/keyset", key, None).await;
    assert_eq!(code, 200);
    let (_, b, _) = call(&srv, Method::GET, "/api/keyset", key, None).await;
    assert_eq!(b["protocol"], "none", "{b}");
}
