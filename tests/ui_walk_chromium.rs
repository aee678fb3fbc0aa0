//! The web UI walked as an appliance owner meets it, in real headless Chromium at 1280×800
//! and at a 390×844 phone, light and dark: first run (the setup code from the URL) → owner
//! account → add the keyset → node active → ping → edit and reset a peer policy → approve a
//! peer's sign request → API key → recover the nsec → log out (no secret left anywhere in the
//! page) → API-key login → owner passphrase, restart, unlock. On every screen axe-core
//! (tests/interop/node_modules, pinned in package.json) must find no serious or critical
//! violation, no element may be wider than the viewport and every button and field must be
//! at least 44 px tall. Screenshots go to target/ui-screens/ (not committed).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::TestServer;
#[path = "common/cdp.rs"]
mod cdp;

use cdp::Browser;
use igloo::frostr::credentials::{encode_group, encode_share};
use igloo::frostr::keyset::{Keyset, generate};
use igloo::frostr::types::{compressed, x_only};
use serde_json::{Value, json};

const SECRET: &str = "walk-test-setup-code-1234";
const USER: &str = "owner";
const PASS: &str = "Pw8@Lmzq4Kx";
const PASSPHRASE: &str = "a long owner passphrase";

fn visible(id: &str) -> String {
    format!("document.getElementById('{id}') && !document.getElementById('{id}').hidden")
}

struct Walk {
    b: Browser,
    report: Vec<String>,
    problems: Vec<String>,
}

impl Walk {
    /// Axe, overflow and touch targets on the current screen at both sizes and schemes.
    async fn check(&mut self, screen: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ui-screens");
        let mut line = format!("{screen}:");
        for (w, h, mobile) in [(390, 844, true), (1280, 800, false), (360, 740, true)] {
            for scheme in ["light", "dark"] {
                if w == 360 && scheme == "dark" {
                    continue;
                }
                self.b.viewport(w, h, mobile).await;
                self.b.color_scheme(scheme).await;
                tokio::time::sleep(Duration::from_millis(150)).await;
                let found = self.b.audit().await;
                line.push_str(&format!(" {w}/{scheme}={}", found.len()));
                for f in found {
                    self.problems.push(format!("{screen} {w}px {scheme}: {f}"));
                }
                self.b
                    .screenshot(&dir.join(format!("{screen}-{w}-{scheme}.png")))
                    .await;
            }
        }
        self.b.viewport(1280, 800, false).await;
        self.b.color_scheme("light").await;
        self.report.push(line);
    }

    async fn secrets_in_page(&mut self, secrets: &[&str]) -> Vec<String> {
        let page = self
            .b
            .eval(
                "document.documentElement.outerHTML + '\\n' + [...document.querySelectorAll('input, textarea, select')].map(i => i.value).join('\\n') + '\\n' + document.title + location.href",
            )
            .await;
        let page = page.as_str().unwrap_or_default().to_string();
        secrets
            .iter()
            .filter(|s| page.contains(**s))
            .map(|s| s.chars().take(12).collect())
            .collect()
    }
}

fn peer_args(ks: &Keyset, share: usize, relay: &str) -> Vec<String> {
    vec![
        "--headless".into(),
        "true".into(),
        "--group-cred".into(),
        encode_group(&ks.group),
        "--share-cred".into(),
        encode_share(&ks.shares[share]).to_string(),
        "--relays".into(),
        relay.into(),
        "--relay-enabled".into(),
        "false".into(),
        "--frostr-sign-timeout".into(),
        "20000".into(),
    ]
}

fn owner_args(relay: &str) -> Vec<String> {
    vec![
        "--auth-enabled".into(),
        "true".into(),
        "--admin-secret".into(),
        SECRET.into(),
        "--sign-policy".into(),
        "approve".into(),
        "--relays".into(),
        relay.into(),
    ]
}

fn start(args: &[String], dir: PathBuf) -> TestServer {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    TestServer::start_in(dir, &a)
}

/// Recover the nsec through the page and show it; returns what the page showed.
async fn recover(w: &mut Walk, group: &str, shares: &str) -> String {
    w.b.fill("#recover-form [name=group]", group).await;
    w.b.fill("#recover-form [name=shares]", shares).await;
    w.b.click("#recover-form button[type=submit]").await;
    w.b.wait_for(
        "document.querySelector('#recovered .show-secret')",
        "the recovered nsec box",
    )
    .await;
    w.b.click("#recovered .show-secret").await;
    let nsec = w.b.text("#recovered code.secret").await;
    assert!(nsec.starts_with("nsec1"), "{nsec}");
    nsec
}

fn xonly_hex(ks: &Keyset, i: usize) -> String {
    hex::encode(x_only(&ks.shares[i].public_key()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_walks_every_screen_on_a_phone_and_a_desktop() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let group = encode_group(&ks.group);
    let shares: Vec<String> = ks
        .shares
        .iter()
        .map(|s| encode_share(s).to_string())
        .collect();
    let relay = TestServer::start(&[]);
    let relay_url = format!("ws://{}", relay.addr);
    let tmp = tempfile::tempdir().expect("tempdir");
    // A never asks C (offline), so each of its sign requests comes to this node.
    let mut a_args = peer_args(&ks, 0, &relay_url);
    a_args.extend([
        "--peer-policies".to_string(),
        format!(
            r#"[{{"pubkey":"{}","allowSend":false}}]"#,
            xonly_hex(&ks, 2)
        ),
    ]);
    let peer_a = start(&a_args, tmp.path().join("a"));
    let owner_dir = tmp.path().join("owner");
    let owner = start(&owner_args(&relay_url), owner_dir.clone());

    let mut w = Walk {
        b: Browser::launch().await,
        report: Vec::new(),
        problems: Vec::new(),
    };
    w.b.watch_console().await;

    // First run: the setup code comes in the URL, is filled in and leaves the address bar.
    w.b.goto(&owner.url(&format!("/?setup={SECRET}"))).await;
    w.b.wait_for(&visible("view-onboarding"), "the setup form")
        .await;
    assert_eq!(
        w.b.eval("location.search").await,
        json!(""),
        "?setup= removed"
    );
    assert_eq!(
        w.b.eval("document.querySelector('#onboarding-form [name=secret]').value")
            .await,
        json!(SECRET)
    );
    assert_eq!(w.b.eval("document.title").await, json!("Set up · igloo"));
    w.check("setup").await;
    w.b.fill("#onboarding-form [name=username]", USER).await;
    w.b.fill("#onboarding-form [name=password]", PASS).await;
    w.b.fill("#onboarding-form [name=confirm]", "Other@Pass9x")
        .await;
    w.b.click("#onboarding-form button[type=submit]").await;
    w.b.wait_for(
        "document.querySelector('#onboarding-form .msg').textContent.includes('do not match')",
        "the mismatch message on the setup form",
    )
    .await;
    w.b.fill("#onboarding-form [name=confirm]", PASS).await;
    w.b.click("#onboarding-form button[type=submit]").await;

    // Straight on to "add your keyset", signed in.
    w.b.wait_for(&visible("tab-keyset"), "the keyset tab after setup")
        .await;
    assert_eq!(
        w.b.eval("document.querySelector('#tabbtn-keyset').getAttribute('aria-selected')")
            .await,
        json!("true")
    );
    w.b.wait_for(
        "document.getElementById('tab-keyset').getAttribute('aria-busy') === 'false'",
        "the keyset screen loaded",
    )
    .await;
    w.check("keyset").await;
    // The signer with no keyset yet: a plain pointer to the keyset, no errors.
    w.b.click("#tabbtn-signer").await;
    w.b.wait_for(&visible("no-keyset"), "the no-keyset pointer")
        .await;
    w.check("signer-empty").await;
    w.b.click("#go-keyset").await;
    w.b.wait_for(
        "document.getElementById('tab-keyset').getAttribute('aria-busy') === 'false' && !document.getElementById('tab-keyset').hidden",
        "the keyset screen again",
    )
    .await;
    w.b.fill("#credentials-form [name=group_name]", "walk")
        .await;
    w.b.fill("#credentials-form [name=group_cred]", &group)
        .await;
    w.b.fill("#credentials-form [name=share_cred]", &shares[1])
        .await;
    w.b.fill("#credentials-form [name=relays]", &relay_url)
        .await;
    w.b.click("#credentials-form button[type=submit]").await;
    w.b.wait_for(
        "document.querySelector('#credentials-form .msg.ok') && !document.querySelector('#credentials-form .msg').hidden",
        "the server's saved message",
    )
    .await;

    // Tabs by keyboard: ArrowLeft from Keyset selects Signer.
    w.b.eval("document.getElementById('tabbtn-keyset').focus(); document.getElementById('tabs').dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowLeft', bubbles: true})); true").await;
    w.b.wait_for(&visible("tab-signer"), "the signer tab by arrow key")
        .await;
    assert_eq!(
        w.b.eval("document.activeElement.id").await,
        json!("tabbtn-signer")
    );
    assert_eq!(w.b.eval("document.title").await, json!("Signer · igloo"));
    w.b.wait_for(
        "document.getElementById('node-state').textContent === 'active'",
        "the node active",
    )
    .await;
    w.b.wait_for(
        "document.getElementById('group-info').textContent.includes('npub1')",
        "the group key as npub",
    )
    .await;

    // Peers are pinged on load; A answers and is shown online with a latency.
    let a_hex = hex::encode(compressed(&ks.shares[0].public_key()));
    let a_row = format!("#peers tr[data-pubkey='{a_hex}']");
    w.b.wait_for(
        &format!("document.querySelector(\"{a_row}\")"),
        "peer A listed",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        w.b.click(&format!("{a_row} button.ping")).await;
        let busy =
            w.b.eval(&format!(
                "document.querySelector(\"{a_row} button.ping\").getAttribute('aria-busy')"
            ))
            .await;
        assert_eq!(busy, json!("true"), "ping shows a busy state");
        w.b.wait_for(
            &format!("document.querySelector(\"{a_row} button.ping\").getAttribute('aria-busy') === 'false'"),
            "the ping to finish",
        )
        .await;
        if w.b
            .eval(&format!(
                "document.querySelector(\"{a_row} td.online\").textContent.startsWith('online')"
            ))
            .await
            == json!(true)
        {
            break;
        }
        assert!(Instant::now() < deadline, "peer A never answered a ping");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        w.b.text(&format!("{a_row} td[data-label=Latency]"))
            .await
            .ends_with("ms")
    );
    w.check("signer").await;

    // Edit C's policy: never ask it, label and cap; then reset it to the default.
    let c_hex = hex::encode(compressed(&ks.shares[2].public_key()));
    let c_row = format!("#peers tr[data-pubkey='{c_hex}']");
    w.b.click(&format!("{c_row} button.edit-policy")).await;
    w.b.wait_for(
        "document.querySelector('#peers form.policy')",
        "the policy form",
    )
    .await;
    w.check("policy").await;
    w.b.eval("(() => { const f = document.querySelector('#peers form.policy'); f.allowSend.checked = false; f.label.value = 'old phone'; f.note.value = 'in the drawer'; f.partialCap.value = '2'; return true })()").await;
    w.b.click("#peers form.policy button[type=submit]").await;
    w.b.wait_for(
        &format!("document.querySelector(\"{c_row} td[data-label=Peer]\").textContent.includes('old phone')"),
        "the label shown",
    )
    .await;
    let pol =
        w.b.eval(&format!(
            "fetch('/api/peers/{}/policy').then(r => r.json())",
            xonly_hex(&ks, 2)
        ))
        .await;
    assert_eq!(pol["policy"]["allowSend"], json!(false), "{pol}");
    assert_eq!(pol["policy"]["partialCap"], json!(2), "{pol}");
    assert_eq!(pol["policy"]["note"], json!("in the drawer"), "{pol}");
    assert!(w.b.text("#peers-msg").await.contains("saved"));
    w.b.click(&format!("{c_row} button.edit-policy")).await;
    w.b.click("#peers form.policy .reset-policy").await;
    w.b.wait_for(
        "document.getElementById('peers-msg').textContent.includes('reset')",
        "the reset message",
    )
    .await;
    let pol =
        w.b.eval(&format!(
            "fetch('/api/peers/{}/policy').then(r => r.json())",
            xonly_hex(&ks, 2)
        ))
        .await;
    assert_eq!(pol["policy"]["hasExplicitPolicy"], json!(false), "{pol}");

    // A asks this node to sign (approve mode): the request appears and is approved here.
    let sign_url = peer_a.url("/api/sign");
    let job = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(sign_url)
            .json(&json!({ "message": hex::encode(rand::random::<[u8; 32]>()) }))
            .send()
            .await
            .expect("sign");
        let code = r.status().as_u16();
        (code, r.json::<Value>().await.unwrap_or(Value::Null))
    });
    w.b.wait_for(
        "document.querySelector('#approvals li[data-id] button.approve')",
        "the sign request waiting",
    )
    .await;
    let label =
        w.b.eval("document.querySelector('#approvals button.approve').getAttribute('aria-label')")
            .await;
    assert!(
        label
            .as_str()
            .unwrap_or_default()
            .starts_with("Approve the request from ")
    );
    w.check("approval").await;
    w.b.eval(
        "(window.__approved = [document.querySelector('#approvals li[data-id]').dataset.id], true)",
    )
    .await;
    w.b.click("#approvals li[data-id] button.approve").await;
    let (code, body) = tokio::time::timeout(Duration::from_secs(30), job)
        .await
        .expect("the sign finishes")
        .expect("sign task");
    assert_eq!(code, 200, "{body}");
    w.b.wait_for(
        "document.querySelector('#events [data-type=sign]')",
        "a signing entry in the activity log",
    )
    .await;
    // Two more approvals: A then holds 3 partial signatures of this v1 share, the leak
    // threshold, and the page says so in plain words.
    for n in 2..=3 {
        let sign_url = peer_a.url("/api/sign");
        let job = tokio::spawn(async move {
            reqwest::Client::new()
                .post(sign_url)
                .json(&json!({ "message": hex::encode(rand::random::<[u8; 32]>()) }))
                .send()
                .await
                .expect("sign")
                .status()
                .as_u16()
        });
        // Click the new request's button (the list may still show the one just approved).
        w.b.wait_for(
            "(() => { const b = [...document.querySelectorAll('#approvals li[data-id]')].filter(li => !window.__approved?.includes(li.dataset.id)).map(li => li.querySelector('button.approve'))[0]; if (!b) return false; (window.__approved ||= []).push(b.closest('li').dataset.id); b.click(); return true })()",
            "the next sign request, approved",
        )
        .await;
        let code = tokio::time::timeout(Duration::from_secs(30), job)
            .await
            .expect("the sign finishes")
            .expect("sign task");
        assert_eq!(code, 200);
        let level = if n == 2 { "caution" } else { "danger" };
        w.b.wait_for(
            &format!("document.querySelector(\"{a_row} td.partials.{level}\")"),
            "the partial count highlighted",
        )
        .await;
    }
    // A fourth request is denied here: A's sign fails, the count stays at 3.
    let sign_url = peer_a.url("/api/sign");
    let job = tokio::spawn(async move {
        reqwest::Client::new()
            .post(sign_url)
            .json(&json!({ "message": hex::encode(rand::random::<[u8; 32]>()) }))
            .send()
            .await
            .expect("sign")
            .status()
            .as_u16()
    });
    w.b.wait_for(
        "(() => { const b = [...document.querySelectorAll('#approvals li[data-id]')].filter(li => !window.__approved.includes(li.dataset.id)).map(li => li.querySelector('button.deny'))[0]; if (!b) return false; window.__approved.push(b.closest('li').dataset.id); b.click(); return true })()",
        "the fourth request, denied",
    )
    .await;
    let code = tokio::time::timeout(Duration::from_secs(40), job)
        .await
        .expect("the sign finishes")
        .expect("sign task");
    assert_ne!(code, 200, "a denied request was signed");
    w.b.wait_for(
        "document.getElementById('approvals-msg').textContent.startsWith('Denied the request from')",
        "the denial confirmed",
    )
    .await;
    w.b.wait_for(&visible("leak-warning"), "the v1 leak warning")
        .await;
    let warning = w.b.text("#leak-warning").await;
    assert!(
        warning.contains("3 or more partial signatures"),
        "{warning}"
    );
    w.check("leak-warning").await;
    // This node's own sign request (through the API, as an app would) appears too.
    let own = w
        .b
        .eval("fetch('/api/sign', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({message: 'ab'.repeat(32)})}).then(r => r.status)")
        .await;
    assert_eq!(own, json!(200));
    w.b.wait_for(
        "document.getElementById('events').textContent.includes(\"this node's sign request was signed\")",
        "our own sign request in the activity log",
    )
    .await;
    assert!(
        !w.b.eval("document.getElementById('events').textContent")
            .await
            .as_str()
            .unwrap_or_default()
            .contains("-internal"),
        "no internal event names"
    );
    // The log filters by kind, and entries expand to their details.
    w.b.eval("(() => { const s = document.getElementById('event-filter'); s.value = 'sign'; s.dispatchEvent(new Event('change')); return true })()").await;
    assert_eq!(
        w.b.eval("[...document.querySelectorAll('#events li')].every(li => li.dataset.type === 'sign') && document.querySelectorAll('#events li').length > 0").await,
        json!(true)
    );
    w.b.click("#events li details summary").await;
    assert!(w.b.text("#events li details pre").await.contains("\""));
    w.check("activity").await;
    w.b.eval("(() => { const s = document.getElementById('event-filter'); s.value = ''; s.dispatchEvent(new Event('change')); return true })()").await;

    // Connect apps (NIP-46): a fresh bunker:// link with its QR code, on a phone too.
    w.b.click("#tabbtn-apps").await;
    w.b.wait_for(
        "document.getElementById('nip46-bunker-new')",
        "the Connect apps screen",
    )
    .await;
    w.b.click("#nip46-bunker-new").await;
    w.b.wait_for(
        "document.getElementById('nip46-bunker-uri').textContent.startsWith('bunker://')",
        "a bunker link",
    )
    .await;
    w.b.wait_for(
        "(() => { const i = document.querySelector('#nip46-bunker-qr img'); return !!i && i.complete && i.naturalWidth > 0 })()",
        "the bunker QR code rendered",
    )
    .await;
    w.check("connect-apps").await;

    // Settings and Admin: a new API key, shown only on a click, copyable.
    w.b.click("#tabbtn-settings").await;
    w.b.wait_for(
        "document.querySelector('#relay-list li.relay')",
        "the relay list",
    )
    .await;
    w.b.wait_for(
        "document.getElementById('tab-settings').getAttribute('aria-busy') === 'false'",
        "the settings loaded",
    )
    .await;
    w.check("settings").await;
    // A setting the server refuses: its own message, as an error of this form (the refused
    // call is no console error of normal use).
    // On a phone, from the top of the page: the form's button is below the fold, and its
    // error is scrolled into view when it comes.
    let before = w.b.console_errors.len();
    w.b.viewport(390, 844, true).await;
    w.b.eval("window.scrollTo(0, 0)").await;
    let below = w.b
        .eval("document.querySelector('#env-form button[type=submit]').getBoundingClientRect().top > innerHeight")
        .await;
    assert_eq!(
        below,
        serde_json::json!(true),
        "the env form's button is not below the fold at 390x844"
    );
    w.b.fill("#env-form [name=NODE_BACKOFF_MULTIPLIER]", "11")
        .await;
    w.b.click("#env-form button[type=submit]").await;
    w.b.wait_for(
        "document.querySelector('#env-form .msg.err')",
        "the refusal",
    )
    .await;
    let in_view = w.b
        .eval("(() => { const r = document.querySelector('#env-form .msg.err').getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; })()")
        .await;
    assert_eq!(
        in_view,
        serde_json::json!(true),
        "the refusal was not scrolled into view"
    );
    w.b.viewport(1280, 800, false).await;
    let refused = w.b.text("#env-form .msg").await;
    assert!(
        !refused.is_empty() && !refused.contains("updated"),
        "{refused}"
    );
    w.b.console_errors.truncate(before);
    w.b.fill("#env-form [name=NODE_BACKOFF_MULTIPLIER]", "3")
        .await;
    w.b.click("#env-form button[type=submit]").await;
    w.b.wait_for(
        "document.querySelector('#env-form .msg.ok')",
        "the server's answer",
    )
    .await;
    let done = w.b.text("#env-form .msg").await;
    assert!(
        done.contains("Configuration updated") && done.contains("NODE_BACKOFF_MULTIPLIER"),
        "{done}"
    );
    // Relays: add one (not reachable: shown as not connected), then remove it.
    w.b.fill("#relay-add [name=url]", "ws://127.0.0.1:9").await;
    w.b.click("#relay-add button[type=submit]").await;
    w.b.wait_for(
        "document.querySelectorAll('#relay-list li.relay').length === 2",
        "two relays",
    )
    .await;
    assert!(
        w.b.text("#relay-add .msg")
            .await
            .contains("Added ws://127.0.0.1:9")
    );
    w.b.click("#relay-list button[aria-label='Remove relay ws://127.0.0.1:9']")
        .await;
    w.b.wait_for(
        "document.querySelectorAll('#relay-list li.relay').length === 1",
        "one relay again",
    )
    .await;
    w.b.wait_for(
        "document.querySelector('#relay-list li.relay [data-state=ok]')",
        "the remaining relay connected",
    )
    .await;
    w.b.click("#tabbtn-admin").await;
    w.b.fill("#apikey-create [name=label]", "walk key").await;
    // The owner's own key for the UI: admin scope (the default, `sign`, only signs).
    w.b.eval("document.querySelector('#apikey-create [name=scope]').value = 'admin'")
        .await;
    w.b.click("#apikey-create button[type=submit]").await;
    w.b.wait_for(&visible("new-apikey"), "the new API key box")
        .await;
    assert_eq!(
        w.b.eval("document.querySelector('#new-apikey code.secret').textContent")
            .await,
        json!(""),
        "hidden until asked"
    );
    w.b.click("#new-apikey .show-secret").await;
    let token = w.b.text("#new-apikey code.secret").await;
    assert_eq!(token.len(), 64, "token {token:?}");
    w.b.wait_for("[...document.querySelectorAll('#apikeys button')].some(b => b.getAttribute('aria-label') === 'Revoke API key walk key')", "the key listed with a named revoke button").await;
    w.check("admin").await;

    // Recover: the nsec is shown on a click, and forgotten when leaving the tab.
    w.b.click("#tabbtn-recover").await;
    assert!(
        w.secrets_in_page(&[&token]).await.is_empty(),
        "leaving Admin forgets the token"
    );
    let pair = format!("{}\n{}", shares[0], shares[2]);
    let nsec = recover(&mut w, &group, &pair).await;
    w.check("recover").await;
    w.b.click("#tabbtn-signer").await;
    assert!(
        w.secrets_in_page(&[&nsec]).await.is_empty(),
        "leaving Recover forgets the nsec"
    );
    w.b.click("#tabbtn-recover").await;
    let nsec = recover(&mut w, &group, &pair).await;
    // Something typed in a credential field and left there.
    w.b.fill("#recover-form [name=shares]", &shares[1]).await;
    w.b.fill("#import-form [name=package]", "bfonboard1typedsecret")
        .await;

    // Log out: back to the login form, and no secret anywhere in the page.
    w.b.click("#logout").await;
    w.b.wait_for(&visible("view-login"), "the login form after logout")
        .await;
    let secrets = [
        nsec.as_str(),
        token.as_str(),
        shares[0].as_str(),
        shares[1].as_str(),
        shares[2].as_str(),
        group.as_str(),
        "bfonboard1typedsecret",
    ];
    let left = w.secrets_in_page(&secrets).await;
    assert!(
        left.is_empty(),
        "secrets left in the page after logout: {left:?}"
    );
    let me =
        w.b.eval("fetch('/api/auth/status').then(r => r.json())")
            .await;
    assert_eq!(me["authenticated"], json!(false), "{me}");
    assert_eq!(
        w.b.eval("document.getElementById('events').children.length")
            .await,
        json!(0)
    );
    w.check("login").await;

    // The API-key login lands in the app (it used to land back on the login form).
    w.b.click("#apikey-login summary").await;
    w.b.fill("#apikey-form [name=apiKey]", &token).await;
    w.b.click("#apikey-form button[type=submit]").await;
    w.b.wait_for(&visible("view-app"), "the app after an API-key login")
        .await;
    w.b.wait_for(
        "document.getElementById('node-state').textContent === 'active'",
        "the signer for the API key",
    )
    .await;
    // /api/auth/status describes the caller: signed in with an admin-scoped key, no database user.
    let me =
        w.b.eval("fetch('/api/auth/status').then(r => r.json())")
            .await;
    assert_eq!(
        (&me["authenticated"], &me["dbUser"], &me["admin"]),
        (&json!(true), &json!(false), &json!(true)),
        "{me}"
    );
    // An admin-scoped key may administer, so the Admin tab is there.
    assert!(
        w.b.eval("document.getElementById('tabbtn-admin').hidden")
            .await
            == json!(false)
    );
    w.b.click("#logout").await;
    w.b.wait_for(&visible("view-login"), "logged out of the key session")
        .await;
    assert!(w.secrets_in_page(&[&token]).await.is_empty());

    // A session that ends on the server (a 401 on the next call) wipes the page too.
    w.b.fill("#login-form [name=username]", USER).await;
    w.b.fill("#login-form [name=password]", PASS).await;
    w.b.click("#login-form button[type=submit]").await;
    w.b.wait_for(&visible("view-app"), "signed in again").await;
    w.b.click("#tabbtn-recover").await;
    let nsec = recover(&mut w, &group, &pair).await;
    // (The refused calls of this deliberately ended session are not console errors of normal use.)
    let before = w.b.console_errors.len();
    w.b.eval(
        "fetch('/api/auth/logout', {method: 'POST', credentials: 'same-origin'}).then(() => true)",
    )
    .await;
    w.b.click("#tabbtn-settings").await;
    w.b.wait_for(
        &visible("view-login"),
        "the login form after the session ended",
    )
    .await;
    assert!(w.b.text("#session-msg").await.contains("session ended"));
    assert!(
        w.secrets_in_page(&[&nsec]).await.is_empty(),
        "the nsec survived a 401"
    );

    // Owner passphrase: after a restart the node is locked and unlocked from the page.
    w.b.fill("#login-form [name=username]", USER).await;
    w.b.fill("#login-form [name=password]", PASS).await;
    w.b.click("#login-form button[type=submit]").await;
    w.b.wait_for(&visible("view-app"), "signed in for the passphrase")
        .await;
    // Only now: a refusal that arrived just before the page ended the session may reach the
    // console listener after the login form showed.
    w.b.console_errors.truncate(before);
    w.b.click("#tabbtn-admin").await;
    w.b.fill("#passphrase-form [name=passphrase]", PASSPHRASE)
        .await;
    w.b.click("#passphrase-form button[type=submit]").await;
    w.b.wait_for(
        "document.querySelector('#passphrase-form .msg.ok')",
        "the passphrase saved",
    )
    .await;
    w.b.click("#logout").await;
    w.b.wait_for(&visible("view-login"), "logged out before the restart")
        .await;
    owner.stop().expect("owner stops");
    let owner = start(&owner_args(&relay_url), owner_dir);
    w.b.goto(&owner.url("/")).await;
    w.b.wait_for(&visible("view-unlock"), "the unlock form of a locked node")
        .await;
    assert_eq!(w.b.eval("document.title").await, json!("Unlock · igloo"));
    w.check("unlock").await;
    w.b.fill("#unlock-form [name=passphrase]", "not the passphrase")
        .await;
    w.b.click("#unlock-form button[type=submit]").await;
    w.b.wait_for(
        "!document.querySelector('#unlock-form .msg').hidden",
        "the wrong-passphrase message",
    )
    .await;
    w.b.fill("#unlock-form [name=passphrase]", PASSPHRASE).await;
    w.b.click("#unlock-form button[type=submit]").await;
    w.b.wait_for(&visible("view-login"), "the login form after unlocking")
        .await;
    w.b.fill("#login-form [name=username]", USER).await;
    w.b.fill("#login-form [name=password]", PASS).await;
    w.b.click("#login-form button[type=submit]").await;
    w.b.wait_for(
        "document.getElementById('node-state').textContent === 'active'",
        "the node running after unlock",
    )
    .await;

    // Normal use logs no console error, signed out or in, with or without a keyset; the only
    // failed load is the wrong passphrase refused on purpose above.
    let errors: Vec<&String> =
        w.b.console_errors
            .iter()
            .filter(|e| !e.contains("/api/unlock"))
            .collect();
    eprintln!("UI walk:\n{}", w.report.join("\n"));
    assert!(
        w.problems.is_empty(),
        "screen problems:\n{}",
        w.problems.join("\n")
    );
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}

/// The safety bar on its own, with selectors the old page had as well (it failed there: the
/// next user of the tab saw the previous user's nsec): recover, log out, and the nsec and
/// shares are nowhere in the page, neither in the markup nor in a field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_wipes_a_recovered_nsec_from_the_page() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let group = encode_group(&ks.group);
    let shares: Vec<String> = ks
        .shares
        .iter()
        .map(|s| encode_share(s).to_string())
        .collect();
    let srv = TestServer::start_auth(&["--admin-secret", SECRET]);
    let mut b = Browser::launch().await;
    // Every WebSocket the page opens, to see the event stream closed at logout.
    b.on_new_document(
        "(() => { const W = window.WebSocket; window.__sockets = []; \
         window.WebSocket = function (...a) { const s = new W(...a); window.__sockets.push(s); return s; }; \
         Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 }); \
         window.WebSocket.prototype = W.prototype; })()",
    )
    .await;
    b.goto(&srv.url("/")).await;
    b.wait_for(&visible("view-onboarding"), "the setup form")
        .await;
    b.fill("#onboarding-form [name=secret]", SECRET).await;
    b.fill("#onboarding-form [name=username]", USER).await;
    b.fill("#onboarding-form [name=password]", PASS).await;
    b.fill("#onboarding-form [name=confirm]", PASS).await;
    b.click("#onboarding-form button[type=submit]").await;
    b.wait_for(
        &format!("{} || {}", visible("view-app"), visible("view-login")),
        "signed in or the login form",
    )
    .await;
    if b.eval(&visible("view-login")).await == json!(true) {
        b.fill("#login-form [name=username]", USER).await;
        b.fill("#login-form [name=password]", PASS).await;
        b.click("#login-form button[type=submit]").await;
        b.wait_for(&visible("view-app"), "the app").await;
    }
    b.click("#tabs [data-tab=recover]").await;
    b.fill("#recover-form [name=group]", &group).await;
    b.fill(
        "#recover-form [name=shares]",
        &format!("{}\n{}", shares[0], shares[1]),
    )
    .await;
    b.click("#recover-form button[type=submit]").await;
    b.wait_for(
        "document.querySelector('#recovered .show-secret') || /nsec1[02-9ac-hj-np-z]{50,}/.test(document.documentElement.outerHTML)",
        "the recovered nsec",
    )
    .await;
    b.eval("(() => { const s = document.querySelector('#recovered .show-secret'); if (s) s.click(); return true })()")
        .await;
    let nsec = b
        .eval("(document.documentElement.outerHTML.match(/nsec1[02-9ac-hj-np-z]{50,}/) || [''])[0]")
        .await
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(nsec.starts_with("nsec1"), "the nsec was shown: {nsec:?}");
    b.fill("#recover-form [name=shares]", &shares[2]).await;
    b.wait_for(
        "(window.__sockets || []).some(s => s.readyState === 1)",
        "the event stream open",
    )
    .await;
    // Log out; in the same task the event stream is closed.
    let closed = b
        .eval("(() => { document.getElementById('logout').click(); return window.__sockets.every(s => s.readyState >= 2); })()")
        .await;
    assert_eq!(
        closed,
        json!(true),
        "the event stream was still open at logout"
    );
    b.wait_for(&visible("view-login"), "the login form after logout")
        .await;
    let page = b
        .eval("document.documentElement.outerHTML + [...document.querySelectorAll('input, textarea')].map(i => i.value).join('\\n')")
        .await;
    let page = page.as_str().unwrap_or_default();
    assert!(
        !page.contains(&nsec),
        "the recovered nsec is still in the page after logout"
    );
    for s in &shares {
        assert!(
            !page.contains(s.as_str()),
            "a share is still in the page after logout"
        );
    }
    assert!(
        !page.contains(&group),
        "the group is still in the page after logout"
    );

    // Password guessing is slowed down; the form says when to try again.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        b.fill("#login-form [name=username]", USER).await;
        b.fill("#login-form [name=password]", "Wrong#Pass9x").await;
        b.click("#login-form button[type=submit]").await;
        b.wait_for(
            "!document.querySelector('#login-form button[type=submit]').disabled && !document.querySelector('#login-form .msg').hidden",
            "the login's answer",
        )
        .await;
        let msg = b.text("#login-form .msg").await;
        if msg.contains("Try again in") {
            assert!(msg.contains("seconds") || msg.contains("minutes"), "{msg}");
            break;
        }
        assert!(Instant::now() < deadline, "never rate-limited: {msg}");
        b.eval("document.querySelector('#login-form .msg').hidden = true")
            .await;
    }
}

/// A session left idle past SESSION_TIMEOUT ends in the page too (its own polling would keep
/// the server session alive): back to the login form, the nsec gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_expires_and_wipes_the_page() {
    let ks = generate(&mut rand::thread_rng(), 2, 3, None).expect("keyset");
    let group = encode_group(&ks.group);
    let shares: Vec<String> = ks
        .shares
        .iter()
        .map(|s| encode_share(s).to_string())
        .collect();
    let srv = TestServer::start_auth(&["--admin-secret", SECRET, "--session-timeout", "60"]);
    let mut b = Browser::launch().await;
    b.goto(&srv.url(&format!("/?setup={SECRET}"))).await;
    b.wait_for(&visible("view-onboarding"), "the setup form")
        .await;
    b.fill("#onboarding-form [name=username]", USER).await;
    b.fill("#onboarding-form [name=password]", PASS).await;
    b.fill("#onboarding-form [name=confirm]", PASS).await;
    b.click("#onboarding-form button[type=submit]").await;
    b.wait_for(&visible("view-app"), "the app").await;
    b.click("#tabs [data-tab=recover]").await;
    b.fill("#recover-form [name=group]", &group).await;
    b.fill(
        "#recover-form [name=shares]",
        &format!("{}\n{}", shares[0], shares[1]),
    )
    .await;
    b.click("#recover-form button[type=submit]").await;
    b.wait_for(
        "document.querySelector('#recovered .show-secret')",
        "the nsec box",
    )
    .await;
    b.click("#recovered .show-secret").await;
    let nsec = b.text("#recovered code.secret").await;
    assert!(nsec.starts_with("nsec1"));
    // Nothing touched for a minute (the status keeps polling meanwhile).
    tokio::time::sleep(Duration::from_secs(62)).await;
    b.wait_for(
        &visible("view-login"),
        "the login form after the idle timeout",
    )
    .await;
    assert!(b.text("#session-msg").await.contains("without activity"));
    let page = b
        .eval("document.documentElement.outerHTML + [...document.querySelectorAll('input, textarea')].map(i => i.value).join('\\n')")
        .await;
    assert!(
        !page.as_str().unwrap_or_default().contains(&nsec),
        "the nsec outlived the session"
    );
    let status = b
        .eval("fetch('/api/user/profile').then(r => r.status)")
        .await;
    assert_eq!(status, json!(401), "the server session is gone too");
}
