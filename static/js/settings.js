// The Settings tab: relays (add/remove, with their live connection state), the node settings
// of /api/env (validated by the server, its messages shown as they are), the password; and
// the keyset tab's v1 credentials form, loaded from /api/user/credentials.

import { $, el, get, post, put, say, formData, me } from "./api.js";
import { refreshStatus, relayStates, findRelayState, relayState } from "./signer.js";

let relays = [];
let envValues = {};

export async function loadCredentials() {
  const form = $("credentials-form");
  if (!me.dbUser) return;
  try {
    const env = await get("/api/env");
    if (!env.hasCredentials) {
      form.reset();
      form.relays.value = (env.RELAYS || []).join("\n");
      $("credentials-state").textContent = "No keyset stored yet.";
      return;
    }
    const c = await get("/api/user/credentials");
    form.group_name.value = c.group_name || "";
    // Credentials are never sent back to the page; an empty field keeps the stored value.
    form.group_cred.value = "";
    form.share_cred.value = "";
    form.group_cred.placeholder = c.hasGroupCredential ? "saved (leave empty to keep)" : "bfgroup1…";
    form.share_cred.placeholder = c.hasShareCredential ? "saved (leave empty to keep)" : "bfshare1…";
    form.relays.value = (c.relays || []).join("\n");
    $("credentials-state").textContent = c.savedAt ? `Saved ${new Date(c.savedAt).toLocaleString()}.` : "";
  } catch (e) {
    if (e.status === 404) $("credentials-state").textContent = "No keyset stored yet.";
    else if (e.status !== 401) say(form, e);
  }
}

function renderRelays() {
  const states = relayStates();
  const list = $("relay-list");
  if (!relays.length) return list.replaceChildren(el("li", { class: "hint" }, "No relays: the node cannot reach its peers."));
  list.replaceChildren(
    ...relays.map((url) => {
      const { text, state } = relayState(findRelayState(states, url));
      return el(
        "li",
        { class: "card relay", dataset: { url } },
        el("span", { class: "mono" }, url),
        el("span", { class: "relay-state", dataset: { state } }, text),
        el("button", { type: "button", class: "danger", "aria-label": `Remove relay ${url}`, onclick: () => saveRelays(relays.filter((r) => r !== url), `Removed ${url}.`) }, "Remove"),
      );
    }),
  );
}

async function saveRelays(next, done) {
  const form = $("relay-add");
  try {
    const r = await put("/api/user/relays", { relays: next });
    relays = r.relays || next;
    say(form, `${done} The node restarts with ${relays.length} relay${relays.length === 1 ? "" : "s"}.`, true);
    form.reset();
  } catch (e) {
    say(form, e);
  }
  await refreshStatus().catch(() => {});
  renderRelays();
}

async function loadRelays() {
  try {
    if (!me.dbUser) throw new Error("not a database user");
    relays = (await get("/api/user/relays")).relays || [];
  } catch {
    const s = await get("/api/status").catch(() => ({}));
    relays = s.relays || [];
  }
  await refreshStatus().catch(() => {});
  renderRelays();
}

async function loadEnv() {
  const form = $("env-form");
  try {
    envValues = await get("/api/env");
  } catch (e) {
    say(form, e);
    return;
  }
  for (const input of form.querySelectorAll("input")) {
    const v = envValues[input.name];
    if (input.type === "checkbox") input.checked = String(v) === "true";
    else input.value = v == null ? "" : String(v);
  }
}

export async function enterSettings() {
  const panel = $("tab-settings");
  panel.setAttribute("aria-busy", "true");
  await Promise.allSettled([loadRelays(), loadEnv()]);
  panel.setAttribute("aria-busy", "false");
}

export function initSettings() {
  $("relay-add").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const url = form.url.value.trim();
    if (!/^wss?:\/\/[^\s/]+/i.test(url)) return say(form, "A relay address starts with wss:// (or ws:// on a local network).");
    if (relays.includes(url)) return say(form, `${url} is already in the list.`);
    await saveRelays([...relays, url], `Added ${url}.`);
  });

  $("env-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const body = {};
    for (const input of form.querySelectorAll("input")) {
      const v = input.type === "checkbox" ? String(input.checked) : input.value.trim();
      const was = envValues[input.name] == null ? "" : String(envValues[input.name]);
      if (v !== was) body[input.name] = v;
    }
    if (!Object.keys(body).length) return say(form, "Nothing changed.", true);
    try {
      const r = await post("/api/env", body);
      const parts = [r.message || "Saved."];
      if (r.appliedKeys && r.appliedKeys.length) parts.push(`In effect now: ${r.appliedKeys.join(", ")}.`);
      if (r.restartRequiredKeys && r.restartRequiredKeys.length) parts.push(`From the next start: ${r.restartRequiredKeys.join(", ")}.`);
      if (r.rejectedKeys && r.rejectedKeys.length) parts.push(`Not accepted: ${r.rejectedKeys.join(", ")}.`);
      say(form, parts.join(" "), !(r.rejectedKeys && r.rejectedKeys.length));
      await loadEnv();
    } catch (e) {
      say(form, e);
    }
  });

  $("password-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    try {
      const r = await post("/api/user/password", formData(form));
      form.reset();
      say(form, r && r.message ? r.message : "Password changed.", true);
    } catch (e) {
      form.reset();
      say(form, e);
    }
  });
}
