//! NIP-46 remote signer with real clients: nostr-tools 2.x `BunkerSigner`
//! (tests/interop/nip46-client.mjs) pairs with an igloo daemon holding share 1 of a 2-of-2
//! keyset, whose other member is a second in-process igloo daemon; all on a third daemon's
//! built-in relay on 127.0.0.1. Both pairing flows, approve, deny, reused secret, revoke,
//! garbage on kind 24133, and a restart (sessions and revocation survive; served with no API
//! call or login first).
//!
//! Needs `node` 20+ and `npm ci --prefix tests/interop`.

#[path = "common/cdp.rs"]
mod cdp;
mod common;
mod interop_common;
mod nip46_common;
mod relay_common;

use std::time::{Duration, Instant};

use common::{TestServer, call};
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::generate;
use igloo::nip46::transport::{Scheme, TransportKey, encrypt};
use interop_common::v2_node;
use nip46_common::{
    Js, api, approve_sign, check_signed, decide, decide_ok, pair_bunker, pending_for, ready,
    restart, signer_args, wait_transport_connected,
};
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nostr_tools_bunker_signer_both_flows_approvals_revoke_and_restart() {
    let (s, group, igloo) = ready().await;

    // The transport key is not the group key; the default relays are the node's.
    let t = api(&igloo, Method::GET, "/api/nip46/transport", None).await;
    let transport = t["pubkey"].as_str().expect("transport pubkey").to_owned();
    assert_ne!(transport, group);
    assert_eq!(t["relays"], json!([s.relay_url]));

    // ---- signer-initiated: bunker:// with a single-use secret ----
    let b = api(&igloo, Method::POST, "/api/nip46/bunker", None).await;
    let uri = b["uri"].as_str().expect("uri").to_owned();
    // An unused secret is what makes the idle signer listen.
    wait_transport_connected(&igloo).await;
    assert!(
        uri.starts_with(&format!("bunker://{transport}?relay=")),
        "{uri}"
    );
    let mut app1 = Js::start();
    let r = app1.cmd(json!({"op": "bunker", "uri": uri}));
    assert_eq!(r["ok"], json!(true), "{r}");
    let app1_sk = r["sk"].as_str().expect("sk").to_owned();
    let app1_pk = r["client"].as_str().expect("client").to_owned();
    let r = app1.cmd(json!({"op": "pubkey"}));
    assert_eq!(r["pubkey"], json!(group), "{r}");
    assert_eq!(app1.cmd(json!({"op": "ping"}))["pong"], json!(true));

    // A second app reusing the secret is refused.
    let mut app2 = Js::start();
    let r = app2.cmd(json!({"op": "bunker", "uri": uri}));
    assert!(
        r["error"]
            .as_str()
            .is_some_and(|e| e.contains("already used")),
        "{r}"
    );

    // No permission yet: sign_event waits for the owner. Approve.
    let id = app1.send(json!({"op": "sign", "kind": 1, "content": "approve me", "timeout": 30000}));
    approve_sign(&igloo, &app1_pk, 1, "approve me").await;
    check_signed(&app1.recv(id), &group);

    // Deny: the app gets a clear error.
    let id = app1.send(json!({"op": "sign", "kind": 1, "content": "deny me", "timeout": 30000}));
    let p = pending_for(&igloo, &app1_pk).await;
    decide_ok(&igloo, &p["id"], "deny").await;
    let r = app1.recv(id);
    assert!(
        r["error"].as_str().is_some_and(|e| e.contains("denied")),
        "{r}"
    );
    let (code, _) = decide(&igloo, &p["id"], "approve").await;
    assert_eq!(code, 404, "a decided request cannot be decided again");

    // Grant kind 1 and the ciphers: answered at once. NIP-44 / NIP-04 against nostr-tools.
    api(
        &igloo,
        Method::PUT,
        &format!("/api/nip46/sessions/{app1_pk}/policy"),
        Some(
            json!({"methods": {"sign_event": true, "nip44_encrypt": true, "nip44_decrypt": true,
            "nip04_encrypt": true, "nip04_decrypt": true}, "kinds": {"1": true}}),
        ),
    )
    .await;
    let r = app1.cmd(json!({"op": "sign", "kind": 1}));
    check_signed(&r, &group);
    let r = app1.cmd(json!({"op": "crypto"}));
    assert_eq!(r["p44"], json!("nip44 from igloo"), "{r}");
    assert_eq!(r["d44"], json!("nip44 to igloo"), "{r}");
    assert_eq!(r["p04"], json!("nip04 from igloo"), "{r}");
    assert_eq!(r["d04"], json!("nip04 to igloo"), "{r}");

    // ---- client-initiated: nostrconnect:// pasted into igloo ----
    let mut app3 = Js::start();
    let id = app3.send(json!({"op": "nostrconnect", "relays": [s.relay_url],
        "perms": ["sign_event:1"], "timeout": 20000}));
    let first = app3.recv(id);
    let nc = first["uri"].as_str().expect("nostrconnect uri").to_owned();
    let app3_pk = first["client"].as_str().expect("client").to_owned();
    let c = api(
        &igloo,
        Method::POST,
        "/api/nip46/connect",
        Some(json!({"uri": nc})),
    )
    .await;
    assert_eq!(c["session"]["pubkey"], json!(app3_pk));
    assert_eq!(c["session"]["profile"]["name"], json!("nip46 test app"));
    let r = app3.recv(id);
    assert_eq!(r["connected"], json!(true), "{r}");
    assert_eq!(r["signer"], json!(transport));
    let r = app3.cmd(json!({"op": "sign", "kind": 1, "content": "from nostrconnect"}));
    check_signed(&r, &group);
    // Kind 4 is outside its perms: queued with the kind shown.
    let id = app3.send(json!({"op": "sign", "kind": 4, "content": "dm?", "timeout": 30000}));
    let p = pending_for(&igloo, &app3_pk).await;
    assert_eq!(p["kind"], json!(4));
    decide_ok(&igloo, &p["id"], "approve").await;
    check_signed(&app3.recv(id), &group);

    // ---- garbage on kind 24133 never stops the service ----
    garbage(&s.relay_url, &transport).await;
    assert_eq!(app3.cmd(json!({"op": "ping"}))["pong"], json!(true));

    // ---- revoke: the app gets nothing, and nothing is queued ----
    api(
        &igloo,
        Method::DELETE,
        &format!("/api/nip46/sessions/{app1_pk}"),
        None,
    )
    .await;
    let r = app1.cmd(json!({"op": "sign", "kind": 1, "timeout": 2500}));
    assert_eq!(r["error"], json!("timeout"), "{r}");
    let r = app1.cmd(json!({"op": "ping", "timeout": 1500}));
    assert_eq!(r["error"], json!("timeout"), "{r}");
    let (code, v, _) = call(
        &igloo,
        Method::PUT,
        &format!("/api/nip46/sessions/{app1_pk}/status"),
        None,
        Some(json!({"status": "active"})),
    )
    .await;
    assert_eq!(code, 409, "revocation is final: {v}");
    let h = api(&igloo, Method::GET, "/api/nip46/history", None).await;
    let h1 = h["sessions"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["pubkey"] == json!(app1_pk)))
        .expect("history of app1")
        .clone();
    assert_eq!(h1["status"], json!("revoked"));
    assert!(
        h1["recent_kinds"]
            .as_array()
            .is_some_and(|k| k.contains(&json!(1))),
        "{h1}"
    );
    drop(app1);
    drop(app2);

    // ---- restart: sessions, permissions and revocation survive; no API call first ----
    let igloo = restart(&s, igloo).await;
    let r =
        app3.cmd(json!({"op": "sign", "kind": 1, "content": "after restart", "timeout": 30000}));
    check_signed(&r, &group);
    let mut back = Js::start();
    let r = back.cmd(json!({"op": "resume", "uri": uri, "sk": app1_sk}));
    assert_eq!(r["client"], json!(app1_pk));
    let r = back.cmd(json!({"op": "ping", "timeout": 2500}));
    assert_eq!(r["error"], json!("timeout"), "revoked stays revoked: {r}");
    let v = api(&igloo, Method::GET, "/api/nip46/sessions", None).await;
    let keys: Vec<&str> = v["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter_map(|x| x["pubkey"].as_str())
        .collect();
    assert_eq!(keys, vec![app3_pk.as_str()]);
    let v = api(
        &igloo,
        Method::GET,
        "/api/nip46/sessions?include_revoked=true",
        None,
    )
    .await;
    assert_eq!(v["sessions"].as_array().map(Vec::len), Some(2));
    drop(s.relay);
}

/// A request outside the app's permissions that nobody decides expires after
/// NIP46_APPROVAL_TIMEOUT (short here): nostr-tools gets a NIP-46 error reply saying so, the
/// request is listed as expired, the history records it, and approving it later is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecided_request_expires_and_the_app_is_told() {
    let ks = generate(&mut rand::thread_rng(), 2, 2, None).expect("keyset");
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let (group, share1) = (encode_group(&ks.group), encode_share(&ks.shares[0]));
    let mut args = signer_args(&group, &share1, &relay_url);
    args.extend(["--nip46-approval-timeout", "2000"]);
    let igloo = TestServer::start(&args);
    let (mut app, pk, _) = pair_bunker(&igloo).await;

    // Nothing granted: the signature waits for the owner, who never answers. The app's own
    // timeout is far longer, so the error it gets is igloo's reply.
    let id =
        app.send(json!({"op": "sign", "kind": 1, "content": "nobody decides", "timeout": 60000}));
    let p = pending_for(&igloo, &pk).await;
    let r = app.recv(id);
    assert!(
        r["error"].as_str().is_some_and(|e| e.contains("expired")),
        "the app is told the request expired: {r}"
    );
    assert!(r["event"].is_null(), "{r}");

    let v = api(
        &igloo,
        Method::GET,
        "/api/nip46/requests?status=expired",
        None,
    )
    .await;
    let e = v["requests"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == p["id"]))
        .unwrap_or_else(|| panic!("the request is listed as expired: {v}"));
    assert_eq!(e["status"], json!("expired"));
    assert_eq!(e["kind"], json!(1));
    let v = api(
        &igloo,
        Method::GET,
        "/api/nip46/requests?status=pending",
        None,
    )
    .await;
    assert_eq!(v["requests"], json!([]), "nothing is left pending: {v}");

    // The history is written off the request path: wait for the entry.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let h = api(&igloo, Method::GET, "/api/nip46/history", None).await;
        let expired = h["sessions"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["pubkey"] == json!(pk)))
            .and_then(|x| x["history"].as_array())
            .is_some_and(|h| {
                h.iter()
                    .any(|e| e["method"] == json!("sign_event") && e["outcome"] == json!("expired"))
            });
        if expired {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no expired entry in the history: {h}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Approving it now fails cleanly, naming why.
    let (code, v) = decide(&igloo, &p["id"], "approve").await;
    assert_eq!(code, 404, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("expired")),
        "{v}"
    );
    // The app is still served.
    assert_eq!(app.cmd(json!({"op": "ping"}))["pong"], json!(true));
}

/// The relay's view of one igloo: its open connections and subscriptions.
async fn relay_load(relay: &TestServer) -> (u64, u64) {
    let v = common::get_json(&relay.url("/api/status")).await;
    let r = &v["relay"];
    (
        r["connections"].as_u64().expect("connections"),
        r["subscriptions"].as_u64().expect("subscriptions"),
    )
}

async fn wait_relay_load(relay: &TestServer, want: (u64, u64), what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = relay_load(relay).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: relay has {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A fresh install opens no NIP-46 relay connection; a bunker:// URI or a session makes it
/// subscribe; revoking the last session (its secret used) makes it let go again. The
/// signer here has no node, so every connection the relay sees is the NIP-46 service's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signer_subscribes_only_while_an_app_is_paired_or_pairing() {
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let dir = tempfile::tempdir().expect("tempdir");
    let args = ["--relays", relay_url.as_str(), "--relay-enabled", "false"];
    let igloo = TestServer::start_in(dir.path().join("data"), &args);
    // The service is up and has made its transport key: it would have connected by now if it
    // were going to (the old behaviour connected at start).
    let t = api(&igloo, Method::GET, "/api/nip46/transport", None).await;
    assert!(t["pubkey"].is_string(), "{t}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        relay_load(&relay).await,
        (0, 0),
        "a fresh signer stays off the relays"
    );
    let t = api(&igloo, Method::GET, "/api/nip46/transport", None).await;
    assert_eq!(t["running"], json!(false), "{t}");

    // A bunker:// URI: it listens for the app.
    let uri = api(&igloo, Method::POST, "/api/nip46/bunker", None).await["uri"]
        .as_str()
        .expect("uri")
        .to_owned();
    wait_relay_load(&relay, (1, 1), "subscribed for the unused secret").await;
    wait_transport_connected(&igloo).await;
    let mut app = Js::start();
    let r = app.cmd(json!({"op": "bunker", "uri": uri}));
    let pk = r["client"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_owned();
    assert_eq!(app.cmd(json!({"op": "ping"}))["pong"], json!(true));
    drop(app);

    // The secret is used; revoking the only session leaves nobody to listen for.
    api(
        &igloo,
        Method::DELETE,
        &format!("/api/nip46/sessions/{pk}"),
        None,
    )
    .await;
    wait_relay_load(&relay, (0, 0), "let go after the last revoke").await;
    let t = api(&igloo, Method::GET, "/api/nip46/transport", None).await;
    assert_eq!(t["running"], json!(false), "{t}");

    // A session made by hand (an app's key pasted): listening again, also after a restart
    // with nobody logged in.
    let app_pk = hex::encode(TransportKey::generate().pubkey());
    api(
        &igloo,
        Method::POST,
        "/api/nip46/sessions",
        Some(json!({"pubkey": app_pk})),
    )
    .await;
    wait_relay_load(&relay, (1, 1), "subscribed for the new session").await;
    igloo.stop().expect("clean stop");
    wait_relay_load(&relay, (0, 0), "stopped").await;
    let _igloo = TestServer::start_in(dir.path().join("data"), &args);
    wait_relay_load(&relay, (1, 1), "subscribed at boot for the stored session").await;
}

/// An unused bunker:// link expires (NIP46_BUNKER_SECRET_TTL, 2 s here): the signer, listening
/// only for it, lets go of the relay, and an app arriving later with that link is refused even
/// while the signer listens again for a newer link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unused_bunker_link_expires_and_the_signer_goes_idle() {
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let igloo = TestServer::start(&[
        "--relays",
        relay_url.as_str(),
        "--relay-enabled",
        "false",
        "--nip46-bunker-secret-ttl",
        "2000",
    ]);
    let bunker = api(&igloo, Method::POST, "/api/nip46/bunker", None).await;
    let old = bunker["uri"].as_str().expect("uri").to_owned();
    wait_relay_load(&relay, (1, 1), "subscribed for the unused secret").await;
    // Nobody pairs: once the secret has expired there is nothing to listen for.
    wait_relay_load(&relay, (0, 0), "let go after the secret expired").await;
    let t = api(&igloo, Method::GET, "/api/nip46/transport", None).await;
    assert_eq!(t["running"], json!(false), "{t}");

    // A newer link wakes it; the expired one still does not pair.
    api(&igloo, Method::POST, "/api/nip46/bunker", None).await;
    wait_relay_load(&relay, (1, 1), "subscribed for the new secret").await;
    wait_transport_connected(&igloo).await;
    let mut app = Js::start();
    let r = app.cmd(json!({"op": "bunker", "uri": old}));
    assert!(
        r["error"].as_str().is_some_and(|e| e.contains("expired")),
        "{r}"
    );
    let sessions = api(&igloo, Method::GET, "/api/nip46/sessions", None).await;
    assert_eq!(sessions["sessions"], json!([]), "{sessions}");
}

/// Events a broken or hostile client might send: undecryptable, oversized, wrong JSON,
/// mutated requests, unknown methods, another signer's address.
async fn garbage(relay_url: &str, transport: &str) {
    let mut c = relay_common::Client::connect(relay_url).await;
    let me = relay_common::Signer::new(77);
    let now = relay_common::now();
    let p: &[&[&str]] = &[&["p", transport]];
    for content in [
        "",
        "not encrypted",
        "AgAAAA==",
        "x?iv=y",
        &"A".repeat(100_000),
    ] {
        let _ = c.publish(&me.event(24133, content, p, now)).await;
    }
    let mut tpk = [0u8; 32];
    hex::decode_to_slice(transport, &mut tpk).expect("transport hex");
    let k = TransportKey::generate();
    let shared = k.shared_x(&tpk).expect("ecdh");
    for text in [
        "{}",
        "[]",
        "null",
        r#"{"id":"1","method":"sign_event","params":["{"]}"#,
        r#"{"id":"1","method":"sign_event","params":[{"kind":1}]}"#,
        r#"{"id":"2","method":"teleport","params":[]}"#,
        r#"{"id":"3","method":"connect","params":["00","wrong-secret"]}"#,
        r#"{"id":"4","method":"nip44_encrypt","params":["zz"]}"#,
    ] {
        for scheme in [Scheme::Nip44, Scheme::Nip04] {
            let content = encrypt(&shared, scheme, text).expect("encrypt");
            let ev = k.event(&tpk, content, now).expect("event");
            let _ = c.publish(&ev).await;
        }
    }
}

/// The same app-facing behaviour on a V2 (bifrost-rs) keyset: the group key, signatures and
/// NIP-44/NIP-04 (threshold ECDH over FROST-TR shares), the other member an igloo V2 node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_keyset_signs_and_encrypts_for_a_bunker_app() {
    let ks = igloo::frostr_v2::keyset::generate("nip46", 2, 2, &mut rand::thread_rng())
        .expect("V2 keyset");
    let group = hex::encode(ks.group.group_pk);
    let relay = TestServer::start(&[]);
    let url = format!("ws://{}", relay.addr);
    let (igloo, peer) = (v2_node(&ks, 0, &url), v2_node(&ks, 1, &url));
    common::wait_node_connected(&igloo.url("/api/status")).await;
    common::wait_node_connected(&peer.url("/api/status")).await;
    let (mut app, pk, _) = pair_bunker(&igloo).await;
    assert_eq!(app.cmd(json!({"op": "pubkey"}))["pubkey"], json!(group));
    api(
        &igloo,
        Method::PUT,
        &format!("/api/nip46/sessions/{pk}/policy"),
        Some(
            json!({"methods": {"sign_event": true, "nip44_encrypt": true, "nip44_decrypt": true,
            "nip04_encrypt": true, "nip04_decrypt": true}, "kinds": {"*": true}}),
        ),
    )
    .await;
    // The V2 peer may need a moment to exchange nonces: retry the first signature.
    let deadline = Instant::now() + Duration::from_secs(30);
    let r = loop {
        let r =
            app.cmd(json!({"op": "sign", "kind": 30023, "content": "long form", "timeout": 15000}));
        if r["event"].is_object() || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    check_signed(&r, &group);
    let r = app.cmd(json!({"op": "crypto", "timeout": 15000}));
    assert_eq!(r["p44"], json!("nip44 from igloo"), "{r}");
    assert_eq!(r["d44"], json!("nip44 to igloo"), "{r}");
    assert_eq!(r["p04"], json!("nip04 from igloo"), "{r}");
    assert_eq!(r["d04"], json!("nip04 to igloo"), "{r}");
}

const ADMIN_SECRET: &str = "nip46-ui-admin-secret-3";
const USER: &str = "owner";
const PASS: &str = "Pw8@Lmzq4Kx";

fn visible(id: &str) -> String {
    format!("document.getElementById('{id}') && !document.getElementById('{id}').hidden")
}

/// The "Connect apps" screen in real headless Chromium, with a real nostr-tools app: a bunker
/// link made and used, the app's request shown (kind and content) and denied, permissions
/// edited, a pasted nostrconnect:// link, and revoke.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_apps_screen_in_chromium() {
    // No node: the screen works without one (requests are queued before any signing).
    let srv = TestServer::start_auth(&[
        "--admin-secret",
        ADMIN_SECRET,
        "--relays",
        "ws://127.0.0.1:1",
    ]);
    let own_relay = format!("ws://{}", srv.addr);
    let mut b = cdp::Browser::launch().await;
    b.goto(&srv.url("/")).await;
    b.wait_for(&visible("view-onboarding"), "the onboarding form")
        .await;
    b.fill("#onboarding-form [name=secret]", ADMIN_SECRET).await;
    b.fill("#onboarding-form [name=username]", USER).await;
    b.fill("#onboarding-form [name=password]", PASS).await;
    b.fill("#onboarding-form [name=confirm]", PASS).await;
    b.click("#onboarding-form button[type=submit]").await;
    // Setting up signs the owner in.
    b.wait_for(&visible("view-app"), "the signed-in app").await;

    b.click("#tabs [data-tab=apps]").await;
    b.wait_for(&visible("tab-apps"), "the Connect apps tab")
        .await;
    b.wait_for(
        "document.getElementById('nip46-relays').value.includes('ws://')",
        "the relay list",
    )
    .await;
    assert!(
        b.eval("document.getElementById('nip46-relays').value")
            .await
            .as_str()
            .is_some_and(|v| v.contains(&own_relay)),
        "the built-in relay is a default NIP-46 relay"
    );
    // Keep only the built-in relay (the node's relay here is unreachable on purpose).
    b.fill("#nip46-relays", &own_relay).await;
    b.click("#nip46-relays-form button[type=submit]").await;
    b.wait_for(&visible("nip46-msg"), "the relays saved").await;
    let v = b
        .eval("fetch('/api/nip46/relays').then(r => r.json())")
        .await;
    assert_eq!(v["relays"], json!([own_relay]));
    b.click("#nip46-bunker-new").await;
    b.wait_for(
        "document.getElementById('nip46-bunker-uri').textContent.startsWith('bunker://')",
        "a bunker link",
    )
    .await;
    let uri = b.text("#nip46-bunker-uri").await;
    assert!(
        uri.contains(&igloo::nip46::uri::percent_encode(&own_relay)),
        "{uri}"
    );

    let mut app = Js::start();
    let r = app.cmd(json!({"op": "bunker", "uri": uri}));
    assert_eq!(r["ok"], json!(true), "{r}");
    let pk = r["client"].as_str().expect("client").to_owned();
    let row = format!("#nip46-sessions tr[data-pubkey='{pk}']");
    b.wait_for(
        &format!("!!document.querySelector(\"{row}\")"),
        "the app in the list",
    )
    .await;

    // Its request waits: kind and content shown; deny it.
    let id = app.send(
        json!({"op": "sign", "kind": 1, "content": "hello from the test app", "timeout": 30000}),
    );
    b.wait_for(
        "!!document.querySelector('#nip46-pending li') && document.querySelector('#nip46-pending li').textContent.includes('kind 1')",
        "the pending request",
    )
    .await;
    assert!(
        b.text("#nip46-pending li")
            .await
            .contains("hello from the test app")
    );
    b.click("#nip46-pending li .deny").await;
    let r = app.recv(id);
    assert!(
        r["error"].as_str().is_some_and(|e| e.contains("denied")),
        "{r}"
    );
    b.wait_for(
        "document.querySelectorAll('#nip46-pending li').length === 0",
        "the queue emptied",
    )
    .await;

    // Edit permissions. A request arriving meanwhile re-renders the list: the edit stays.
    b.click(&format!("{row} td:last-child button")).await;
    b.fill(
        &format!("{row} td.perms input"),
        "sign_event:1,nip44_encrypt",
    )
    .await;
    let id7 = app.send(json!({"op": "sign", "kind": 7, "content": "+", "timeout": 30000}));
    b.wait_for(
        "!!document.querySelector('#nip46-pending li') && document.querySelector('#nip46-pending li').textContent.includes('kind 7')",
        "the second request",
    )
    .await;
    assert_eq!(
        b.eval(&format!(
            "document.querySelector(\"{row} td.perms input\")?.value"
        ))
        .await,
        json!("sign_event:1,nip44_encrypt"),
        "the edit was lost when the list re-rendered"
    );
    b.click(&format!("{row} td.perms button")).await;
    b.wait_for(
        &format!("document.querySelector(\"{row} td.perms\").textContent === 'nip44_encrypt,sign_event:1'"),
        "the saved permissions",
    )
    .await;
    let v = b
        .eval("fetch('/api/nip46/sessions').then(r => r.json())")
        .await;
    let s = v["sessions"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["pubkey"] == json!(pk)))
        .expect("session")
        .clone();
    assert_eq!(
        s["policy"]["methods"],
        json!({"sign_event": true, "nip44_encrypt": true}),
        "{s}"
    );
    assert_eq!(s["policy"]["kinds"], json!({"1": true}), "{s}");
    // Kind 7 is still outside them: deny it.
    b.click("#nip46-pending li .deny").await;
    assert!(
        app.recv(id7)["error"]
            .as_str()
            .is_some_and(|e| e.contains("denied"))
    );
    b.wait_for(
        "document.querySelectorAll('#nip46-pending li').length === 0",
        "the queue emptied again",
    )
    .await;

    // Paste an app's nostrconnect:// link.
    let mut app2 = Js::start();
    let id2 = app2.send(json!({"op": "nostrconnect", "relays": [own_relay], "timeout": 20000}));
    let first = app2.recv(id2);
    b.fill("#nip46-connect-uri", first["uri"].as_str().expect("uri"))
        .await;
    b.click("#nip46-connect-form button[type=submit]").await;
    assert_eq!(app2.recv(id2)["connected"], json!(true));
    let row2 = format!(
        "#nip46-sessions tr[data-pubkey='{}']",
        first["client"].as_str().expect("client")
    );
    b.wait_for(
        &format!("!!document.querySelector(\"{row2}\")"),
        "the second app",
    )
    .await;
    assert!(b.text(&row2).await.contains("nip46 test app"));

    // Revoke the first app: gone from the list, and it gets no answer any more.
    b.eval("window.confirm = () => true").await;
    b.click(&format!("{row} button.danger")).await;
    b.wait_for(
        &format!("!document.querySelector(\"{row}\")"),
        "the revoked app gone",
    )
    .await;
    let r = app.cmd(json!({"op": "ping", "timeout": 2000}));
    assert_eq!(r["error"], json!("timeout"), "{r}");
    b.wait_for(
        "document.getElementById('nip46-history').textContent.includes('[revoked]')",
        "the history marking the revoked app",
    )
    .await;
}

mod decoder {
    //! The request decoder and the URI parsers on structurally valid input that is then
    //! mutated: they must never panic, and valid input must decode to what was encoded.
    use igloo::nip46::message::{Method, parse_cipher_params, parse_request, parse_unsigned_event};
    use igloo::nip46::transport::decrypt;
    use igloo::nip46::uri::{BunkerUri, NostrConnectUri};
    use proptest::prelude::*;
    use serde_json::json;

    const METHODS: [&str; 12] = [
        "connect",
        "ping",
        "get_public_key",
        "sign_event",
        "nip04_encrypt",
        "nip04_decrypt",
        "nip44_encrypt",
        "nip44_decrypt",
        "get_relays",
        "switch_relays",
        "logout",
        "x",
    ];

    fn request() -> impl Strategy<Value = (String, String, Vec<String>)> {
        let event = (any::<u16>(), ".{0,40}", any::<u32>()).prop_map(|(kind, content, t)| {
            json!({"kind": kind, "content": content, "tags": [["p", "ab"]], "created_at": t})
                .to_string()
        });
        let param = prop_oneof!["[0-9a-f]{64}", ".{0,30}", event];
        (
            "[a-zA-Z0-9-]{1,40}",
            prop::sample::select(METHODS.to_vec()).prop_map(str::to_owned),
            prop::collection::vec(param, 0..4),
        )
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        Flip(usize, u8),
        Delete(usize, usize),
        Insert(usize, Vec<u8>),
        Truncate(usize),
        Duplicate(usize, usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
            (any::<usize>(), 0usize..8).prop_map(|(i, n)| Mutation::Delete(i, n)),
            (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
                .prop_map(|(i, b)| Mutation::Insert(i, b)),
            any::<usize>().prop_map(Mutation::Truncate),
            (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        ]
    }

    fn mutate(mut b: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
        for m in ms {
            let len = b.len().max(1);
            match m {
                Mutation::Flip(i, x) => {
                    if !b.is_empty() {
                        let i = i % b.len();
                        b[i] ^= x | 1;
                    }
                }
                Mutation::Delete(i, n) => {
                    let i = i % len;
                    let end = (i + n).min(b.len());
                    if i < end {
                        b.drain(i..end);
                    }
                }
                Mutation::Insert(i, x) => {
                    let i = i % (b.len() + 1);
                    b.splice(i..i, x.iter().copied());
                }
                Mutation::Truncate(i) => b.truncate(i % len),
                Mutation::Duplicate(i, n) => {
                    let i = i % len;
                    let end = (i + n).min(b.len());
                    if i < end {
                        let s: Vec<u8> = b[i..end].to_vec();
                        b.splice(i..i, s);
                    }
                }
            }
        }
        b
    }

    fn exercise(text: &str) {
        if let Ok(r) = parse_request(text) {
            let _ = parse_unsigned_event(&r.params);
            let _ = parse_cipher_params(&r.params);
        }
        let _ = decrypt(&[9u8; 32], text);
        let _ = BunkerUri::parse(text);
        let _ = NostrConnectUri::parse(text);
    }

    proptest! {
        #[test]
        fn requests_decode_and_mutations_never_panic(
            (id, method, params) in request(),
            muts in prop::collection::vec(mutation(), 1..6),
        ) {
            let text = json!({"id": id, "method": method, "params": params}).to_string();
            let r = parse_request(&text).expect("a valid request decodes");
            prop_assert_eq!(&r.id, &id);
            prop_assert_eq!(r.method.clone(), Method::parse(&method));
            prop_assert_eq!(&r.params, &params);
            let bytes = mutate(text.into_bytes(), &muts);
            exercise(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn uris_round_trip_and_mutations_never_panic(
            key in "[0-9a-f]{64}",
            relays in prop::collection::vec("wss://[a-z]{1,10}\\.example(/[a-z]{0,5})?", 1..4),
            secret in "[ -~]{1,40}",
            name in proptest::option::of("[ -~]{1,20}"),
            muts in prop::collection::vec(mutation(), 1..6),
        ) {
            let q: Vec<String> = relays.iter().map(|r| format!("relay={}", igloo::nip46::uri::percent_encode(r))).collect();
            let mut u = format!("nostrconnect://{key}?{}&secret={}&perms=sign_event%3A1%2Cnip44_encrypt",
                q.join("&"), igloo::nip46::uri::percent_encode(&secret));
            if let Some(n) = &name {
                u.push_str(&format!("&name={}", igloo::nip46::uri::percent_encode(n)));
            }
            let c = NostrConnectUri::parse(&u).expect("valid nostrconnect");
            prop_assert_eq!(c.secret.as_deref().map(String::as_str), Some(secret.as_str()));
            prop_assert_eq!(NostrConnectUri::parse(&c.to_uri()).expect("round trip"), c);
            let b = format!("bunker://{key}?{}&secret={}", q.join("&"), igloo::nip46::uri::percent_encode(&secret));
            let bu = BunkerUri::parse(&b).expect("valid bunker");
            prop_assert_eq!(BunkerUri::parse(&bu.to_uri()).expect("round trip"), bu);
            exercise(&String::from_utf8_lossy(&mutate(u.into_bytes(), &muts)));
            exercise(&String::from_utf8_lossy(&mutate(b.into_bytes(), &muts)));
        }
    }
}
