// The Signer tab: node status, peers and their policies, approvals, the live activity log.
// The event stream (/api/events) drives peers' online state, approvals and the log; the
// status (relay connections, health) is refreshed every 15 s only while this tab is shown.

import { $, el, get, post, put, del, say, when, ago, short, npub } from "./api.js";
import { refreshProtocol } from "./keyset.js";

// bifrost v1 leaks a share to anyone holding 3 partial signatures for chosen sessions.
const V1_LEAK_THRESHOLD = 3;

let status = null;
let peers = [];
let pingBusy = new Set();
let openPolicy = null;

function duration(s) {
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
}

function renderRelay(stats) {
  const dl = $("relay-stats");
  dl.replaceChildren();
  const rows = stats ? Object.entries(stats).filter(([, v]) => typeof v !== "object") : [["State", "disabled"]];
  for (const [k, v] of rows) dl.append(el("dt", {}, k), el("dd", {}, String(v)));
}

export function relayStates() {
  return (status && status.relayStates) || [];
}

// The state of relay `url` in `states` (a trailing slash does not matter).
export function findRelayState(states, url) {
  const bare = (u) => u.replace(/\/$/, "");
  return states.find((s) => s.url === url || bare(s.url) === bare(url));
}

// A relay's connection in plain words, and its data-state for colour: ok, slow or off.
// `slow`: its last ping took a second or more, or one has waited that long.
export function relayState(st) {
  if (!st) return { text: "not in use", state: "off" };
  if (!st.connected) return { text: `not connected${st.lastError ? `: ${st.lastError}` : ""}`, state: "off" };
  if (st.slow) {
    const took = st.rttMs >= 1000 ? `about ${(st.rttMs / 1000).toFixed(1)} s` : "over 1 s";
    return { text: `connected but slow — replies take ${took}`, state: "slow" };
  }
  return { text: `connected${st.rttMs != null ? `, ${st.rttMs} ms` : ""}`, state: "ok" };
}

export async function refreshStatus() {
  const s = await get("/api/status");
  status = s;
  const state = s.locked ? "locked" : s.nodeActive ? "active" : "inactive";
  $("node-state").textContent = state;
  $("node-state").dataset.state = s.nodeActive ? "ok" : "off";
  $("locked-banner").hidden = !s.locked;
  $("no-keyset").hidden = s.locked || s.nodeActive || s.hasCredentials !== false;
  const h = s.health || {};
  $("health").textContent = s.nodeActive
    ? `${h.isHealthy ? "healthy" : "unhealthy"}${h.isConnected ? ", connected" : ", no relay connected"}; last activity ${when(h.lastActivity)}`
    : "no node running";
  const states = s.relayStates || [];
  $("relays").replaceChildren(
    ...(s.relays || []).map((r) => {
      const st = findRelayState(states, r);
      const line = el("span", { class: "relay-line" }, el("span", { class: "mono" }, r));
      if (st) {
        const { text, state } = relayState(st);
        line.append(" ", el("span", { dataset: { state } }, `(${text})`));
      }
      return line;
    }),
  );
  $("uptime").textContent = duration(s.uptimeSeconds || 0);
  $("version").textContent = `${s.version} (${s.mode}${s.tls ? ", TLS" : ""})`;
  renderRelay(s.relay);
  await refreshProtocol(s);
  return s;
}

async function refreshIdentity() {
  if (!status || !status.nodeActive) {
    $("share-info").textContent = "–";
    $("group-info").replaceChildren("–");
    return;
  }
  try {
    const [self, group] = await Promise.all([get("/api/peers/self"), get("/api/peers/group")]);
    $("share-info").textContent = short(self.pubkey);
    $("group-info").replaceChildren(
      el("span", { class: "mono" }, npub(group.pubkey) || short(group.pubkey)),
      el("br"),
      el("span", { class: "hint" }, `${short(group.pubkey)}, ${group.threshold} of ${group.totalShares} shares sign`),
    );
  } catch {
    $("share-info").textContent = "not configured";
    $("group-info").replaceChildren("–");
  }
}

function peerName(p) {
  return (p.policy && p.policy.label) || short(p.pubkey);
}

function leakCount(p) {
  return status && status.protocol === "v1" ? p.partialsIssued || 0 : 0;
}

function policyForm(p) {
  const pol = p.policy || {};
  const name = peerName(p);
  const form = el(
    "form",
    { class: "policy", "aria-label": `Policy for ${name}` },
    el("label", { class: "inline" }, el("input", { type: "checkbox", name: "allowSend", checked: !!(pol.effectiveSend ?? pol.allowSend) }), "We may ask it to sign"),
    el("label", { class: "inline" }, el("input", { type: "checkbox", name: "allowReceive", checked: !!(pol.effectiveReceive ?? pol.allowReceive) }), "We answer its sign requests"),
    el("label", {}, "Most partial signatures it may get (empty: no cap) ", el("input", { type: "number", name: "partialCap", min: 0, value: p.partialCap ?? pol.partialCap ?? "" })),
    el("label", {}, "Label ", el("input", { name: "label", maxlength: 64, value: pol.label || "" })),
    el("label", {}, "Note ", el("input", { name: "note", maxlength: 256, value: pol.note || "" })),
    el("p", { class: "msg", role: "alert", hidden: true }),
    el(
      "div",
      { class: "buttons" },
      el("button", { type: "submit" }, "Save policy"),
      el("button", { type: "button", class: "reset-policy", "aria-label": `Reset to default: the policy of ${name}` }, "Reset to default"),
    ),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const cap = form.partialCap.value.trim();
    const body = {
      allowSend: form.allowSend.checked,
      allowReceive: form.allowReceive.checked,
      label: form.label.value.trim() || null,
      note: form.note.value.trim() || null,
      partialCap: cap === "" ? null : Number(cap),
    };
    try {
      await put(`/api/peers/${p.pubkey}/policy`, body);
      openPolicy = null;
      await refreshPeers();
      say("peers-msg", `Policy of ${body.label || short(p.pubkey)} saved.`, true);
    } catch (e) {
      say(form, e);
    }
  });
  form.querySelector(".reset-policy").addEventListener("click", async () => {
    try {
      const r = await del(`/api/peers/${p.pubkey}/policy`);
      openPolicy = null;
      await refreshPeers();
      say("peers-msg", r && r.removed ? `Policy of ${name} reset to the default.` : `${name} already had the default policy.`, true);
    } catch (e) {
      say(form, e);
    }
  });
  return form;
}

function renderPeers() {
  const body = $("peers");
  const warn = peers.filter((p) => leakCount(p) >= V1_LEAK_THRESHOLD);
  $("leak-warning").hidden = !warn.length;
  $("leak-warning").textContent = warn.length
    ? `Danger: ${warn.map(peerName).join(", ")} got ${V1_LEAK_THRESHOLD} or more partial signatures from this share. With bifrost v1 that can be enough to rebuild this share. If you do not fully trust them, make a new keyset (or move to V2) and stop using this one.`
    : "";
  if (!peers.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "hint" }, status && status.nodeActive ? "No peers." : "No node running.")));
    return;
  }
  const rows = [];
  for (const p of peers) {
    const name = peerName(p);
    const cap = p.partialCap ?? p.policy?.partialCap;
    const issued = p.partialsIssued ?? 0;
    const leak = leakCount(p);
    const level = leak >= V1_LEAK_THRESHOLD ? "danger" : leak === V1_LEAK_THRESHOLD - 1 ? "caution" : "";
    const busy = pingBusy.has(p.pubkey);
    const pol = p.policy || {};
    rows.push(
      el(
        "tr",
        { dataset: { pubkey: p.pubkey } },
        el("td", { "data-label": "Peer", title: p.pubkey }, el("strong", {}, name), pol.note ? el("span", { class: "hint" }, ` ${pol.note}`) : ""),
        el("td", { "data-label": "State", class: "online", dataset: { state: p.online ? "ok" : "off" } }, p.online ? "online" : "offline",
          el("span", { class: "hint" }, ` · ${(pol.effectiveReceive ?? pol.allowReceive) ? "we answer it" : "we do not answer it"}`)),
        el("td", { "data-label": "Last seen" }, ago(p.lastSeen)),
        el("td", { "data-label": "Latency" }, p.latency != null ? `${p.latency} ms` : "–"),
        el("td", { "data-label": "Partials", class: level ? `partials ${level}` : "partials" }, cap != null ? `${issued} of at most ${cap}` : String(issued)),
        el(
          "td",
          { "data-label": "Actions" },
          el("div", { class: "buttons" },
            el("button", { type: "button", class: "ping", "aria-label": `Ping ${name}`, "aria-busy": String(busy), disabled: busy, onclick: () => ping(p.pubkey) }, busy ? "Pinging…" : "Ping"),
            el("button", { type: "button", class: "edit-policy", "aria-expanded": String(openPolicy === p.pubkey), "aria-label": `Policy of ${name}`, onclick: () => {
              openPolicy = openPolicy === p.pubkey ? null : p.pubkey;
              renderPeers();
            } }, "Policy")),
        ),
      ),
    );
    if (openPolicy === p.pubkey) rows.push(el("tr", { class: "policy-row" }, el("td", { colspan: 6 }, policyForm(p))));
  }
  body.replaceChildren(...rows);
}

export async function refreshPeers() {
  if (!status || !status.nodeActive) {
    peers = [];
    renderPeers();
    return;
  }
  try {
    peers = (await get("/api/peers")).peers || [];
  } catch (e) {
    peers = [];
    say("peers-msg", e);
  }
  renderPeers();
}

async function ping(target) {
  say("peers-msg", null);
  const targets = target === "all" ? peers.map((p) => p.pubkey) : [target];
  targets.forEach((t) => pingBusy.add(t));
  $("ping-all").disabled = true;
  $("ping-all").setAttribute("aria-busy", "true");
  renderPeers();
  try {
    const r = await post("/api/peers/ping", { target });
    const results = r.results || [r];
    for (const x of results) {
      const p = peers.find((q) => q.pubkey === x.pubkey);
      if (!p) continue;
      p.online = !!x.success;
      if (x.latency != null) p.latency = x.latency;
      if (x.success) p.lastSeen = new Date().toISOString();
    }
    say("peers-msg", null);
  } catch (e) {
    say("peers-msg", e);
  } finally {
    targets.forEach((t) => pingBusy.delete(t));
    $("ping-all").disabled = false;
    $("ping-all").setAttribute("aria-busy", "false");
    renderPeers();
  }
}

export async function refreshApprovals() {
  const list = $("approvals");
  if (!status || !status.nodeActive) {
    $("approvals-section").hidden = true;
    return;
  }
  let data;
  try {
    data = await get("/api/sign/pending");
  } catch {
    $("approvals-section").hidden = true;
    return;
  }
  $("approvals-section").hidden = false;
  const items = data.pending || data.requests || [];
  if (!items.length) {
    list.replaceChildren(el("li", { class: "hint" }, "None."));
    return;
  }
  const decide = (r, verdict) => async () => {
    try {
      const res = (await post(`/api/sign/pending/${r.id}/${verdict}`)) || {};
      const who = peerName(peers.find((q) => q.pubkey === r.peer) || { pubkey: r.peer });
      if (res.approved) say("approvals-msg", `Approved: ${who} now holds ${res.partialsIssued} partial signature${res.partialsIssued === 1 ? "" : "s"} from this share.`, true);
      else if (res.denied) say("approvals-msg", `Denied the request from ${who}.`, true);
      else say("approvals-msg", res.message || "The server did not confirm the decision.");
    } catch (e) {
      say("approvals-msg", e);
    }
    await refreshApprovals();
    await refreshPeers();
  };
  list.replaceChildren(
    ...items.map((r) => {
      const p = peers.find((q) => q.pubkey === r.peer || q.pubkey.endsWith(r.peer || "-"));
      const who = p ? peerName(p) : short(r.peer);
      return el(
        "li",
        { dataset: { id: r.id }, class: "card" },
        el("p", {}, `${who} asks this node to sign ${(r.sighashes || []).length || 1} message(s): ${(r.sighashes || []).map(short).join(", ")}`),
        el("p", { class: "hint" }, `Expires ${when(r.expiresAt)}.`),
        el("div", { class: "buttons" },
          el("button", { type: "button", class: "approve", "aria-label": `Approve the request from ${who}`, onclick: decide(r, "approve") }, "Approve"),
          el("button", { type: "button", class: "danger deny", "aria-label": `Deny the request from ${who}`, onclick: decide(r, "deny") }, "Deny")),
      );
    }),
  );
}

// ---- Activity log ----
const KINDS = {
  system: ["Connection", "node"],
  info: ["Info", "node"],
  ready: ["Node ready", "node"],
  warn: ["Warning", "problem"],
  error: ["Error", "problem"],
  bifrost: ["Signer", "sign"],
  sign: ["Signing", "sign"],
  ecdh: ["Encryption", "sign"],
  "peer-status-internal": ["Peer", "peer"],
  "peer-ping-internal": ["Peer", "peer"],
};
const log = [];
const seen = new Set();

function kind(type) {
  return KINDS[type] || ["Event", "node"];
}

function entry(ev) {
  const [label, group] = kind(ev.type);
  const summary = el("summary", {}, el("time", { datetime: ev.timestamp || "" }, ev.timestamp ? new Date(ev.timestamp).toLocaleTimeString() : ""), " ", el("span", { class: `tag ${group}` }, label), " ", ev.message || "");
  const details = ev.data ? el("pre", {}, JSON.stringify(ev.data, null, 2)) : el("p", { class: "hint" }, "No details.");
  return el("li", { dataset: { type: group } }, el("details", {}, summary, details));
}

function renderLog() {
  const f = $("event-filter").value;
  const items = log.filter((ev) => !f || kind(ev.type)[1] === f).slice(0, 200);
  $("events").replaceChildren(...items.map(entry));
}

function onEvent(ev) {
  if (ev.id != null && seen.has(ev.id)) return;
  if (ev.id != null) seen.add(ev.id);
  log.unshift(ev);
  if (log.length > 500) log.length = 500;
  const f = $("event-filter").value;
  if (!f || kind(ev.type)[1] === f) {
    $("events").prepend(entry(ev));
    while ($("events").children.length > 200) $("events").lastChild.remove();
  }
  const group = kind(ev.type)[1];
  if (ev.type === "peer-status-internal" && ev.data && ev.data.pubkey) {
    const p = peers.find((q) => q.pubkey === ev.data.pubkey || q.pubkey.endsWith(ev.data.pubkey));
    if (p) {
      p.online = ev.data.status === "online";
      if (p.online) p.lastSeen = ev.timestamp || new Date().toISOString();
      renderPeers();
    }
  } else if (ev.type === "ready" || (group === "node" && /node (started|stopped)/i.test(ev.message || ""))) {
    refreshSigner();
  } else if (group === "sign") {
    refreshApprovals();
    refreshPeers();
  }
}

// The event stream: reconnects with exponential backoff (1 s to 30 s, with jitter) while
// signed in; stopLive() closes it for good.
let socket = null;
let backoff = 1000;
let live = false;
let retry = null;
let statusTimer = null;

function connectEvents() {
  if (socket || !live) return;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/api/events`);
  socket = ws;
  ws.onopen = () => {
    backoff = 1000;
  };
  ws.onmessage = (m) => {
    let ev;
    try {
      ev = JSON.parse(m.data);
    } catch {
      return;
    }
    onEvent(ev);
  };
  ws.onclose = () => {
    if (socket === ws) socket = null;
    if (!live) return;
    const wait = Math.min(backoff, 30000) * (0.8 + Math.random() * 0.4);
    backoff = Math.min(backoff * 2, 30000);
    retry = setTimeout(async () => {
      // A closed stream may mean the session ended: any signed-in call then answers 401.
      try {
        await get("/api/env").catch((e) => {
          if (e.status === 401) throw e;
        });
      } catch {
        return;
      }
      connectEvents();
    }, wait);
  };
}

export function startLive() {
  live = true;
  connectEvents();
  clearInterval(statusTimer);
  statusTimer = setInterval(() => {
    if (!document.hidden && !$("tab-signer").hidden) refreshStatus().catch(() => {});
  }, 15000);
}

export function stopLive() {
  live = false;
  clearTimeout(retry);
  clearInterval(statusTimer);
  if (socket) {
    const s = socket;
    socket = null;
    s.onclose = null;
    s.close();
  }
}

// Forgets the signed-in user's view: log, peers, approvals.
export function wipeSigner() {
  log.length = 0;
  seen.clear();
  peers = [];
  status = null;
  openPolicy = null;
  pingBusy = new Set();
  first = true;
  for (const id of ["events", "peers", "approvals"]) $(id).replaceChildren();
}

export function initSigner() {
  $("ping-all").addEventListener("click", () => ping("all"));
  $("clear-events").addEventListener("click", () => {
    log.length = 0;
    renderLog();
  });
  $("event-filter").addEventListener("change", renderLog);
}

let first = true;
export async function refreshSigner() {
  try {
    await refreshStatus();
  } catch {
    return;
  }
  await Promise.allSettled([refreshIdentity(), refreshPeers().then(refreshApprovals)]);
  // Peers are pinged once when the signer is first shown, so their state is fresh.
  if (first && status && status.nodeActive && peers.length) {
    first = false;
    ping("all");
  }
}
