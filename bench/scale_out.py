#!/usr/bin/env python3
"""Scale-out benchmark: what nginx in front costs, what a second instance brings, and what
Redis costs on the login path, each next to a baseline measured in the same run.

Starts, on a fresh PostgreSQL database (CREATE DATABASE gh_bench_<random>, dropped at the end)
and a Redis key prefix of its own (deleted at the end), three instances of one release binary
sharing the keys: A and B with GATEHOUSE_REDIS_URL, M without it (sessions and codes in
process). Two nginx processes run the documented deploy/nginx/gatehouse.conf (upstream
addresses, listen line and log path replaced, as tests/it/reverse_proxy.rs does): one with A
twice in its upstream (one instance behind the proxy), one with A and B. Then, with wrk over
loopback (keep-alive HTTP/1.1, 32 connections, 5 s a row by default):

  (1) GET /healthz, POST /oauth/token (client_credentials) and POST /oauth/introspect, each on
      A directly, through nginx to A, and through nginx to A+B;
  (2) the session-bearing steps of the login on M (memory) and A (Redis): GET /login without a
      cookie (a session is created and saved) and GET /oauth/authorize with a signed-in
      session (session read, code stored, session saved); then the full login (authorize →
      /login → POST credentials → code → POST /oauth/token) walked by one Python client, N
      times per store; and a raw Redis PING (redis-benchmark at the same concurrency, and a
      one-connection loop) as the floor of any Redis round trip.

    bench/scale_out.py                         # target/release/gatehouse (built when missing)
    bench/scale_out.py --build                 # cargo build --release first
    bench/scale_out.py --duration 10 --connections 64 --out /tmp/scale.json

Needs python3 (standard library only), wrk, nginx, psql and a running PostgreSQL and Redis
(--pg-url, --redis-url; defaults: GATEHOUSE_TEST_DATABASE_URL / GATEHOUSE_TEST_REDIS_URL, else
postgres://postgres@127.0.0.1:5432/postgres and redis://127.0.0.1:6379); redis-benchmark is
optional. Everything listens on 127.0.0.1; every wait is bounded; processes, database and keys
are removed on exit.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

# benchlib.py sits next to this script; no .pyc left in the checkout.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (FORM, REDIRECT, ROOT, USER_PASSWORD, Http, add_binary_args,  # noqa: E402
                      add_load_args, authorize_query, basic_auth, cli, create_database,
                      drop_database, ensure_binary, free_port, gatehouse_env, pkce, require, row,
                      sign_in, start_gatehouse, stop, table, wait_port, wrk)

CONF = os.path.join(ROOT, "deploy", "nginx", "gatehouse.conf")
# Login throttling allows 10 password checks per account and address per window: spread the
# full-login flows over enough users.
LOGINS_PER_USER = 8


class Redis:
    """Enough RESP for PING, SCAN and DEL (redis://[:password@]host[:port][/db])."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), timeout=10)
        self.buf = self.sock.makefile("rb")
        if u.password:
            self.cmd("AUTH", urllib.parse.unquote(u.password))
        if u.path.strip("/"):
            self.cmd("SELECT", u.path.strip("/"))

    def cmd(self, *args):
        out = f"*{len(args)}\r\n".encode()
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.reply()

    def reply(self):
        line = self.buf.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.buf.read(n + 2)[:-2].decode()
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError(f"unexpected Redis reply {line!r}")

    def total_calls(self):
        """Commands served so far (INFO commandstats), to count commands per request."""
        info = self.cmd("INFO", "commandstats") or ""
        return sum(int(m.group(1)) for m in re.finditer(r"calls=(\d+)", info))

    def delete_prefix(self, prefix):
        cursor = "0"
        while True:
            cursor, keys = self.cmd("SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000)
            if keys:
                self.cmd("DEL", *keys)
            if cursor == "0":
                return


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else 0.0


def nginx_conf(work, name, port, upstreams, workers):
    """The documented server block with its four test-replaceable strings replaced."""
    with open(CONF) as f:
        site = f.read()
    d = os.path.join(work, name)
    os.makedirs(d)
    for old, new in [("server 10.0.0.11:8080", f"server {upstreams[0]}"),
                     ("server 10.0.0.12:8080", f"server {upstreams[1]}"),
                     ("\n    listen 80;\n", f"\n    listen 127.0.0.1:{port};\n"),
                     ("/var/log/nginx/gatehouse.access.log", os.path.join(d, "access.log"))]:
        if site.count(old) != 1:
            raise SystemExit(f"{CONF} must contain {old!r} exactly once")
        site = site.replace(old, new)
    with open(os.path.join(d, "gatehouse.conf"), "w") as f:
        f.write(site)
    temps = "\n".join(f"  {t}_temp_path {d}/{t};" for t in
                      ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    user = "user root;\n" if os.geteuid() == 0 else ""
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(f"{user}daemon off;\nmaster_process on;\nworker_processes {workers};\n"
                f"pid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n"
                f"events {{ worker_connections 1024; }}\n"
                f"http {{\n  access_log off;\n{temps}\n  include {d}/gatehouse.conf;\n}}\n")
    return d


def redis_ping(url, connections):
    """redis-benchmark PING at wrk's concurrency (if installed), and a one-connection loop."""
    out = {}
    u = urllib.parse.urlsplit(url)
    if shutil.which("redis-benchmark"):
        cmd = ["redis-benchmark", "-h", u.hostname or "127.0.0.1", "-p", str(u.port or 6379),
               "-t", "ping", "-n", "100000", "-c", str(connections), "-q"]
        if u.password:
            cmd += ["-a", urllib.parse.unquote(u.password)]
        text = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
        for line in text.replace("\r", "\n").splitlines():
            m = re.match(r"(PING_\w+): ([\d.]+) requests per second(?:, p50=([\d.]+) msec)?", line.strip())
            if m:
                out[m.group(1)] = {"rps": round(float(m.group(2))),
                                   "p50_ms": float(m.group(3)) if m.group(3) else None}
    r = Redis(url)
    samples = []
    for _ in range(3000):
        t0 = time.perf_counter()
        r.cmd("PING")
        samples.append(time.perf_counter() - t0)
    out["one connection"] = {"rps": round(len(samples) / sum(samples)),
                             "p50_ms": round(percentile(samples, 50) * 1000, 3),
                             "p99_ms": round(percentile(samples, 99) * 1000, 3)}
    return out


def ms(x):
    return f"{x:.2f}" if x is not None else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_binary_args(ap)
    add_load_args(ap, duration=5)
    ap.add_argument("--flows", type=int, default=40, help="full logins per store")
    ap.add_argument("--nginx-workers", type=int, default=1)
    ap.add_argument("--pg-url", default=os.environ.get("GATEHOUSE_TEST_DATABASE_URL")
                    or "postgres://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--redis-url", default=os.environ.get("GATEHOUSE_TEST_REDIS_URL")
                    or "redis://127.0.0.1:6379")
    ap.add_argument("--out")
    a = ap.parse_args()
    tools = {tool: require(tool, "apt-get install wrk nginx-light postgresql-client")
             for tool in ("wrk", "nginx", "psql")}
    a.bin = ensure_binary(a.bin, a.build)
    db = f"gh_bench_{secrets.token_hex(6)}"
    prefix = f"gh-bench-{secrets.token_hex(6)}:"
    work = tempfile.mkdtemp(prefix="gh-bench-scale-")
    procs = []
    db_url = create_database(a.pg_url, db)
    try:
        ports = {name: free_port() for name in ("A", "B", "M", "nginx_one", "nginx_two")}
        issuer = f"http://127.0.0.1:{ports['nginx_two']}"
        base_env = gatehouse_env(work, db_url, GATEHOUSE_ISSUER=issuer)
        redis_env = dict(base_env, GATEHOUSE_REDIS_URL=a.redis_url, GATEHOUSE_REDIS_PREFIX=prefix)
        cli(a.bin, base_env, work, "keys", "init")
        for name, env in (("A", redis_env), ("B", redis_env), ("M", base_env)):  # A runs the migrations
            start_gatehouse(a.bin, env, work, ports[name], name, procs)
        svc = json.loads(cli(a.bin, base_env, work, "client", "add", "--name", "bench-svc",
                             "--grant-type", "client_credentials", "--json"))
        web = json.loads(cli(a.bin, base_env, work, "client", "add", "--name", "bench-web",
                             "--redirect-uri", REDIRECT, "--json"))
        users = {store: [f"{store}{i}" for i in range(max(1, -(-a.flows // LOGINS_PER_USER)))]
                 for store in ("memory", "redis")}
        for name in users["memory"] + users["redis"]:
            cli(a.bin, base_env, work, "user", "add", "--username", name, "--password", USER_PASSWORD)
        a_addr, b_addr = f"127.0.0.1:{ports['A']}", f"127.0.0.1:{ports['B']}"
        for name, upstreams in (("nginx_one", (a_addr, a_addr)), ("nginx_two", (a_addr, b_addr))):
            d = nginx_conf(work, name, ports[name], upstreams, a.nginx_workers)
            p = subprocess.Popen([tools["nginx"], "-p", d, "-c", f"{d}/nginx.conf"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(p)
            wait_port(ports[name], p, name)

        svc_basic = basic_auth(svc["client_id"], svc["client_secret"])
        status, _, data = Http(ports["A"]).call(
            "POST", "/oauth/token", "grant_type=client_credentials",
            {"Authorization": svc_basic, "Content-Type": FORM})
        if status != 200:
            raise SystemExit(f"client_credentials: {status} {data!r}")
        token = json.loads(data)["access_token"]
        introspect_body = urllib.parse.urlencode({"token": token})

        # (1) the proxy's cost and the second instance's gain
        routes = [("A direct", ports["A"]), ("nginx → A", ports["nginx_one"]),
                  ("nginx → A+B", ports["nginx_two"])]
        part1 = {}
        for step, method, path, body, want in [
                ("GET /healthz", "GET", "/healthz", None, None),
                ("POST /oauth/token client_credentials", "POST", "/oauth/token",
                 "grant_type=client_credentials", "access_token"),
                ("POST /oauth/introspect", "POST", "/oauth/introspect", introspect_body, '"active":true')]:
            for route, port in routes:
                hdrs = {"Content-Type": FORM} if body else {}
                if body:
                    hdrs["Authorization"] = svc_basic
                status, _, data = Http(port).call(method, path, body, hdrs)
                if status != 200 or (want and want.encode() not in data):
                    raise SystemExit(f"{step} via {route}: {status} {data[:300]!r}")
                part1[(step, route)] = wrk(f"http://127.0.0.1:{port}{path}", a, method, body,
                                           svc_basic if body else None)
        served = {}
        with open(os.path.join(work, "nginx_two", "access.log")) as f:
            for line in f:
                m = re.search(r" upstream=(\S+)", line)
                if m:
                    served[m.group(1)] = served.get(m.group(1), 0) + 1

        # (2) Redis on the login path: memory (M) against Redis (A), same binary and database
        stores = {"memory": ports["M"], "redis": ports["A"]}
        challenge = pkce("x" * 43)[1]
        part2, flows, steps = {}, {}, {}
        for store, port in stores.items():
            timings, durations, cookies = {}, [], None
            for i in range(a.flows):
                user = users[store][i // LOGINS_PER_USER]
                took, cookies, _ = sign_in(port, web["client_id"], web["client_secret"], user,
                                           USER_PASSWORD, timings)
                durations.append(took)
            flows[store] = {"flows": len(durations), "per_s": round(len(durations) / sum(durations), 1),
                            "p50_ms": round(percentile(durations, 50) * 1000, 2),
                            "p99_ms": round(percentile(durations, 99) * 1000, 2)}
            steps[store] = {k: round(statistics.median(v) * 1000, 2) for k, v in timings.items()}
            cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
            authorize = f"/oauth/authorize?{authorize_query(web['client_id'], challenge)}"
            status, h, _ = Http(port).call("GET", authorize, None, {"Cookie": cookie})
            if status != 303 or not h.get("location", "").startswith(REDIRECT + "?code="):
                raise SystemExit(f"signed-in authorize on {store}: {status} {h.get('location')}")
            for step, path, c in (("GET /login (new session)", "/login", None),
                                 ("GET /oauth/authorize signed in (→ code)", authorize, cookie)):
                before = Redis(a.redis_url).total_calls()
                r = wrk(f"http://127.0.0.1:{port}{path}", a, cookie=c)
                # Approximate when other clients share the Redis.
                r["redis_cmds_per_request"] = round(
                    (Redis(a.redis_url).total_calls() - before) / max(1, r["requests"]), 2)
                part2[(step, store)] = r
        ping = redis_ping(a.redis_url, a.connections)

        pg_version = subprocess.run(["psql", "-X", "-At", db_url, "-c", "SHOW server_version"],
                                    capture_output=True, text=True, timeout=30).stdout.strip()
        print(f"\nScale-out benchmark: wrk -t{a.threads} -c{a.connections} -d{a.duration}s over "
              f"loopback; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end; "
              f"PostgreSQL {pg_version} (database {db}), Redis prefix {prefix}; nginx "
              f"{a.nginx_workers} worker(s).")
        print(f"wrk, nginx and every instance share these {os.cpu_count()} CPUs: a second instance "
              "adds no CPU here, so 'nginx → A+B' shows what spreading costs on one machine, not "
              "the gain of a second machine.\n")
        print("(1) proxy and second instance")
        for (step, route), r in part1.items():
            direct = part1[(step, "A direct")]["rps"]
            r["pct_of_direct"] = round(100 * r["rps"] / direct, 1) if direct else 0
        table(("40", "12", ">8", ">8", ">8", ">8"),
              ("request", "route", "req/s", "% direct", "p50 ms", "p99 ms"),
              [(step, route, r["rps"], f"{r['pct_of_direct']}%", r["p50_ms"], r["p99_ms"])
               for (step, route), r in part1.items()])
        print(f"requests per instance through 'nginx → A+B' (access log): {served}\n")
        print("(2) Redis on the login path: M (in process) against A (Redis), same binary and database")
        spec = ("44", ">12", ">7", ">7", ">12", ">7", ">7", ">9")
        print(row(spec, ("step", "memory req/s", "p50", "p99", "redis req/s", "p50", "p99",
                         "redis/mem")))
        for step in ("GET /login (new session)", "GET /oauth/authorize signed in (→ code)"):
            m, r = part2[(step, "memory")], part2[(step, "redis")]
            print(row(spec, (step, m["rps"], m["p50_ms"], m["p99_ms"], r["rps"], r["p50_ms"],
                             r["p99_ms"], f"{100 * r['rps'] / m['rps']:.1f}%"))
                  + f"  ({r['redis_cmds_per_request']} Redis commands a request)")
        m, r = flows["memory"], flows["redis"]
        print(row(spec, ("full login, 1 client (flows/s, ms per flow)", m["per_s"], m["p50_ms"],
                         m["p99_ms"], r["per_s"], r["p50_ms"], r["p99_ms"],
                         f"{100 * r['per_s'] / m['per_s']:.1f}%")))
        print("  median per step, ms (memory / redis): " + "; ".join(
            f"{k} {ms(steps['memory'].get(k))} / {ms(steps['redis'].get(k))}" for k in steps["memory"]))
        for name, p in ping.items():
            extra = f", p99 {p['p99_ms']} ms" if "p99_ms" in p else ""
            print(f"Redis PING baseline, {name}: {p['rps']} req/s, p50 {ms(p['p50_ms'])} ms{extra}")
        if a.out:
            with open(a.out, "w") as f:
                json.dump({"cpus": os.cpu_count(), "duration_s": a.duration,
                           "connections": a.connections, "threads": a.threads,
                           "proxy": {f"{k[0]} | {k[1]}": v for k, v in part1.items()},
                           "served": served,
                           "login": {f"{k[0]} | {k[1]}": v for k, v in part2.items()},
                           "full_login": flows, "steps_ms": steps, "redis_ping": ping}, f, indent=2)
    finally:
        stop(procs, timeout=15)
        drop_database(a.pg_url, db)
        try:
            Redis(a.redis_url).delete_prefix(prefix)
        except (OSError, RuntimeError) as e:
            print(f"warning: could not delete the Redis keys {prefix}*: {e}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
