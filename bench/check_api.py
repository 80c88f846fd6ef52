#!/usr/bin/env python3
"""checkApiByToken benchmark: throughput and latency of POST /api/auth/checkApiByToken next to
GET /healthz of the same binary, in the same run.

Starts the binary on a temp SQLite database, registers an application with a 40-item permission
catalogue (80 API patterns) through the admin API, grants it to a user through a role, signs the
user in with the authorization code flow (PKCE) to get an OIDC access token, checks that the
answers are right, then drives each request with `wrk` (keep-alive HTTP/1.1, 32 connections,
10 s each by default) over loopback and prints a table.

    bench/check_api.py                                   # target/release/gatehouse
    bench/check_api.py --bin path/to/gatehouse --duration 30 --connections 64 --out /tmp/x.json

Rows: /healthz (the baseline); an allowed and a denied question (the same body on every request,
as a sub-app asking about its routes: answered from the checker's memo); a path longer than the
memo keeps (normalised and matched against every pattern on each request: the worst case); a
batch of 10 questions. Every row reuses one access token (the verified-token cache is warm).

Needs python3 (standard library only) and wrk (Debian: `apt-get install wrk`).
Target (issue 4): checkApiByToken >= 60 % of the /healthz req/s and p99 < 5 ms at 32 connections.
The load generator shares the machine: its own ceiling is the /healthz row.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

REDIRECT = "http://127.0.0.1/cb"
ADMIN_PASSWORD = "bench-admin-password-1"
USER_PASSWORD = "bench-user-password-1"
ITEMS = 40

WRK_LUA = r"""
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body ~= nil and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
local function int(x) return math.floor(tonumber(x) or 0) end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d}}\n',
    int(summary.requests), int(summary.duration), int(e.connect), int(e.read), int(e.write),
    int(e.status), int(e.timeout), int(latency:percentile(50)), int(latency:percentile(90)),
    int(latency:percentile(99)), int(latency.max)))
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Http:
    """Tiny HTTP/1.1 client with a cookie jar; never follows redirects by itself."""

    def __init__(self, port, headers=None):
        self.port = port
        self.headers = headers or {}
        self.cookies = {}

    def call(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(self.headers, **(headers or {}))
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, value = v.split(";", 1)[0].partition("=")
                self.cookies[name.strip()] = value.strip()
        conn.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def json(self, method, path, body=None, headers=None, want=(200, 201, 204)):
        status, _, data = self.call(method, path, body, headers)
        if status not in want:
            raise SystemExit(f"{method} {path}: {status} {data[:500]!r}")
        return json.loads(data) if data else None


def wait_ready(client, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if client.call("GET", "/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("server not ready")


def seed(admin, app_name="bench app"):
    """Application, catalogue, role, user; returns (client_id, secret, username)."""
    app = admin.json("POST", "/api/v1/applications", {
        "name": app_name, "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"]})
    role = admin.json("POST", "/api/v1/roles", {"code": "BENCH", "name": "Bench"})
    for i in range(ITEMS):
        item = admin.json("POST", f"/api/v1/applications/{app['id']}/permissions", {
            "code": f"mod{i}", "kind": "api", "apis": [
                {"method": "GET", "path": f"/api/mod{i}/**"},
                {"method": "POST,PUT", "path": f"/api/mod{i}/items/{{id}}"}]})
        admin.json("PUT", f"/api/v1/roles/{role['id']}/permissions/{item['id']}", {})
    user = admin.json("POST", "/api/v1/users", {"username": "bench", "password": USER_PASSWORD})
    admin.json("PUT", f"/api/v1/roles/{role['id']}/members/{user['id']}", {})
    return app["id"], app["client_secret"], "bench"


def access_token(port, client_id, secret, username, password):
    """The authorization code flow with PKCE, as a browser would walk it."""
    b = Http(port)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    q = urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
        "scope": "openid", "state": secrets.token_hex(8), "code_challenge": challenge,
        "code_challenge_method": "S256"})
    path, method, body, headers = f"/oauth/authorize?{q}", "GET", None, {}
    for _ in range(10):
        status, h, data = b.call(method, path, body, headers)
        if status in (301, 302, 303, 307):
            loc = h["location"]
            if loc.startswith(REDIRECT):
                code = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)["code"][0]
                break
            u = urllib.parse.urlsplit(loc)
            path, method, body, headers = u.path + (f"?{u.query}" if u.query else ""), "GET", None, {}
            continue
        m = re.search(rb'name="csrf_token" value="([^"]+)"', data)
        if status != 200 or not m:
            raise SystemExit(f"login flow stopped at {path}: {status} {data[:300]!r}")
        method, path = "POST", "/login"
        body = urllib.parse.urlencode({"csrf_token": m.group(1).decode(), "username": username,
                                       "password": password})
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
    else:
        raise SystemExit("the login flow did not reach the redirect URI")
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    status, _, data = b.call("POST", "/oauth/token", urllib.parse.urlencode({
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier}), {"Authorization": f"Basic {basic}",
                                      "Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        raise SystemExit(f"token request: {status} {data!r}")
    return json.loads(data)["access_token"]


def wrk(base, path, method, body, a, lua):
    env = dict(os.environ, BENCH_METHOD=method, BENCH_BODY=body or "")
    cmd = ["wrk", f"-t{a.threads}", f"-c{a.connections}", f"-d{a.duration}s", "--latency",
           "-s", lua, base + path]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True,
                         timeout=a.duration + 60, check=True).stdout
    line = next((l for l in out.splitlines() if l.startswith("BENCH_RESULT ")), None)
    if not line:
        raise SystemExit(f"no result from wrk:\n{out}")
    r = json.loads(line[len("BENCH_RESULT "):])
    errors = sum(r["errors"].values())
    if errors:
        raise SystemExit(f"{method} {path}: {r['errors']} during load")
    lat = r["latency_us"]
    return {
        "rps": round(r["requests"] / (r["duration_us"] / 1e6)),
        "p50_ms": round(lat["p50"] / 1000, 3),
        "p99_ms": round(lat["p99"] / 1000, 3),
        "max_ms": round(lat["max"] / 1000, 3),
        "requests": r["requests"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/gatehouse")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    a = ap.parse_args()
    a.bin = os.path.abspath(a.bin)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is required (Debian: apt-get install wrk)")
    work = tempfile.mkdtemp(prefix="gh-bench-check-")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update({
        "GATEHOUSE_LISTEN": f"127.0.0.1:{port}",
        "GATEHOUSE_DATABASE_URL": f"sqlite://{work}/bench.db",
        "GATEHOUSE_KEYS_DIR": f"{work}/keys",
        "GATEHOUSE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "GATEHOUSE_LOG": "warn",
    })
    base = f"http://127.0.0.1:{port}"
    lua = os.path.join(work, "check.lua")
    with open(lua, "w") as f:
        f.write(WRK_LUA)
    proc = subprocess.Popen([a.bin], env=env, cwd=work, stdout=subprocess.DEVNULL,
                            stderr=open(f"{work}/server.err", "w"))
    try:
        http_ = Http(port)
        wait_ready(http_, proc)
        out = subprocess.run([a.bin, "api-key", "create", "--username", "admin", "--json"], env=env,
                             cwd=work, capture_output=True, text=True, check=True)
        key = json.loads(out.stdout)["key"]
        admin = Http(port, {"API-Key": key})
        client_id, secret, username = seed(admin)
        token = access_token(port, client_id, secret, username, USER_PASSWORD)

        def body(path, method="GET"):
            return json.dumps({"token": token, "apiPath": path, "method": method})

        batch = json.dumps({"token": token, "checks": [
            {"apiPath": f"/api/mod{i}/items/{i}", "method": "GET"} for i in range(30, 40)]})
        rows = [
            ("GET /healthz (baseline)", "/healthz", "GET", None, None),
            ("checkApiByToken, allowed", "/api/auth/checkApiByToken", "POST",
             body(f"/api/mod{ITEMS - 1}/items/42"), True),
            ("checkApiByToken, denied", "/api/auth/checkApiByToken", "POST",
             body("/api/admin/users/42"), False),
            # longer than the checker remembers: normalised and matched on every request
            ("checkApiByToken, not remembered", "/api/auth/checkApiByToken", "POST",
             body(f"/api/mod{ITEMS - 1}/{'x' * 300}"), True),
            ("checkApiByToken, batch of 10", "/api/auth/checkApiByToken", "POST", batch, [True] * 10),
        ]
        for name, path, method, b, want in rows:
            if want is None:
                continue
            status, _, data = http_.call(method, path, b)
            got = json.loads(data) if status == 200 else None
            if not got or got.get("code") != 0 or got.get("data") != want:
                raise SystemExit(f"{name}: expected data={want}, got {status} {data!r}")
        results = {}
        for name, path, method, b, _ in rows:
            results[name] = wrk(base, path, method, b, a, lua)
        base_rps = results["GET /healthz (baseline)"]["rps"]
        print(f"\ncheckApiByToken benchmark: wrk -t{a.threads} -c{a.connections} -d{a.duration}s, "
              f"loopback, SQLite, {ITEMS} items / {2 * ITEMS} patterns granted, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f} at the end\n")
        print(f"{'request':32} {'req/s':>9} {'% base':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for name, r in results.items():
            r["pct_of_baseline"] = round(100 * r["rps"] / base_rps, 1) if base_rps else 0
            print(f"{name:32} {r['rps']:>9} {r['pct_of_baseline']:>6}% {r['p50_ms']:>8} "
                  f"{r['p99_ms']:>8} {r['max_ms']:>8}")
        main_row = results["checkApiByToken, allowed"]
        verdict = main_row["pct_of_baseline"] >= 60 and main_row["p99_ms"] < 5
        print(f"\ntarget >= 60 % of baseline req/s and p99 < 5 ms at {a.connections} connections: "
              f"{'PASS' if verdict else 'MISS'}")
        if a.out:
            with open(a.out, "w") as f:
                json.dump({"connections": a.connections, "threads": a.threads,
                       "cpus": os.cpu_count(), "loadavg_1m": os.getloadavg()[0],
                           "duration_s": a.duration, "results": results, "pass": verdict}, f, indent=2)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
