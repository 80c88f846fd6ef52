#!/usr/bin/env python3
"""checkApiByToken benchmark: throughput and latency of POST /api/auth/checkApiByToken next to
GET /healthz of the same binary, in the same run.

Starts the binary on a temp SQLite database, registers an application with a 40-item permission
catalogue (80 API patterns) through the admin API, grants it to a user through a role, signs the
user in with the authorization code flow (PKCE) to get an OIDC access token, checks that the
answers are right, then drives each request with `wrk` (keep-alive HTTP/1.1, 32 connections,
10 s each by default) over loopback and prints a table.

    bench/check_api.py                                   # target/release/gatehouse (built when missing)
    bench/check_api.py --build                           # cargo build --release first
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
import json
import os
import shutil
import sys
import tempfile

# benchlib.py sits next to this script; no .pyc left in the checkout.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (JSON, REDIRECT, USER_PASSWORD, Http, add_binary_args, add_load_args,  # noqa: E402
                      api_key, ensure_binary, free_port, gatehouse_env, require, sign_in,
                      start_gatehouse, stop, table, wrk)

ITEMS = 40


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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_binary_args(ap)
    add_load_args(ap, duration=10)
    ap.add_argument("--out")
    a = ap.parse_args()
    require("wrk", "apt-get install wrk")
    a.bin = ensure_binary(a.bin, a.build)
    work = tempfile.mkdtemp(prefix="gh-bench-check-")
    port = free_port()
    env = gatehouse_env(work, f"sqlite://{work}/bench.db")
    base = f"http://127.0.0.1:{port}"
    procs = []
    try:
        start_gatehouse(a.bin, env, work, port, procs=procs)
        http_ = Http(port)
        admin = Http(port, {"API-Key": api_key(a.bin, env, work)})
        client_id, secret, username = seed(admin)
        token = sign_in(port, client_id, secret, username, USER_PASSWORD)[2]["access_token"]

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
            results[name] = wrk(base + path, a, method, b, content_type=JSON)
        base_rps = results["GET /healthz (baseline)"]["rps"]
        print(f"\ncheckApiByToken benchmark: wrk -t{a.threads} -c{a.connections} -d{a.duration}s, "
              f"loopback, SQLite, {ITEMS} items / {2 * ITEMS} patterns granted, {os.cpu_count()} CPUs, "
              f"load average {os.getloadavg()[0]:.1f} at the end\n")
        for r in results.values():
            r["pct_of_baseline"] = round(100 * r["rps"] / base_rps, 1) if base_rps else 0
        table(("32", ">9", ">7", ">8", ">8", ">8"),
              ("request", "req/s", "% base", "p50 ms", "p99 ms", "max ms"),
              [(name, r["rps"], f"{r['pct_of_baseline']}%", r["p50_ms"], r["p99_ms"], r["max_ms"])
               for name, r in results.items()])
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
        stop(procs)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
