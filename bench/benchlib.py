"""Shared machinery of the Python benchmarks in bench/ (check_api.py, scale_out.py, directory.py).

Plain functions over the Python standard library: the release binary, free ports, scratch
Gatehouse instances (environment, start, readiness, stop), the CLI and a small HTTP client for
seeding, the browser's authorization code flow with PKCE, scratch PostgreSQL databases, wrk runs
through bench/wrk.lua (the same script bench/run.sh uses) and fixed-width tables.

The scripts import it as a sibling module (`python3 bench/x.py` puts bench/ first on sys.path;
each script also inserts its own directory, so running from inside bench/ works too).
"""

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
import time
import urllib.parse

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)
WRK_LUA = os.path.join(BENCH_DIR, "wrk.lua")
DEFAULT_BIN = os.path.join(ROOT, "target", "release", "gatehouse")
REDIRECT = "http://127.0.0.1/cb"
ADMIN_PASSWORD = "bench-admin-password-1"
USER_PASSWORD = "bench-user-password-1"
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


# --- tools, binary, ports ---------------------------------------------------------------------


def require(tool, hint):
    """Path of `tool` (PATH, else /usr/sbin); exits with `tool is required (Debian: hint)`."""
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if os.path.exists(f"/usr/sbin/{tool}") else None)
    if not path:
        raise SystemExit(f"{tool} is required (Debian: {hint})")
    return path


def add_binary_args(ap):
    """--bin (default: the release build of this checkout) and --build."""
    ap.add_argument("--bin", default=DEFAULT_BIN)
    ap.add_argument("--build", action="store_true", help="cargo build --release first")


def ensure_binary(path, build=False):
    """Absolute path of the binary; runs `cargo build --release` first when asked or missing."""
    if build or not os.path.exists(path):
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True, timeout=3600)
    return os.path.abspath(path)


def add_load_args(ap, duration):
    """wrk's settings: --duration (seconds a row), --connections, --threads."""
    ap.add_argument("--duration", type=int, default=duration)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- HTTP -------------------------------------------------------------------------------------


class Http:
    """Tiny HTTP/1.1 client for 127.0.0.1 with a cookie jar; never follows redirects by itself."""

    def __init__(self, port, headers=None):
        self.port = port
        self.headers = headers or {}
        self.cookies = {}

    def call(self, method, path, body=None, headers=None):
        """One request on a fresh connection: (status, lower-cased headers, body bytes).

        A dict or list body is sent as JSON."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        h = dict(self.headers, **(headers or {}))
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h.setdefault("Content-Type", JSON)
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
        """The decoded JSON answer (None when empty); exits on a status not in `want`."""
        status, _, data = self.call(method, path, body, headers)
        if status not in want:
            raise SystemExit(f"{method} {path}: {status} {data[:500]!r}")
        return json.loads(data) if data else None


def basic_auth(client_id, secret):
    """The Authorization header value for HTTP Basic client authentication."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# --- Gatehouse instances ----------------------------------------------------------------------


def gatehouse_env(work, database_url, **extra):
    """The caller's environment without GATEHOUSE_*, plus a scratch instance's settings.

    Keys in `work`/keys, the bench admin password, log level warn; `extra` adds or overrides
    GATEHOUSE_* variables by full name."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update({
        "GATEHOUSE_DATABASE_URL": database_url,
        "GATEHOUSE_KEYS_DIR": f"{work}/keys",
        "GATEHOUSE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "GATEHOUSE_LOG": "warn",
    })
    env.update(extra)
    return env


def wait_ready(port, proc, timeout=60):
    """Polls GET /readyz until 200; exits if the process dies or `timeout` seconds pass."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gatehouse on {port} exited with {proc.returncode}")
        try:
            if Http(port).call("GET", "/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"gatehouse on {port} not ready within {timeout} s")


def wait_port(port, proc, what, timeout=30):
    """Waits until something accepts TCP connections on `port`; exits if `proc` dies first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port} within {timeout} s")


def start_gatehouse(binary, env, work, port, name="server", procs=None):
    """Starts `binary` in `work` listening on 127.0.0.1:`port` and waits until it is ready.

    stderr goes to `work`/`name`.err. The process is appended to `procs` (if given) before the
    wait, so the caller's cleanup stops it; without `procs` it is stopped here on failure."""
    e = dict(env, GATEHOUSE_LISTEN=f"127.0.0.1:{port}")
    with open(f"{work}/{name}.err", "w") as err:
        proc = subprocess.Popen([binary], env=e, cwd=work, stdout=subprocess.DEVNULL, stderr=err)
    if procs is not None:
        procs.append(proc)
        wait_ready(port, proc)
        return proc
    try:
        wait_ready(port, proc)
    except BaseException:
        stop([proc])
        raise
    return proc


def stop(procs, timeout=30):
    """SIGTERM to each process (last started first), then SIGKILL after `timeout` seconds."""
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def cli(binary, env, work, *args):
    """Runs `gatehouse <args>` against the scratch instance's settings; its stdout."""
    out = subprocess.run([binary, *args], env=env, cwd=work, capture_output=True, text=True,
                         timeout=120)
    if out.returncode:
        raise SystemExit(f"gatehouse {' '.join(args)}: {out.stderr}")
    return out.stdout


def api_key(binary, env, work, username="admin"):
    """A fresh admin API key (`gatehouse api-key create`), for the API-Key header."""
    return json.loads(cli(binary, env, work, "api-key", "create", "--username", username,
                          "--json"))["key"]


# --- the browser's login ----------------------------------------------------------------------


def pkce(verifier=None):
    """(verifier, S256 challenge); a random verifier unless one is given."""
    verifier = verifier or secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_query(client_id, challenge, state="bench"):
    """The query string of an OIDC authorization request to REDIRECT with PKCE."""
    return urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
        "scope": "openid", "state": state, "nonce": "bench", "code_challenge": challenge,
        "code_challenge_method": "S256"})


def sign_in(port, client_id, secret, username, password=USER_PASSWORD, timings=None):
    """The authorization code flow with PKCE, walked as a browser would.

    authorize → /login → POST credentials → … → code → POST /oauth/token. Returns (seconds
    taken, the browser's cookies, the token response); each step's duration is appended to
    `timings[step]` when a dict is given."""
    timings = {} if timings is None else timings
    b = Http(port)
    verifier, challenge = pkce()
    path, method, body, headers, step = (f"/oauth/authorize?{authorize_query(client_id, challenge)}",
                                         "GET", None, {}, "GET /oauth/authorize")
    started = time.perf_counter()
    code = None
    for _ in range(10):
        t0 = time.perf_counter()
        status, h, data = b.call(method, path, body, headers)
        timings.setdefault(step, []).append(time.perf_counter() - t0)
        if status in (301, 302, 303, 307):
            loc = h["location"]
            if loc.startswith(REDIRECT):
                code = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)["code"][0]
                break
            u = urllib.parse.urlsplit(loc)
            path, method, body, headers = u.path + (f"?{u.query}" if u.query else ""), "GET", None, {}
            step = f"GET {u.path}"
            continue
        m = re.search(rb'name="csrf_token" value="([^"]+)"', data)
        if status != 200 or not m:
            raise SystemExit(f"login flow stopped at {path}: {status} {data[:300]!r}")
        method, path, step = "POST", "/login", "POST /login (Argon2id)"
        body = urllib.parse.urlencode({"csrf_token": m.group(1).decode(), "username": username,
                                       "password": password})
        headers = {"Content-Type": FORM}
    if not code:
        raise SystemExit("the login flow did not reach the redirect URI")
    t0 = time.perf_counter()
    status, _, data = b.call("POST", "/oauth/token", urllib.parse.urlencode({
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier}), {"Authorization": basic_auth(client_id, secret),
                                      "Content-Type": FORM})
    timings.setdefault("POST /oauth/token (code)", []).append(time.perf_counter() - t0)
    if status != 200:
        raise SystemExit(f"code redemption: {status} {data!r}")
    return time.perf_counter() - started, b.cookies, json.loads(data)


# --- PostgreSQL -------------------------------------------------------------------------------


def database_url(pg_url, name):
    """`pg_url` pointing at database `name`."""
    return urllib.parse.urlsplit(pg_url)._replace(path=f"/{name}").geturl()


def psql(url, sql, timeout=60):
    """Runs one SQL command with psql (no psqlrc, stop on error); its output."""
    return subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql],
                          check=True, timeout=timeout, capture_output=True, text=True).stdout


def create_database(pg_url, name):
    """CREATE DATABASE `name` on `pg_url`'s server (through its postgres database); its URL."""
    psql(database_url(pg_url, "postgres"), f'CREATE DATABASE "{name}"')
    return database_url(pg_url, name)


def drop_database(pg_url, name):
    """DROP DATABASE `name` (closing its connections); a warning instead of an error."""
    try:
        psql(database_url(pg_url, "postgres"), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except subprocess.SubprocessError as e:
        print(f"warning: could not drop {name}: {e}", file=sys.stderr)


# --- wrk --------------------------------------------------------------------------------------


def wrk(url, load, method="GET", body=None, auth=None, cookie=None, content_type=FORM):
    """One wrk run through bench/wrk.lua against `url`; exits on any error during load.

    `load` carries threads, connections and duration (see add_load_args); the body, when given,
    is sent as `content_type`. Returns rps, p50_ms, p99_ms, max_ms and requests."""
    env = dict(os.environ, BENCH_METHOD=method, BENCH_BODY=body or "", BENCH_AUTH=auth or "",
               BENCH_COOKIE=cookie or "", BENCH_CONTENT_TYPE=content_type)
    cmd = ["wrk", f"-t{load.threads}", f"-c{load.connections}", f"-d{load.duration}s", "--latency",
           "-s", WRK_LUA, url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True,
                         timeout=load.duration + 60, check=True).stdout
    line = next((l for l in out.splitlines() if l.startswith("BENCH_RESULT ")), None)
    if not line:
        raise SystemExit(f"no result from wrk:\n{out}")
    r = json.loads(line[len("BENCH_RESULT "):])
    if sum(r["errors"].values()):
        raise SystemExit(f"{method} {url}: {r['errors']} during load")
    lat = r["latency_us"]
    return {"rps": round(r["requests"] / (r["duration_us"] / 1e6)),
            "p50_ms": round(lat["p50"] / 1000, 3), "p99_ms": round(lat["p99"] / 1000, 3),
            "max_ms": round(lat["max"] / 1000, 3), "requests": r["requests"]}


# --- tables -----------------------------------------------------------------------------------


def row(spec, cells):
    """One table line: each cell formatted with its format spec (e.g. "32", ">9"), space-joined."""
    return " ".join(format(c, s) for c, s in zip(cells, spec))


def table(spec, header, rows):
    """Prints a header line and one line per row, all with the same format specs."""
    print(row(spec, header))
    for r in rows:
        print(row(spec, r))
