#!/usr/bin/env python3
"""Soak under load (not part of scripts/test; run through scripts/soak).

Processes, all on 127.0.0.1:
  A   igloo holding share 1 (the appliance measured), its built-in relay R1 on its own port,
      relays R1 and R2
  R2  a second igloo used only as a relay; killed (kill -9) and restarted periodically
  B   igloo holding share 3, relays R1 and R2; restarted periodically, alternately clean
      (SIGTERM) and kill -9
  JS  a @frostr/bifrost 1.0.7 peer holding share 2 (tests/interop/soak-peer.mjs) on R1:
      pings A every second and asks A to co-sign every fifth
  load  tests/interop/relay-load.mjs: many WebSocket clients publishing and subscribing on R1

The driver asks A and B for signatures at a steady rate (/api/sign), and every few seconds
records A's RSS, open descriptors, threads, the sign latency p50/p99 of the window, and the
cumulative errors, to a CSV; at the end it draws them as a PNG (matplotlib) and prints a
summary.
"""
import argparse
import csv
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http(method, url, body=None, timeout=15):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None
    except Exception as e:  # connection refused, timeout
        return 0, str(e)


class Proc:
    """An igloo process with a fixed port and data directory, restartable."""

    def __init__(self, name, binary, port, data, env, logdir):
        self.name, self.binary, self.port, self.data, self.env = name, binary, port, data, env
        self.log = open(os.path.join(logdir, f"{name}.log"), "ab")
        self.p = None

    def start(self):
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOST_NAME": "127.0.0.1",
            "HOST_PORT": str(self.port),
            "DB_PATH": self.data,
            "AUTH_ENABLED": "false",
            "IGLOO_TLS": "off",
            "RATE_LIMIT_ENABLED": "false",
            "RUST_LOG": "warn",
            "NO_COLOR": "1",
        }
        env.update(self.env)
        self.p = subprocess.Popen([self.binary], env=env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            code, _ = http("GET", self.url("/api/status"), timeout=2)
            if code == 200:
                return
            time.sleep(0.1)
        raise SystemExit(f"{self.name} did not start")

    def stop(self, kill=False):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


def node_proc(script, inp, logdir, name):
    p = subprocess.Popen(
        ["node", "--experimental-websocket", "--no-warnings", script],
        cwd=os.path.join(ROOT, "tests", "interop"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=open(os.path.join(logdir, f"{name}.err"), "ab"),
        text=True,
    )
    p.stdin.write(json.dumps(inp) + "\n")
    p.stdin.flush()
    return p


def proc_stats(pid):
    rss = threads = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds, threads


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "soak"))
    ap.add_argument("--sample-seconds", type=float, default=5)
    ap.add_argument("--sign-every", type=float, default=2, help="seconds between driver signs on A and on B")
    ap.add_argument("--relay-clients", type=int, default=20)
    ap.add_argument("--relay-drop-every", type=float, default=None, help="seconds (default: run/6, at least 60)")
    ap.add_argument("--relay-drop-for", type=float, default=10)
    ap.add_argument("--peer-restart-every", type=float, default=None, help="seconds (default: run/5, at least 90)")
    args = ap.parse_args()
    total = args.minutes * 60
    drop_every = args.relay_drop_every or max(60, total / 6)
    restart_every = args.peer_restart_every or max(90, total / 5)
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="igloo-soak-")
    logdir = args.out

    ks = json.loads(subprocess.check_output([args.binary, "keyset", "generate", "--threshold", "2", "--shares", "3"]))
    group, shares = ks["group"], ks["shares"]
    a_key = json.loads(subprocess.check_output([args.binary, "keyset", "decode", "-"], input=shares[0].encode()))["nostr_pubkey"]
    pa, pb, pr2 = free_port(), free_port(), free_port()
    r1, r2 = f"ws://127.0.0.1:{pa}", f"ws://127.0.0.1:{pr2}"
    relay2 = Proc("relay2", args.binary, pr2, f"{tmp}/r2", {"HEADLESS": "true"}, logdir)
    a = Proc("a", args.binary, pa, f"{tmp}/a", {
        "HEADLESS": "true", "GROUP_CRED": group, "SHARE_CRED": shares[0],
        "RELAYS": f"{r1},{r2}", "FROSTR_SIGN_TIMEOUT": "5000"}, logdir)
    b = Proc("b", args.binary, pb, f"{tmp}/b", {
        "HEADLESS": "true", "GROUP_CRED": group, "SHARE_CRED": shares[2],
        "RELAYS": f"{r1},{r2}", "RELAY_ENABLED": "false", "FROSTR_SIGN_TIMEOUT": "5000"}, logdir)
    relay2.start()
    a.start()
    b.start()
    js = node_proc("soak-peer.mjs", {"group": group, "share": shares[1], "relays": [r1], "peer": a_key,
                                     "interval_ms": 1000, "sign_every": 5}, logdir, "js-peer")
    load = node_proc("relay-load.mjs", {"relay": r1, "clients": args.relay_clients, "interval_ms": 2000},
                     logdir, "relay-load")

    lock = threading.Lock()
    window = []  # sign latencies (ms) since the last sample
    all_lat = []
    errors = {"a_sign": 0, "b_sign": 0, "js_sign": 0}
    unreachable = {"b_sign": 0}  # B's own API while B restarts: not a signing error
    oks = {"a_sign": 0, "b_sign": 0, "js_sign": 0}
    stop = threading.Event()

    def js_reader():
        for line in js.stdout:
            try:
                m = json.loads(line)
            except ValueError:
                continue
            if "sign_ms" in m:
                with lock:
                    if m["ok"]:
                        oks["js_sign"] += 1
                        window.append(m["sign_ms"])
                        all_lat.append(m["sign_ms"])
                    else:
                        errors["js_sign"] += 1

    def signer(proc, key):
        while not stop.is_set():
            t0 = time.time()
            code, _ = http("POST", proc.url("/api/sign"), {"message": os.urandom(32).hex()}, timeout=20)
            ms = (time.time() - t0) * 1000
            with lock:
                if code == 200:
                    oks[key] += 1
                    window.append(ms)
                    all_lat.append(ms)
                elif code == 0 and key in unreachable:
                    unreachable[key] += 1
                else:
                    errors[key] += 1
            stop.wait(args.sign_every)

    events = []

    def faults():
        t0 = time.time()
        next_drop, next_restart, kill = t0 + drop_every, t0 + restart_every, False
        while not stop.is_set():
            now = time.time()
            if now >= next_drop:
                events.append((now - t0, "relay R2 down"))
                relay2.stop(kill=True)
                stop.wait(args.relay_drop_for)
                relay2.start()
                events.append((time.time() - t0, "relay R2 up"))
                next_drop += drop_every
            elif now >= next_restart:
                how = "kill -9" if kill else "SIGTERM"
                events.append((now - t0, f"peer B restart ({how})"))
                b.stop(kill=kill)
                b.start()
                kill = not kill
                next_restart += restart_every
            stop.wait(0.5)

    time.sleep(5)  # let everything connect
    threads = [threading.Thread(target=js_reader, daemon=True),
               threading.Thread(target=signer, args=(a, "a_sign"), daemon=True),
               threading.Thread(target=signer, args=(b, "b_sign"), daemon=True),
               threading.Thread(target=faults, daemon=True)]
    for t in threads:
        t.start()
    csv_path = os.path.join(args.out, "soak.csv")
    rows = []
    start = time.time()
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "rss_kb", "fds", "threads", "p50_ms", "p99_ms", "signs_ok", "errors", "relays_connected"])
        while time.time() - start < total:
            time.sleep(args.sample_seconds)
            if a.p.poll() is not None:
                print("A exited!", file=sys.stderr)
                break
            rss, fds, nthreads = proc_stats(a.p.pid)
            with lock:
                lat, window[:] = list(window), []
                ok = sum(oks.values())
                err = sum(errors.values())
            code, st = http("GET", a.url("/api/status"), timeout=5)
            conn = sum(1 for r in (st or {}).get("relayStates", []) if r.get("connected")) if code == 200 else -1
            row = [round(time.time() - start, 1), rss, fds, nthreads, pct(lat, 50), pct(lat, 99), ok, err, conn]
            rows.append(row)
            w.writerow(row)
            f.flush()
    stop.set()
    for p in (js, load):
        p.stdin.close()
    time.sleep(1)
    for p in (js, load):
        p.terminate()
    for p in (b, relay2, a):
        p.stop()

    # Summary and picture.
    def col(i):
        return [r[i] for r in rows if r[i] is not None]

    rss, fds, thr = col(1), col(2), col(3)
    q = len(rss) // 4 or 1
    summary = {
        "minutes": round((rows[-1][0] if rows else 0) / 60, 1),
        "samples": len(rows),
        "rss_kb_first_quarter_median": statistics.median(rss[:q]) if rss else None,
        "rss_kb_last_quarter_median": statistics.median(rss[-q:]) if rss else None,
        "rss_kb_max": max(rss) if rss else None,
        "fds_min_max": [min(fds), max(fds)] if fds else None,
        "threads_min_max": [min(thr), max(thr)] if thr else None,
        "sign_p50_ms": round(pct(all_lat, 50) or 0, 1),
        "sign_p99_ms": round(pct(all_lat, 99) or 0, 1),
        "signs_ok": oks,
        "sign_errors": errors,
        "b_api_unreachable_while_restarting": unreachable["b_sign"],
        "fault_events": len(events),
    }
    print(json.dumps(summary, indent=2))
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump({"summary": summary, "events": events}, f, indent=2)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no picture", file=sys.stderr)
        return
    t = [r[0] / 60 for r in rows]
    fig, ax = plt.subplots(4, 1, figsize=(10, 11), sharex=True)
    ax[0].plot(t, [r[1] / 1024 for r in rows]); ax[0].set_ylabel("RSS (MiB)")
    ax[1].plot(t, [r[2] for r in rows], label="open fds"); ax[1].plot(t, [r[3] for r in rows], label="threads")
    ax[1].legend(); ax[1].set_ylabel("count")
    ax[2].plot(t, [r[4] for r in rows], label="p50"); ax[2].plot(t, [r[5] for r in rows], label="p99")
    ax[2].set_yscale("log"); ax[2].legend(); ax[2].set_ylabel("sign latency (ms)")
    ax[3].plot(t, [r[7] for r in rows], label="errors (cumulative)")
    ax[3].plot(t, [r[8] for r in rows], label="A's relays connected")
    ax[3].legend(); ax[3].set_xlabel("minutes")
    for at, what in events:
        for x in ax:
            x.axvline(at / 60, color="red" if "relay" in what else "grey", alpha=0.3, lw=0.8)
    fig.suptitle("igloo soak: red = relay R2 down/up, grey = peer B restart")
    fig.tight_layout()
    png = os.path.join(args.out, "soak.png")
    fig.savefig(png, dpi=90)
    print(f"picture: {png}; data: {csv_path}")


if __name__ == "__main__":
    main()
