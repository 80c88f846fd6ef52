#!/usr/bin/env python3
"""Directory benchmark: latency of user search and list-by-group at scale.

Seeds N users (SQLite: 100k by default; PostgreSQL: 1M) straight into a fresh database that the
server has migrated, spread over 100 groups, then drives the running server over loopback with
one client (latency, not throughput) and prints p50/p99 per query next to /healthz measured in
the same run. Before timing, the `total` of every kind of query is checked against the seed
(a fast plan must not change results). PostgreSQL gets VACUUM ANALYZE after seeding, the state
autovacuum reaches within a minute of a bulk insert (visibility map set: index-only scans).

    bench/directory.py                                                      # SQLite, 100k
    bench/directory.py --bin … --backend postgres --users 1000000 \
        --pg-url postgres://postgres@127.0.0.1:5432/test                   # PostgreSQL, 1M

Target (issue 3): p50 < 10 ms at 100k users.
"""

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

# benchlib.py sits next to this script; no .pyc left in the checkout.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (add_binary_args, api_key, create_database, drop_database,  # noqa: E402
                      ensure_binary, free_port, gatehouse_env, start_gatehouse, stop, table)

GROUPS = 100


def seed_sql(n):
    """Statements that insert n users, GROUPS groups and one membership per user."""
    now = int(time.time())
    return [
        # groups g0..g99 at the top level
        f"""INSERT INTO org_groups (id, tenant_id, parent_id, name, created_at, updated_at)
            SELECT 'bench-g' || x, 'default', '', 'Group ' || x, {now}, {now} FROM series_g""",
        f"""INSERT INTO users (id, tenant_id, username, password_hash, user_type, state, email,
                nickname, phone, created_at, updated_at, search_text)
            SELECT 'bench-u' || x, 'default', 'user' || x, NULL, 'MEMBER', 'active',
                'user' || x || '@example.com', 'nick' || x, '138' || x, {now} - x, {now},
                LOWER('user' || x || ' nick' || x || ' user' || x || '@example.com 138' || x)
            FROM series_u""",
        f"""INSERT INTO tenant_members (tenant_id, user_id, is_admin, created_at)
            SELECT 'default', 'bench-u' || x, 0, {now} FROM series_u""",
        f"""INSERT INTO group_members (group_id, user_id, created_at)
            SELECT 'bench-g' || (x % {GROUPS}), 'bench-u' || x, {now} FROM series_u""",
    ]


def seed_sqlite(path, n):
    db = sqlite3.connect(path, timeout=60)
    db.execute("PRAGMA journal_mode=WAL")
    series_u = f"WITH RECURSIVE series_u(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM series_u WHERE x < {n}) "
    series_g = f"WITH RECURSIVE series_g(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM series_g WHERE x < {GROUPS - 1}) "
    with db:
        for stmt in seed_sql(n):
            prefix = series_g if "series_g" in stmt else series_u
            db.execute(prefix + stmt)
    db.execute("ANALYZE")
    db.close()


def seed_postgres(url, n):
    stmts = []
    for stmt in seed_sql(n):
        stmt = stmt.replace("FROM series_u", f"FROM generate_series(1, {n}) AS series_u(x)")
        stmt = stmt.replace("FROM series_g", f"FROM generate_series(0, {GROUPS - 1}) AS series_g(x)")
        stmts.append(stmt + ";")
    stmts.append("VACUUM ANALYZE;")
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q"], input="\n".join(stmts),
                   text=True, check=True)


def search_text(x):
    """The seeded search text of user x (see seed_sql)."""
    return f"user{x} nick{x} user{x}@example.com 138{x}"


def check_totals(base, headers, n, rnd):
    """Compares `total` with the seed for each kind of query; exits on a mismatch."""
    def total(query):
        req = urllib.request.Request(f"{base}/api/v1/users?limit=20&{query}", headers=headers)
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())["total"]

    texts = [search_text(x) for x in range(1, n + 1)]
    cases = [("nick9", None), (f"user{rnd.randint(1, n)}", None), (f"user{rnd.randint(1, n)}x", None),
             (f"{rnd.randint(10, 99)}", None), ("zq", None), (None, 0), (None, GROUPS - 1)]
    for q, g in cases:
        if q is not None:
            want = sum(q in t for t in texts)
            got = total("q=" + urllib.parse.quote(q))
        else:
            want = sum(1 for x in range(1, n + 1) if x % GROUPS == g)
            got = total(f"group_id=bench-g{g}")
        if got != want:
            raise SystemExit(f"wrong total for q={q!r} group={g}: {got}, want {want}")
    want = n + 1  # and the bootstrap admin
    got = total("")
    if got != want:
        raise SystemExit(f"wrong total for the whole list: {got}, want {want}")
    print(f"totals checked against the seed: {len(cases) + 1} queries")


def timed(url, headers, n):
    lat = []
    for _ in range(n):
        req = urllib.request.Request(url() if callable(url) else url, headers=headers)
        t = time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            if r.status != 200:
                raise SystemExit(f"{req.full_url}: {r.status}")
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    return {
        "p50_ms": round(statistics.median(lat), 2),
        "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2),
        "n": n,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_binary_args(ap)
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--users", type=int)
    ap.add_argument("--pg-url", default=os.environ.get("GATEHOUSE_TEST_DATABASE_URL",
                                                       "postgres://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--out")
    a = ap.parse_args()
    a.bin = ensure_binary(a.bin, a.build)
    n = a.users or (100_000 if a.backend == "sqlite" else 1_000_000)
    work = tempfile.mkdtemp(prefix="gh-bench-dir-")
    pg_db = None
    if a.backend == "sqlite":
        db_url = f"sqlite://{work}/bench.db"
    else:
        pg_db = f"gh_bench_{os.getpid()}"
        db_url = create_database(a.pg_url, pg_db)
    port = free_port()
    env = gatehouse_env(work, db_url)
    base = f"http://127.0.0.1:{port}"
    procs = []
    try:
        start_gatehouse(a.bin, env, work, port, procs=procs)
        t = time.time()
        if a.backend == "sqlite":
            seed_sqlite(f"{work}/bench.db", n)
        else:
            seed_postgres(db_url, n)
        seed_s = round(time.time() - t, 1)
        h = {"API-Key": api_key(a.bin, env, work)}
        rnd = random.Random(7)
        queries = {
            "healthz (baseline)": (lambda: base + "/healthz", {}),
            "search, rare term": (lambda: f"{base}/api/v1/users?limit=20&q=user{rnd.randint(1, n)}x", h),
            "search, exact username": (lambda: f"{base}/api/v1/users?limit=20&q=user{rnd.randint(1, n)}", h),
            "search, common term": (lambda: f"{base}/api/v1/users?limit=20&q=nick9", h),
            "search, 2 characters": (lambda: f"{base}/api/v1/users?limit=20&q={rnd.randint(10, 99)}", h),
            "list by group": (lambda: f"{base}/api/v1/users?limit=20&group_id=bench-g{rnd.randint(0, GROUPS - 1)}", h),
            "list, first page": (lambda: f"{base}/api/v1/users?limit=20", h),
        }
        check_totals(base, h, n, random.Random(11))
        timed(base + "/api/v1/users?limit=20&q=warmup", h, 5)
        results = {}
        for name, (url, headers) in queries.items():
            results[name] = timed(url, headers, a.requests)
        print(f"\nDirectory benchmark: {a.backend}, {n} users, {GROUPS} groups "
              f"(seeded in {seed_s} s), {a.requests} sequential requests each\n")
        table(("28", ">8", ">8"), ("query", "p50 ms", "p99 ms"),
              [(name, r["p50_ms"], r["p99_ms"]) for name, r in results.items()])
        verdict = results["search, rare term"]["p50_ms"] < 10 and results["list by group"]["p50_ms"] < 10
        print(f"\ntarget p50 < 10 ms for search and list-by-group: {'PASS' if verdict else 'MISS'}"
              + ("" if n <= 100_000 else " (target is stated for 100k)"))
        if a.out:
            with open(a.out, "w") as f:
                json.dump({"backend": a.backend, "users": n, "results": results}, f, indent=2)
    finally:
        stop(procs)
        if pg_db:
            drop_database(a.pg_url, pg_db)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
