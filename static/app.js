// The status page: polls /api/status every 5 s and renders it. No build step, no framework.

const $ = (id) => document.getElementById(id);

function duration(s) {
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
}

function renderRelay(stats) {
  const dl = $("relay-stats");
  dl.replaceChildren();
  const rows = stats ? Object.entries(stats).filter(([, v]) => typeof v !== "object") : [["State", "disabled"]];
  for (const [k, v] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = String(v);
    dl.append(dt, dd);
  }
}

export async function refresh() {
  try {
    const res = await fetch("/api/status", { headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error(`status ${res.status}`);
    const s = await res.json();
    $("node-state").textContent = s.nodeActive ? "active" : "inactive";
    $("node-state").dataset.state = s.nodeActive ? "ok" : "off";
    $("credentials").textContent = s.hasCredentials ? "configured" : "none";
    $("relays").textContent = s.relays.join(", ");
    $("uptime").textContent = duration(s.uptimeSeconds);
    $("version").textContent = `${s.version} (${s.mode}${s.tls ? ", TLS" : ""})`;
    renderRelay(s.relay);
    $("error").hidden = true;
  } catch (e) {
    $("error").textContent = `Cannot reach the server: ${e.message}`;
    $("error").hidden = false;
  }
}

refresh();
setInterval(refresh, 5000);
