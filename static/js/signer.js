// The Signer tab: node status, peers and their policies, approvals, the live event log.

import { $, el, get, post, put, showError, when, short } from "./api.js";
import { refreshProtocol } from "./keyset.js";

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

export async function refreshStatus() {
  const s = await get("/api/status");
  const state = s.locked ? "locked" : s.nodeActive ? "active" : "inactive";
  $("node-state").textContent = state;
  $("node-state").dataset.state = s.nodeActive ? "ok" : "off";
  const h = s.health || {};
  $("health").textContent = s.nodeActive
    ? `${h.isHealthy ? "healthy" : "unhealthy"}${h.isConnected ? ", connected" : ", no relay connected"}; last activity ${when(h.lastActivity)}`
    : "no node";
  $("relays").textContent = (s.relays || []).join(", ");
  $("uptime").textContent = duration(s.uptimeSeconds || 0);
  $("version").textContent = `${s.version} (${s.mode}${s.tls ? ", TLS" : ""})`;
  renderRelay(s.relay);
  await refreshProtocol(s);
  return s;
}

async function refreshIdentity() {
  try {
    const [self, group] = await Promise.all([get("/api/peers/self"), get("/api/peers/group")]);
    $("share-info").textContent = short(self.pubkey);
    $("group-info").textContent = `${short(group.pubkey)} (${group.threshold} of ${group.totalShares})`;
  } catch {
    $("share-info").textContent = "not configured";
    $("group-info").textContent = "–";
  }
}

function policyToggle(peer, field) {
  const policy = peer.policy || {};
  const on = field === "allowSend" ? policy.effectiveSend ?? policy.allowSend : policy.effectiveReceive ?? policy.allowReceive;
  return el("input", {
    type: "checkbox",
    checked: !!on,
    "aria-label": `${field} ${peer.pubkey}`,
    dataset: { pubkey: peer.pubkey, field },
    onchange: async (ev) => {
      try {
        await put(`/api/peers/${peer.pubkey}/policy`, { [field]: ev.target.checked });
      } catch (e) {
        ev.target.checked = !ev.target.checked;
        showError(e);
      }
    },
  });
}

export async function refreshPeers() {
  const body = $("peers");
  let data;
  try {
    data = await get("/api/peers");
  } catch (e) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "hint" }, e.message)));
    return;
  }
  body.replaceChildren(
    ...data.peers.map((p) => {
      const cap = p.partialCap ?? p.policy?.partialCap;
      const issued = p.partialsIssued ?? 0;
      return el(
        "tr",
        { dataset: { pubkey: p.pubkey } },
        el("td", { title: p.pubkey }, p.policy?.label || short(p.pubkey)),
        el("td", { class: "online" }, p.online ? "yes" : "no"),
        el("td", {}, p.latency != null ? `${p.latency} ms` : "–"),
        el("td", {}, cap != null ? `${issued} / ${cap}` : String(issued)),
        el("td", {}, policyToggle(p, "allowSend")),
        el("td", {}, policyToggle(p, "allowReceive")),
        el("td", {}, el("button", { type: "button", onclick: () => ping(p.pubkey) }, "Ping")),
      );
    }),
  );
}

async function ping(target) {
  try {
    await post("/api/peers/ping", { target });
  } catch (e) {
    showError(e);
  }
  await refreshPeers();
}

export async function refreshApprovals() {
  const list = $("approvals");
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
  const decide = (id, verdict) => async () => {
    try {
      await post(`/api/sign/pending/${id}/${verdict}`);
    } catch (e) {
      showError(e);
    }
    await refreshApprovals();
  };
  list.replaceChildren(
    ...items.map((r) =>
      el(
        "li",
        { dataset: { id: r.id } },
        `${short(r.peer)} asks to sign ${(r.sighashes || []).map(short).join(", ")} (expires ${when(r.expiresAt)}) `,
        el("button", { type: "button", onclick: decide(r.id, "approve") }, "Approve"),
        el("button", { type: "button", class: "danger", onclick: decide(r.id, "deny") }, "Deny"),
      ),
    ),
  );
}

// The event log: reconnects with exponential backoff (1 s to 30 s, with jitter).
let socket = null;
let backoff = 1000;
const seen = new Set();

export function connectEvents() {
  if (socket) return;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${proto}//${location.host}/api/events`);
  socket.onopen = () => {
    backoff = 1000;
  };
  socket.onmessage = (m) => {
    let ev;
    try {
      ev = JSON.parse(m.data);
    } catch {
      return;
    }
    if (seen.has(ev.id)) return;
    seen.add(ev.id);
    const log = $("events");
    log.prepend(el("li", { dataset: { type: ev.type } }, `${when(ev.timestamp)} [${ev.type}] ${ev.message}`));
    while (log.children.length > 200) log.lastChild.remove();
    if (ev.type === "sign" || ev.type === "bifrost") refreshApprovals();
  };
  socket.onclose = () => {
    socket = null;
    const wait = Math.min(backoff, 30000) * (0.8 + Math.random() * 0.4);
    backoff = Math.min(backoff * 2, 30000);
    setTimeout(connectEvents, wait);
  };
}

export function initSigner() {
  $("ping-all").addEventListener("click", () => ping("all"));
  $("clear-events").addEventListener("click", () => $("events").replaceChildren());
}

export async function refreshSigner() {
  await Promise.allSettled([refreshStatus(), refreshIdentity(), refreshPeers(), refreshApprovals()]);
}
