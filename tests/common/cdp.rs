//! A minimal Chrome DevTools Protocol driver for UI tests: real headless Chromium, one page,
//! `eval` of JavaScript in it. Enough to fill forms, click and read the DOM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub fn chromium() -> String {
    for c in [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ] {
        if std::path::Path::new(c).exists() {
            return c.to_string();
        }
    }
    panic!(
        "headless Chromium is not installed; run scripts/test, which installs Debian's chromium"
    );
}

/// A headless Chromium with one page attached; killed on drop.
pub struct Browser {
    child: Child,
    ws: Ws,
    session: String,
    next_id: u64,
    /// Console errors, uncaught exceptions and failed loads seen while waiting for answers
    /// (collected once [`Browser::watch_console`] enabled them).
    pub console_errors: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    pub async fn launch() -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium prints its DevTools address");
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .expect("DevTools socket");
        let mut b = Browser {
            child,
            ws,
            session: String::new(),
            next_id: 1,
            console_errors: Vec::new(),
            _profile: profile,
        };
        let target = b
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let target_id = target["targetId"].as_str().expect("target id").to_string();
        let attached = b
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await;
        b.session = attached["sessionId"].as_str().expect("session").to_string();
        b
    }

    /// Send one command and wait for its result (events in between are skipped).
    async fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .expect("send to DevTools");
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .expect("DevTools answers")
                .expect("socket open")
                .expect("frame");
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(text.as_str()).expect("json");
            match v["method"].as_str() {
                Some("Runtime.exceptionThrown") => self
                    .console_errors
                    .push(v["params"]["exceptionDetails"].to_string()),
                Some("Runtime.consoleAPICalled") if v["params"]["type"] == "error" => {
                    self.console_errors.push(v["params"]["args"].to_string())
                }
                Some("Log.entryAdded") if v["params"]["entry"]["level"] == "error" => {
                    let e = &v["params"]["entry"];
                    self.console_errors
                        .push(format!("{} {}", e["text"], e["url"]))
                }
                _ => {}
            }
            if v["id"] == json!(id) {
                if let Some(err) = v.get("error") {
                    panic!("{method} failed: {err}");
                }
                return v["result"].clone();
            }
        }
    }

    pub async fn goto(&mut self, url: &str) {
        let s = self.session.clone();
        self.call(Some(&s), "Page.navigate", json!({"url": url}))
            .await;
    }

    /// Evaluate `js` in the page (promises awaited) and return its JSON value.
    pub async fn eval(&mut self, js: &str) -> Value {
        let s = self.session.clone();
        let r = self
            .call(
                Some(&s),
                "Runtime.evaluate",
                json!({"expression": js, "awaitPromise": true, "returnByValue": true}),
            )
            .await;
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("page script failed: {ex}\n{js}");
        }
        r["result"]["value"].clone()
    }

    /// Poll `condition` (a JS boolean expression) until it holds; panics with `what` after 15 s,
    /// showing the page's visible text.
    pub async fn wait_for(&mut self, condition: &str, what: &str) {
        self.wait_for_secs(condition, what, 15).await
    }

    /// [`Browser::wait_for`] with a longer deadline, for work the server does slowly on
    /// purpose (Argon2id sealing of packages), which a loaded test machine stretches further.
    #[allow(dead_code)] // not every UI test waits long
    pub async fn wait_for_secs(&mut self, condition: &str, what: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if self.eval(&format!("!!({condition})")).await == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let text = self
                    .eval("document.body ? document.body.innerText : ''")
                    .await;
                panic!("timed out waiting for {what}; page text:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Set a form field by CSS selector, as typing would (fires `input`).
    pub async fn fill(&mut self, selector: &str, value: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({s}); if (!e) return false; e.value = {v}; e.dispatchEvent(new Event('input', {{bubbles: true}})); return true; }})()",
            s = json!(selector),
            v = json!(value)
        );
        assert_eq!(self.eval(&js).await, json!(true), "no element {selector}");
    }

    pub async fn click(&mut self, selector: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({s}); if (!e) return false; e.click(); return true; }})()",
            s = json!(selector)
        );
        assert_eq!(self.eval(&js).await, json!(true), "no element {selector}");
    }

    pub async fn text(&mut self, selector: &str) -> String {
        let js = format!(
            "(() => {{ const e = document.querySelector({s}); return e ? e.textContent : null; }})()",
            s = json!(selector)
        );
        self.eval(&js)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Collect console errors, exceptions and failed loads into `console_errors`.
    #[allow(dead_code)] // used by some of the UI tests only
    pub async fn watch_console(&mut self) {
        let s = self.session.clone();
        self.call(Some(&s), "Runtime.enable", json!({})).await;
        self.call(Some(&s), "Log.enable", json!({})).await;
    }

    /// Emulate a screen of `width`×`height` CSS pixels (a phone when `mobile`).
    #[allow(dead_code)] // used by some of the UI tests only
    pub async fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        let s = self.session.clone();
        self.call(
            Some(&s),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        )
        .await;
    }

    /// Emulate `prefers-color-scheme: light|dark`.
    #[allow(dead_code)] // used by some of the UI tests only
    pub async fn color_scheme(&mut self, scheme: &str) {
        let s = self.session.clone();
        self.call(
            Some(&s),
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    /// A PNG of the whole page, saved to `path`.
    #[allow(dead_code)] // used by some of the UI tests only
    pub async fn screenshot(&mut self, path: &std::path::Path) {
        use base64::Engine;
        let s = self.session.clone();
        let r = self
            .call(
                Some(&s),
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap_or_default())
            .expect("screenshot is base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png).expect("screenshot written");
    }

    /// Run `js` in every page before its own scripts (from the next navigation on).
    #[allow(dead_code)] // used by some of the UI tests only
    pub async fn on_new_document(&mut self, js: &str) {
        let s = self.session.clone();
        self.call(Some(&s), "Page.enable", json!({})).await;
        self.call(
            Some(&s),
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": js}),
        )
        .await;
    }

    /// Problems on the current screen at the current size and scheme: serious or critical
    /// axe-core violations, elements wider than the viewport, touch targets under 44 px.
    #[allow(dead_code)] // used by some of the UI tests only
    pub async fn audit(&mut self) -> Vec<String> {
        if self.eval("typeof axe").await != json!("object") {
            let src = axe_source();
            self.eval(&format!("{src};true")).await;
        }
        let found = self.eval(CHECK_JS).await;
        found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// axe-core from tests/interop (pinned in its package.json; `npm ci` there installs it).
#[allow(dead_code)]
pub fn axe_source() -> String {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&p).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run `npm ci` in tests/interop (scripts/test does)",
            p.display()
        )
    })
}

/// Problems found on one screen in one size and scheme.
#[allow(dead_code)]
pub const CHECK_JS: &str = r#"(async () => {
  const out = [];
  const r = await axe.run(document, { resultTypes: ["violations"] });
  for (const v of r.violations) {
    if (v.impact === "serious" || v.impact === "critical")
      out.push(`axe ${v.impact} ${v.id}: ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`);
  }
  const W = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > W) out.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${W}`);
  for (const e of document.querySelectorAll("body *")) {
    const b = e.getBoundingClientRect();
    if (!b.width || !b.height || e.closest(".sr-only")) continue;
    if (b.right > W + 0.5 || b.left < -0.5) out.push(`wider than the viewport: ${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(b.left)}..${Math.round(b.right)} of ${W}`);
  }
  for (const e of document.querySelectorAll("button, select, summary, input:not([type=checkbox]):not([type=radio]), header a")) {
    const b = e.getBoundingClientRect();
    if (!b.width || !b.height) continue;
    if (b.height < 43.5 || b.width < 43.5) out.push(`touch target under 44 px: ${e.tagName.toLowerCase()} "${(e.textContent || e.name || "").trim().slice(0, 30)}" ${Math.round(b.width)}x${Math.round(b.height)}`);
  }
  return out.slice(0, 20);
})()"#;
