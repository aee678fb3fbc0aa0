#!/usr/bin/env python3
"""Memory soak of the signing node (issue 5): an igloo daemon (share 1 of a fresh 2-of-3,
its built-in relay) and a live @frostr/bifrost 1.0.7 peer (share 2) that pings it every few
seconds and asks it to co-sign every 30 s. Prints igloo's RSS every minute, then start/end.

  scripts/soak.py [binary] [--minutes 60] [--ping-ms 3000] [--sign-ms 30000]
"""
import argparse, json, os, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=os.path.join(ROOT, "target/release/igloo"))
    ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--ping-ms", type=int, default=3000)
    ap.add_argument("--sign-ms", type=int, default=30000)
    a = ap.parse_args()

    ks = json.loads(subprocess.check_output(
        [a.binary, "keyset", "generate", "--threshold", "2", "--shares", "3"]))
    port = free_port()
    relay = f"ws://127.0.0.1:{port}"
    data = tempfile.mkdtemp(prefix="igloo-soak-")
    env = dict(os.environ, HOST_PORT=str(port), DB_PATH=data, HEADLESS="true",
               GROUP_CRED=ks["group"], SHARE_CRED=ks["shares"][0], RELAYS=relay,
               LOG_LEVEL="warn")
    igloo = subprocess.Popen([a.binary], env=env, stderr=open(os.path.join(data, "igloo.log"), "w"))
    try:
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit("igloo did not start")
                time.sleep(0.05)
        peer_x = json.loads(subprocess.check_output(
            [a.binary, "keyset", "decode", ks["shares"][0]]))["nostr_pubkey"]
        js = subprocess.Popen(
            ["node", "--experimental-websocket", "soak-peer.mjs"],
            cwd=os.path.join(ROOT, "tests/interop"), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)
        js.stdin.write(json.dumps({"group": ks["group"], "share": ks["shares"][1],
                                   "relays": [relay], "peer": peer_x,
                                   "pingMs": a.ping_ms, "signMs": a.sign_ms}))
        js.stdin.flush()
        if json.loads(js.stdout.readline()).get("ready") is not True:
            sys.exit("the JS peer did not start")
        os.set_blocking(js.stdout.fileno(), False)
        time.sleep(30)
        start = rss_kb(igloo.pid)
        print(f"RSS at start (30 s after the peer connected): {start / 1024:.1f} MiB", flush=True)
        samples = [start]
        end_at = time.time() + a.minutes * 60
        while time.time() < end_at:
            time.sleep(min(60, max(0, end_at - time.time())))
            samples.append(rss_kb(igloo.pid))
            line = ""
            try:
                while (l := js.stdout.readline()):
                    line = l.strip()
            except (OSError, TypeError):
                pass
            print(f"{(len(samples) - 1)} min: RSS {samples[-1] / 1024:.1f} MiB {line}", flush=True)
            if igloo.poll() is not None:
                sys.exit("igloo exited during the soak")
        print(f"RSS start {start / 1024:.1f} MiB, end {samples[-1] / 1024:.1f} MiB, "
              f"max {max(samples) / 1024:.1f} MiB over {a.minutes:g} min", flush=True)
        js.stdin.close()
        js.wait(timeout=10)
    finally:
        igloo.terminate()
        igloo.wait(timeout=10)


if __name__ == "__main__":
    main()
