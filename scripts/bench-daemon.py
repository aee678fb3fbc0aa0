#!/usr/bin/env python3
"""Foundation figures of the igloo daemon, each the median of 5 runs:
stripped binary size; exec -> first 200 on /api/status; RSS 10 s after start;
RSS and requests/s over 5,000 keep-alive GET /api/status (ApacheBench, -k)."""
import os, re, shutil, socket, statistics, subprocess, sys, tempfile, time

RUNS = 5


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def get_status(port):
    """One raw HTTP/1.1 request; True on 200. Raw sockets keep the probe cheap."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def start(binary, data):
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "HOST_PORT": str(port), "DB_PATH": data,
           "LOG_LEVEL": "warn", "HEADLESS": "true"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not get_status(port):
        if proc.poll() is not None:
            sys.exit("daemon exited during start-up")
        if time.perf_counter() - t0 > 10:
            sys.exit("no 200 within 10 s")
    return proc, port, (time.perf_counter() - t0) * 1000


def main():
    binary = sys.argv[1]
    size = os.path.getsize(binary)
    starts, idle, loaded, rps = [], [], [], []
    for _ in range(RUNS):
        data = tempfile.mkdtemp(prefix="igloo-bench-")
        proc, port, ms = start(binary, data)
        starts.append(ms)
        time.sleep(10)
        idle.append(rss_kb(proc.pid))
        out = subprocess.run(["ab", "-k", "-q", "-n", "5000", "-c", "8", f"http://127.0.0.1:{port}/api/status"],
                             capture_output=True, text=True).stdout
        m = re.search(r"Requests per second:\s+([\d.]+)", out)
        failed = re.search(r"Failed requests:\s+(\d+)", out)
        non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
        if not m or (failed and int(failed.group(1))) or non2xx:
            sys.exit(f"load run failed:\n{out}")
        rps.append(float(m.group(1)))
        loaded.append(rss_kb(proc.pid))
        proc.terminate()
        proc.wait(timeout=15)
        shutil.rmtree(data, ignore_errors=True)
    med = statistics.median
    print(f"stripped binary size        {size / 1e6:8.2f} MB   (target < 15 MB)")
    print(f"exec -> first 200           {med(starts):8.1f} ms   (target < 50 ms; runs {', '.join(f'{x:.1f}' for x in starts)})")
    print(f"idle RSS after 10 s         {med(idle) / 1024:8.1f} MB   (target < 12 MB)")
    print(f"RSS after 5,000 requests    {med(loaded) / 1024:8.1f} MB")
    print(f"keep-alive /api/status      {med(rps):8.0f} req/s (target > 25,000; ab -k -c 8 -n 5000; runs {', '.join(f'{x:.0f}' for x in rps)})")


if __name__ == "__main__":
    main()
