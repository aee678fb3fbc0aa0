// "Connect apps": the NIP-46 remote signer. Pair Nostr apps with a bunker:// URI (copy it or
// scan its QR code) or by pasting the app's nostrconnect:// URI, see and edit what each app
// may do, approve or deny its requests, revoke it. Owner only. Renders into #tab-apps.

import { $, el, get, post, put, del, say, when, short } from "./api.js";

const showError = (e) => say("nip46-msg", e);
const notice = (text) => say("nip46-msg", text, true);

let socket = null;
let active = false;
let timer = null;
// The permissions being edited ({pubkey, draft}): kept across the list's refreshes (every
// NIP-46 event and the 10 s timer re-render it), so an app's request never discards an edit.
let editing = null;

const GATED = ["sign_event", "nip44_encrypt", "nip44_decrypt", "nip04_encrypt", "nip04_decrypt"];

function skeleton() {
  const root = $("tab-apps");
  if (root.childElementCount) return;
  root.append(
    el("p", { id: "nip46-msg", class: "msg", role: "alert", hidden: true }),
    el("section", {},
      el("h2", {}, "Connect a Nostr app"),
      el("p", { class: "hint" },
        "Apps sign with this group's key through igloo (NIP-46, \"Nostr Connect\"); they never see a key. ",
        "Give an app a bunker:// link (each link works once), or paste the nostrconnect:// link the app shows."),
      el("button", { type: "button", id: "nip46-bunker-new" }, "New bunker:// link"),
      el("div", { id: "nip46-bunker", hidden: true },
        el("p", {}, el("code", { id: "nip46-bunker-uri", class: "wrap" })),
        el("button", { type: "button", id: "nip46-bunker-copy" }, "Copy"),
        el("span", { id: "nip46-bunker-expires", class: "hint" }),
        el("div", { id: "nip46-bunker-qr" })),
      el("form", { id: "nip46-connect-form" },
        el("label", {}, "nostrconnect:// link from the app ",
          el("input", { name: "uri", id: "nip46-connect-uri", autocomplete: "off", spellcheck: "false", placeholder: "nostrconnect://…" })),
        el("button", { type: "submit" }, "Connect"))),
    el("section", {},
      el("h2", {}, "Waiting for approval"),
      el("p", { id: "nip46-pending-none", class: "hint" }, "Nothing is waiting."),
      el("ul", { id: "nip46-pending" })),
    el("section", {},
      el("h2", {}, "Connected apps"),
      el("table", { class: "cards" },
        el("thead", {}, el("tr", {}, ...["App", "Key", "Allowed without asking", "Last used", "Actions"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", { id: "nip46-sessions" }))),
    el("section", {},
      el("h2", {}, "History"),
      el("ul", { id: "nip46-history" })),
    el("section", {},
      el("h2", {}, "Relays"),
      el("p", { class: "hint" }, "Where apps reach this signer. Empty: the node's relays and the built-in relay."),
      el("form", { id: "nip46-relays-form" },
        el("label", {}, "One per line ", el("textarea", { name: "relays", id: "nip46-relays", rows: "3", spellcheck: "false" })),
        el("button", { type: "submit" }, "Save relays")),
      el("p", { id: "nip46-transport", class: "hint" })),
  );
  $("nip46-bunker-new").addEventListener("click", () => newBunker().catch(showError));
  $("nip46-bunker-copy").addEventListener("click", copyBunker);
  $("nip46-connect-form").addEventListener("submit", (e) => {
    e.preventDefault();
    connect().catch(showError);
  });
  $("nip46-relays-form").addEventListener("submit", (e) => {
    e.preventDefault();
    saveRelays().catch(showError);
  });
}

async function newBunker() {
  const b = await post("/api/nip46/bunker");
  $("nip46-bunker-uri").textContent = b.uri;
  $("nip46-bunker-expires").textContent = ` Works once, until ${when(b.expires_at)}.`;
  $("nip46-bunker").hidden = false;
  const qr = $("nip46-bunker-qr");
  qr.replaceChildren();
  // A QR code when this igloo has the QR endpoint; the link as text otherwise.
  try {
    const res = await fetch("/api/qr", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: b.uri }),
    });
    if (res.ok && (res.headers.get("content-type") || "").includes("svg")) {
      const img = el("img", { alt: "QR code of the bunker link", width: "240", height: "240" });
      // A data: URL, which the CSP allows (img-src 'self' data:); a blob: URL is refused.
      img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(await res.text())}`;
      qr.append(img);
    }
  } catch {
    // No QR: the text is enough.
  }
}

async function copyBunker() {
  const text = $("nip46-bunker-uri").textContent;
  try {
    await navigator.clipboard.writeText(text);
    notice("Copied the bunker link.");
  } catch {
    const r = document.createRange();
    r.selectNodeContents($("nip46-bunker-uri"));
    getSelection().removeAllRanges();
    getSelection().addRange(r);
    notice("Select and copy the link by hand.");
  }
}

async function connect() {
  const input = $("nip46-connect-uri");
  const uri = input.value.trim();
  if (!uri) return;
  const r = await post("/api/nip46/connect", { uri });
  input.value = "";
  notice(`Connected ${r.session.profile?.name || short(r.session.pubkey)}.`);
  await refresh();
}

async function saveRelays() {
  const lines = $("nip46-relays").value.split(/\s+/).map((s) => s.trim()).filter(Boolean);
  await put("/api/nip46/relays", { relays: lines.length ? lines : null });
  notice("Relays saved.");
  await refresh();
}

function permsText(policy) {
  const m = Object.keys(policy?.methods || {}).filter((k) => policy.methods[k]);
  const kinds = Object.keys(policy?.kinds || {}).filter((k) => policy.kinds[k]);
  const out = [];
  for (const name of m) {
    if (name === "sign_event") {
      if (kinds.includes("*")) out.push("sign_event");
      for (const k of kinds.filter((k) => k !== "*")) out.push(`sign_event:${k}`);
    } else out.push(name);
  }
  return out.join(",");
}

// The policy patch turning `policy` into exactly the permissions listed in `text`.
function patchFor(policy, text) {
  const methods = {};
  const kinds = {};
  for (const k of Object.keys(policy?.methods || {})) methods[k] = false;
  for (const k of Object.keys(policy?.kinds || {})) kinds[k] = false;
  for (const p of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const [name, kind] = p.split(":");
    if (name === "sign_event") {
      methods.sign_event = true;
      kinds[kind === undefined ? "*" : kind] = true;
    } else methods[name] = true;
  }
  return { methods, kinds };
}

function sessionRow(s) {
  const name = s.profile?.name || "(unnamed app)";
  const perms = permsText(s.policy);
  const edit = el("button", { type: "button", dataset: { pubkey: s.pubkey } }, "Edit");
  const revoke = el("button", { type: "button", class: "danger", dataset: { pubkey: s.pubkey } }, "Revoke");
  const permsCell = el("td", { class: "perms", "data-label": "Allowed without asking" }, perms || "nothing (asks every time)");
  const openEditor = () => {
    const input = el("input", { value: editing.draft, size: "40", "aria-label": `Permissions of ${name}`, placeholder: GATED.join(",") });
    input.addEventListener("input", () => {
      if (editing?.pubkey === s.pubkey) editing.draft = input.value;
    });
    const save = el("button", { type: "button" }, "Save");
    save.addEventListener("click", async () => {
      try {
        await put(`/api/nip46/sessions/${s.pubkey}/policy`, patchFor(s.policy, input.value));
        editing = null;
        await refresh();
      } catch (e) {
        showError(e);
      }
    });
    permsCell.replaceChildren(input, save);
    return input;
  };
  edit.addEventListener("click", () => {
    editing = { pubkey: s.pubkey, draft: perms };
    openEditor().focus();
  });
  if (editing?.pubkey === s.pubkey) openEditor();
  revoke.addEventListener("click", async () => {
    if (!confirm(`Revoke ${name}? It can never sign through this node again.`)) return;
    try {
      await del(`/api/nip46/sessions/${s.pubkey}`);
      await refresh();
    } catch (e) {
      showError(e);
    }
  });
  return el("tr", { dataset: { pubkey: s.pubkey } },
    el("td", { "data-label": "App" }, name, s.profile?.url ? el("div", { class: "hint" }, s.profile.url) : ""),
    el("td", { "data-label": "Key" }, el("code", { title: s.pubkey }, short(s.pubkey))),
    permsCell,
    el("td", { "data-label": "Last used" }, when(s.last_active_at)),
    el("td", { "data-label": "Actions" }, edit, " ", revoke));
}

function pendingItem(r, names) {
  const what = r.method === "sign_event"
    ? `sign an event of kind ${r.kind ?? "?"}`
    : r.method.replace("_", " ");
  const approve = el("button", { type: "button", class: "approve" }, "Approve");
  const deny = el("button", { type: "button", class: "deny danger" }, "Deny");
  const decide = (action) => async () => {
    try {
      await post("/api/nip46/requests", { id: r.id, action });
      await refresh();
    } catch (e) {
      showError(e);
    }
  };
  approve.addEventListener("click", decide("approve"));
  deny.addEventListener("click", decide("deny"));
  return el("li", { dataset: { id: r.id } },
    el("strong", {}, names.get(r.session_pubkey) || short(r.session_pubkey)), ` wants to ${what}`,
    r.preview ? el("blockquote", { class: "preview" }, r.preview) : "",
    el("span", { class: "hint" }, ` until ${when(r.expires_at)} `),
    approve, " ", deny);
}

export async function refresh() {
  const [sessions, pending, history, relays, transport] = await Promise.all([
    get("/api/nip46/sessions"),
    get("/api/nip46/requests?status=pending"),
    get("/api/nip46/history"),
    get("/api/nip46/relays"),
    get("/api/nip46/transport"),
  ]);
  const names = new Map(history.sessions.map((s) => [s.pubkey, s.profile?.name]));
  const typing = !!document.activeElement?.closest?.("#nip46-sessions td.perms");
  $("nip46-sessions").replaceChildren(...sessions.sessions.map(sessionRow));
  if (typing) document.querySelector("#nip46-sessions td.perms input")?.focus();
  $("nip46-pending").replaceChildren(...pending.requests.map((r) => pendingItem(r, names)));
  $("nip46-pending-none").hidden = pending.requests.length > 0;
  const items = [];
  for (const s of history.sessions) {
    for (const h of s.history.slice(0, 10)) {
      items.push({ at: h.at, text: `${s.profile?.name || short(s.pubkey)}: ${h.method}${h.kind != null ? ` (kind ${h.kind})` : ""} → ${h.outcome}${s.status === "revoked" ? " [revoked]" : ""}` });
    }
  }
  items.sort((a, b) => b.at - a.at);
  $("nip46-history").replaceChildren(...items.slice(0, 30).map((i) => el("li", {}, `${when(i.at * 1000)} ${i.text}`)));
  const ta = $("nip46-relays");
  if (document.activeElement !== ta) ta.value = (relays.relays || []).join("\n");
  const up = (transport.relay_states || []).filter((r) => r.connected).length;
  // Idle until an app is paired or a bunker:// link is made: say so rather than "0 connected".
  $("nip46-transport").textContent = transport.running
    ? `Signer key ${short(transport.pubkey || "")} · ${up} of ${transport.relays.length} relays connected`
    : `Signer key ${short(transport.pubkey || "")} · not listening until an app is paired`;
}

function listen() {
  if (socket || !active) return;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${proto}//${location.host}/api/events`);
  socket.onmessage = (m) => {
    try {
      if (JSON.parse(m.data).type === "nip46") refresh().catch(showError);
    } catch {
      // Not JSON: ignore.
    }
  };
  socket.onclose = () => {
    socket = null;
    if (active) setTimeout(listen, 3000);
  };
}

export function enterApps() {
  skeleton();
  active = true;
  listen();
  refresh().catch(showError);
  // Expiry is not an event the server sends per second: refresh now and then as well.
  clearInterval(timer);
  timer = setInterval(() => refresh().catch(() => {}), 10000);
}

// Leaving the screen (or signing out, `wipe`) forgets the bunker link: its secret works once.
export function leaveApps(wipe = false) {
  active = false;
  editing = null;
  clearInterval(timer);
  timer = null;
  if (socket) socket.close();
  const uri = $("nip46-bunker-uri");
  if (uri) {
    uri.textContent = "";
    $("nip46-bunker-qr").replaceChildren();
    $("nip46-bunker").hidden = true;
  }
  if (wipe && $("tab-apps")) $("tab-apps").replaceChildren();
}
