//! `/api/recover` and `/api/recover/validate` through the daemon's HTTP API.

mod common;

use common::{TestServer, client};
use igloo::frostr::SecretScalar;
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::generate;
use igloo::frostr::nip19::encode_nsec;
use serde_json::{Value, json};

async fn post(server: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let (code, v, _) = common::call(
        server,
        reqwest::Method::POST,
        path,
        None,
        Some(body.clone()),
    )
    .await;
    (code, v)
}

#[tokio::test]
async fn recovers_the_nsec_from_threshold_shares() {
    let server = TestServer::start(&["--rate-limit-enabled", "false"]);
    let secret = SecretScalar::from_bytes(&rand::random()).expect("secret");
    let ks = generate(&mut rand::thread_rng(), 3, 5, Some(&secret)).expect("keyset");
    let group = encode_group(&ks.group);
    let share = |i: usize| encode_share(&ks.shares[i]).to_string();
    let nsec = encode_nsec(&secret).to_string();

    // Shares 5, 2, 4 (out of order), plus a garbled one that is reported, not fatal.
    let (s, b) = post(
        &server,
        "/api/recover",
        &json!({"groupCredential": group, "shareCredentials": [share(4), "bfshare1garbage", share(1), share(3)]}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["success"], json!(true));
    assert_eq!(b["nsec"], json!(nsec));
    assert_eq!(b["details"]["sharesUsed"], json!(3));
    assert_eq!(b["details"]["thresholdRequired"], json!(3));
    assert_eq!(b["details"]["invalidShares"][0]["index"], json!(1));

    // Without invalid shares the field is absent.
    let (s, b) = post(
        &server,
        "/api/recover",
        &json!({"groupCredential": group, "shareCredentials": [share(0), share(1), share(2), share(3), share(4)]}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["nsec"], json!(nsec));
    assert!(b["details"].get("invalidShares").is_none(), "{b}");

    // Too few: a duplicate does not count twice.
    let (s, b) = post(
        &server,
        "/api/recover",
        &json!({"groupCredential": group, "shareCredentials": [share(0), share(1), share(1)]}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["success"], json!(false));
    assert_eq!(b["details"]["provided"], json!(2));
    assert_eq!(b["details"]["required"], json!(3));
    assert!(
        b["details"]["invalidShares"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("more than once")),
        "{b}"
    );
    assert!(b.get("nsec").is_none());

    // Shares of another group are invalid for this one.
    let other = generate(&mut rand::thread_rng(), 2, 3, None).expect("other");
    let (s, b) = post(
        &server,
        "/api/recover",
        &json!({"groupCredential": group, "shareCredentials": [encode_share(&other.shares[0]).as_str()]}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"], json!("No valid share credentials provided"));
    assert!(
        b["details"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("does not belong"))
    );

    // Bad group, missing fields, bad JSON.
    let (s, b) = post(
        &server,
        "/api/recover",
        &json!({"groupCredential": "bfgroup1xyz", "shareCredentials": [share(0)]}),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        b["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("Invalid group credential"))
    );
    let (s, _) = post(&server, "/api/recover", &json!({"groupCredential": group})).await;
    assert_eq!(s, 400);
    let r = client()
        .post(server.url("/api/recover"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 400);
    let r = client()
        .post(server.url("/api/recover"))
        .body(vec![b' '; 65 * 1024])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 413);
}

#[tokio::test]
async fn validates_single_credentials() {
    let server = TestServer::start(&["--rate-limit-enabled", "false"]);
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let (s, b) = post(
        &server,
        "/api/recover/validate",
        &json!({"type": "group", "credential": encode_group(&ks.group)}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        b,
        json!({"success": true, "validation": {"isValid": true}, "decoded": {"threshold": 2, "totalShares": 3}})
    );
    let (s, b) = post(
        &server,
        "/api/recover/validate",
        &json!({"type": "share", "credential": encode_share(&ks.shares[2]).as_str()}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        b,
        json!({"success": true, "validation": {"isValid": true}, "decoded": {"idx": 3}})
    );
    // A group credential is not a share.
    let (s, b) = post(
        &server,
        "/api/recover/validate",
        &json!({"type": "share", "credential": encode_group(&ks.group)}),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["validation"]["isValid"], json!(false));
    assert!(
        b["validation"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(b["decoded"], Value::Null);
    let (s, _) = post(
        &server,
        "/api/recover/validate",
        &json!({"type": "nsec", "credential": "x"}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = post(&server, "/api/recover/validate", &json!({"type": "group"})).await;
    assert_eq!(s, 400);
}
