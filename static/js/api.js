// One way to call the API: JSON in and out, the session cookie sent, errors as ApiError.
// A 401 from any call made while signed in ends the session in the page (see onSessionEnd).

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    let msg = (body && (body.message || body.error)) || `The server answered ${status}.`;
    if (status === 429) {
      const s = Number(retryAfter);
      const wait = Number.isFinite(s) && s > 0 ? s : null;
      if (wait) msg = msg.replace(/\s*Try again later\.?$/, "");
      msg += wait
        ? ` Try again in ${wait < 90 ? `${Math.ceil(wait)} seconds` : `${Math.ceil(wait / 60)} minutes`} (after ${new Date(Date.now() + wait * 1000).toLocaleTimeString()}).`
        : " Try again later.";
    }
    super(msg);
    this.status = status;
    this.body = body;
  }
}

// Who is signed in: { dbUser, admin } (set by app.js; database-user routes answer 401 to an
// API-key session, which would end it, so they are called only for database users).
export const me = { dbUser: false, admin: false };

let sessionEnd = null;
// Called with the error when a signed-in call is answered 401.
export function onSessionEnd(fn) {
  sessionEnd = fn;
}

// Signed-in calls in flight, aborted when the session ends in the page: none of them lands
// after the wipe (a refused one would only end a session already ended, or show its error).
let calls = new AbortController();
export function abortCalls() {
  calls.abort();
  calls = new AbortController();
}

// opts.auth === false: a call that may be refused without ending the session (log in, set up, unlock).
export async function api(method, path, body, headers = {}, opts = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (opts.auth !== false) init.signal = calls.signal;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e && e.name === "AbortError") throw aborted();
    throw new ApiError(0, { message: "igloo cannot be reached. Check the connection and try again." });
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    // Not JSON (e.g. an empty body): keep null.
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data, res.headers.get("Retry-After"));
    if (res.status === 401 && opts.auth !== false && sessionEnd) {
      // An API key outside its scope also gets 401; the session itself is still alive then.
      if (await stillSignedIn()) {
        throw new ApiError(401, { error: "This API key's scope does not allow this. Sign in with an admin key or as a user." });
      }
      sessionEnd(err);
    }
    throw err;
  }
  return data;
}

// The error of a call cut off by the end of the session: nothing to show (say() ignores it).
function aborted() {
  const e = new ApiError(0, { message: " " });
  e.aborted = true;
  return e;
}

async function stillSignedIn() {
  try {
    const res = await fetch("/api/auth/status", { credentials: "same-origin", headers: { Accept: "application/json" } });
    return res.ok && (await res.json()).authenticated === true;
  } catch {
    return false;
  }
}

export const get = (path, opts) => api("GET", path, undefined, {}, opts);
export const post = (path, body, headers, opts) => api("POST", path, body ?? {}, headers, opts);
export const put = (path, body) => api("PUT", path, body ?? {});
export const del = (path, body) => api("DELETE", path, body);

// Small DOM helpers shared by the views.
export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, "");
    else if (v !== false && v != null) node.setAttribute(k, String(v));
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return node;
}

// The message line of a form (or of the element with that id): an error, a success the
// server reported, or nothing. Errors are scrolled into view.
export function say(where, what, ok = false) {
  if (what && what.aborted) return;
  const host = typeof where === "string" ? $(where) : where;
  if (!host) return;
  const p = host.classList && host.classList.contains("msg") ? host : host.querySelector(".msg");
  if (!p) return;
  const text = what ? (typeof what === "string" ? what : what.message || String(what)) : "";
  p.textContent = text;
  p.hidden = !text;
  p.classList.toggle("ok", !!text && ok);
  p.classList.toggle("err", !!text && !ok);
  if (text && !ok) p.scrollIntoView({ block: "center", behavior: "instant" });
}

// Clears every message line in the page.
export function clearMessages() {
  for (const p of document.querySelectorAll(".msg")) {
    p.textContent = "";
    p.hidden = true;
  }
}

export function formData(form) {
  return Object.fromEntries(new FormData(form).entries());
}

export function when(iso) {
  if (!iso) return "never";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export function ago(iso) {
  if (!iso) return "never";
  const s = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (!Number.isFinite(s)) return String(iso);
  if (s < 5) return "just now";
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return when(iso);
}

export function short(hex) {
  return hex && hex.length > 20 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex || "";
}

// ---- bech32 (NIP-19 npub/nsec): the group key as npub, and new keysets' nsec ----
const CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
function polymod(values) {
  const G = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const b = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((b >> i) & 1) chk ^= G[i];
  }
  return chk;
}
export function bech32(hrp, bytes) {
  const data = [];
  let acc = 0, bits = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      data.push((acc >> bits) & 31);
    }
  }
  if (bits) data.push((acc << (5 - bits)) & 31);
  const exp = [...hrp].map((c) => c.charCodeAt(0) >> 5).concat([0], [...hrp].map((c) => c.charCodeAt(0) & 31));
  const mod = polymod(exp.concat(data, [0, 0, 0, 0, 0, 0])) ^ 1;
  const chk = [0, 1, 2, 3, 4, 5].map((i) => (mod >> (5 * (5 - i))) & 31);
  return hrp + "1" + data.concat(chk).map((d) => CHARSET[d]).join("");
}
export function hexBytes(hex) {
  return new Uint8Array((hex.match(/../g) || []).map((h) => parseInt(h, 16)));
}
// A 33-byte compressed or 32-byte x-only key as npub.
export function npub(hex) {
  if (!hex || !/^[0-9a-f]+$/i.test(hex)) return "";
  const x = hex.length === 66 ? hex.slice(2) : hex;
  return x.length === 64 ? bech32("npub", hexBytes(x)) : "";
}

// ---- Secrets: shown only on a click, copyable, forgotten by wipeSecrets() ----
const secrets = new Set();

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API outside a secure context (plain http on a LAN address): copy through a
    // throw-away field that is removed at once.
    const t = el("textarea", { readonly: true, "aria-hidden": "true", class: "sr-only" });
    t.value = text;
    document.body.append(t);
    t.select();
    document.execCommand("copy");
    t.value = "";
    t.remove();
  }
  const label = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => (button.textContent = label), 2000);
}

// A box for one secret: Show/Hide, Copy and (for packages meant for another device) a QR
// code. The value lives in this closure and enters the DOM only while shown.
export function secretBox(name, value, { qr = false, shown = false } = {}) {
  const state = { value };
  const code = el("code", { class: "secret", hidden: true });
  const img = el("div", { class: "qr", hidden: true });
  const show = el("button", { type: "button", class: "show-secret", "aria-expanded": "false" }, `Show ${name}`);
  const hide = () => {
    code.textContent = "";
    code.hidden = true;
    img.replaceChildren();
    img.hidden = true;
    show.textContent = `Show ${name}`;
    show.setAttribute("aria-expanded", "false");
  };
  show.addEventListener("click", () => {
    if (!state.value) return;
    if (code.hidden) {
      code.textContent = state.value;
      code.hidden = false;
      show.textContent = `Hide ${name}`;
      show.setAttribute("aria-expanded", "true");
    } else hide();
  });
  const copyBtn = el("button", { type: "button", class: "copy-secret", "aria-label": `Copy ${name}` }, "Copy");
  copyBtn.addEventListener("click", () => state.value && copyText(state.value, copyBtn));
  const buttons = el("div", { class: "buttons" }, show, copyBtn);
  if (qr) {
    const qrBtn = el("button", { type: "button", class: "qr-secret", "aria-label": `QR code of ${name}` }, "QR code");
    qrBtn.addEventListener("click", async () => {
      if (!state.value) return;
      if (!img.hidden) {
        img.replaceChildren();
        img.hidden = true;
        return;
      }
      try {
        const res = await fetch("/api/qr", {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ text: state.value }),
        });
        if (res.status === 401 && sessionEnd) return sessionEnd(new ApiError(401, null));
        if (!res.ok) throw new Error(`QR code failed (${res.status})`);
        const src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(await res.text())}`;
        img.replaceChildren(el("img", { src, alt: `QR code of ${name}`, width: 256, height: 256 }));
        img.hidden = false;
      } catch (e) {
        img.replaceChildren(el("span", { class: "err" }, e.message));
        img.hidden = false;
      }
    });
    buttons.append(qrBtn);
  }
  const box = el("div", { class: "secret-box" }, buttons, code, img);
  const entry = {
    box,
    wipe: () => {
      state.value = null;
      hide();
      box.remove();
    },
  };
  secrets.add(entry);
  if (shown) show.click();
  return box;
}

// Forgets every secret box (their values and their DOM).
export function wipeSecrets() {
  for (const s of secrets) s.wipe();
  secrets.clear();
}

// Empties every credential-like field in `root` (and its default value).
export function wipeFields(root = document) {
  for (const f of root.querySelectorAll("form")) f.reset();
  for (const i of root.querySelectorAll("input[type=password], textarea, input[autocomplete=off]")) {
    i.value = "";
    i.defaultValue = "";
  }
}
