#!/usr/bin/env python3
"""Turn the measurements of bench/run.sh into the printed table and results/latest.json.

usage: report.py FACTS_JSON RUNS_JSONL OUT_JSON

FACTS_JSON: one object (startup, memory, machine, git, settings) written by run.sh.
RUNS_JSONL: one object per wrk run: {"name", "label", "target_pct" (null for the baseline),
            "wrk": <the BENCH_RESULT object printed by bench/wrk.lua>}.
Exit status 0; with BENCH_STRICT=1, 3 when any target is missed.
"""
import datetime
import json
import os
import sys


def fmt_us(us: float) -> str:
    if us >= 1_000_000:
        return f"{us / 1_000_000:.2f}s"
    if us >= 1000:
        return f"{us / 1000:.2f}ms"
    return f"{us:.0f}us"


def main() -> int:
    facts_path, runs_path, out_path = sys.argv[1:4]
    with open(facts_path) as f:
        facts = json.load(f)
    with open(runs_path) as f:
        runs = [json.loads(line) for line in f if line.strip()]

    for r in runs:
        w = r["wrk"]
        secs = w["duration_us"] / 1e6
        r["rps"] = w["requests"] / secs if secs > 0 else 0.0
        r["p50_us"] = w["latency_us"]["p50"]
        r["p99_us"] = w["latency_us"]["p99"]

    base_runs = [r for r in runs if r["target_pct"] is None]
    baseline = max(base_runs, key=lambda r: r["rps"])
    base_rps = baseline["rps"]

    endpoints = []
    for r in runs:
        is_base = r["target_pct"] is None
        ratio = 100.0 * r["rps"] / base_rps if base_rps > 0 else 0.0
        row = {
            "name": r["name"],
            "request": r["label"],
            "rps": round(r["rps"], 1),
            "p50_ms": round(r["p50_us"] / 1000, 3),
            "p99_ms": round(r["p99_us"] / 1000, 3),
            "ratio_pct": round(ratio, 1),
            "target_pct": r["target_pct"],
            "pass": None if is_base else ratio >= r["target_pct"],
            "baseline": is_base,
            "used_as_baseline": r is baseline,
            "wrk": r["wrk"],
        }
        endpoints.append(row)

    st, mem = facts["startup"], facts["memory"]
    st["pass"] = st["time_to_ready_ms"] <= st["target_ms"]
    mem["pass"] = mem["idle_rss_mib"] <= mem["target_mib"]
    checks = [e["pass"] for e in endpoints if e["pass"] is not None] + [st["pass"], mem["pass"]]
    result = {
        "schema": 1,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": facts["git"],
        "machine": facts["machine"],
        "settings": facts["settings"],
        "baseline_rps": round(base_rps, 1),
        "endpoints": endpoints,
        "startup": st,
        "memory": mem,
        "all_targets_met": all(checks),
    }
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")

    def verdict(ok):
        return "-" if ok is None else ("PASS" if ok else "MISS")

    s = facts["settings"]
    m = facts["machine"]
    g = facts["git"]
    print()
    print(f"Gatehouse benchmark  {result['timestamp']}")
    print(f"machine: {m['nproc']} CPU(s), {m['cpu_model']}; kernel {m['kernel']}")
    print(f"git:     {g['commit'][:12]}{' (dirty work tree)' if g['dirty'] else ''}")
    print(f"load:    wrk -t{s['threads']} -c{s['connections']} -d{s['duration_s']}s --latency "
          f"(client and server share the machine)")
    print()
    hdr = f"{'endpoint':<44} {'req/s':>10} {'p50':>9} {'p99':>9} {'vs base':>8} {'target':>7}  result"
    print(hdr)
    print("-" * len(hdr))
    for e in endpoints:
        target = "-" if e["target_pct"] is None else f">={e['target_pct']}%"
        name = e["request"] + ("  *" if e["used_as_baseline"] else "")
        print(f"{name:<44} {e['rps']:>10.0f} {fmt_us(e['p50_ms'] * 1000):>9} "
              f"{fmt_us(e['p99_ms'] * 1000):>9} {e['ratio_pct']:>7.1f}% {target:>7}  {verdict(e['pass'])}")
    print(f"(* baseline: the higher of the two /healthz runs, {base_rps:.0f} req/s)")
    print()
    print(f"{'time to ready (first start)':<34} {st['time_to_ready_ms']:>8.1f} ms   target <= {st['target_ms']} ms  "
          f"{verdict(st['pass'])}   ('listening on' printed at {st['listening_ms']:.1f} ms)")
    print(f"{'time to ready (restart, info)':<34} {st['restart_time_to_ready_ms']:>8.1f} ms   "
          f"(same DB and keys, admin already bootstrapped)")
    print(f"{'idle RSS (2 s after ready)':<34} {mem['idle_rss_mib']:>8.1f} MiB  target <= {mem['target_mib']} MiB  "
          f"{verdict(mem['pass'])}")
    print(f"{'RSS after load':<34} {mem['after_load_rss_mib']:>8.1f} MiB  (peak VmHWM {mem['peak_hwm_mib']:.1f} MiB)")
    print(f"{'idle RSS after restart (info)':<34} {mem['restart_idle_rss_mib']:>8.1f} MiB")
    print()
    print(f"all targets met: {'yes' if result['all_targets_met'] else 'NO'}   -> {out_path}")
    if os.environ.get("BENCH_STRICT") == "1" and not result["all_targets_met"]:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
