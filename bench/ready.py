#!/usr/bin/env python3
"""Spawn the server and measure its time to ready; leave it running.

usage: ready.py HOST PORT STDOUT_LOG STDERR_LOG TIMEOUT_S -- CMD [ARGS...]

The clock starts immediately before the spawn. The loop then, every ~2 ms, checks whether the
process has exited, whether its stdout has printed `listening on http://` (recorded as
listening_ms), and sends `GET /healthz` over a fresh TCP connection; the first `200` stops the
clock (ready_ms). Prints one JSON object: {"pid", "ready_ms", "listening_ms", "probes"}.
Exits 1 (after killing the child) if the server exits or is not ready within TIMEOUT_S.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time


def probe(host: str, port: int) -> bool:
    req = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.settimeout(0.5)
            s.sendall(req)
            head = b""
            while b"\r\n" not in head and len(head) < 64:
                chunk = s.recv(64)
                if not chunk:
                    break
                head += chunk
            return head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200")
    except OSError:
        return False


def main() -> int:
    args = sys.argv[1:]
    if "--" not in args or args.index("--") != 5:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, out_path, err_path, timeout_s = args[:5]
    cmd = args[6:]
    port_n, deadline_s = int(port), float(timeout_s)
    out = open(out_path, "wb")
    err = open(err_path, "wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    listening_ms = None
    probes = 0
    while True:
        now = time.perf_counter()
        if proc.poll() is not None:
            print(f"server exited with status {proc.returncode} before it was ready", file=sys.stderr)
            return 1
        if listening_ms is None:
            try:
                with open(out_path, "rb") as f:
                    if b"listening on http://" in f.read():
                        listening_ms = (now - t0) * 1000.0
            except OSError:
                pass
        probes += 1
        if probe(host, port_n):
            ready_ms = (time.perf_counter() - t0) * 1000.0
            if listening_ms is None:
                listening_ms = ready_ms
            break
        if now - t0 > deadline_s:
            print(f"server not ready after {deadline_s:.0f} s ({probes} probes)", file=sys.stderr)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=5)
            return 1
        time.sleep(0.002)
    print(json.dumps({"pid": proc.pid, "ready_ms": round(ready_ms, 2),
                      "listening_ms": round(listening_ms, 2), "probes": probes}))
    sys.stdout.flush()
    # The server keeps running after this process exits; run.sh owns it from here (by pid).
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
