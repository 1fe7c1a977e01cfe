#!/usr/bin/env bash
# bench/run_all.sh — run every Google Benchmark program of bench/ and the echo
# comparison, merge their results into one JSON and sum up.
#
#   bench/run_all.sh [BUILD_DIR] [extra --benchmark_* flags...]
#
# BUILD_DIR defaults to build-bench (meson setup build-bench --buildtype=release
# -Dtests=disabled). Each program runs REPS repetitions (default 3) of MIN_TIME
# seconds (default 0.2) and prints its own table and comparisons (medians of
# the repetitions, against the baselines built into the same binary): task
# switch, spawn, sleepers, channels, cross-thread, IPC queue. Then two
# script comparisons: bench/ipc/pool_compare.sh (ProcessPool against Python's
# multiprocessing.Pool and blocking() threads, when bench/ipc/pool_bench is
# built; POOL=0 skips it, POOL_ARGS=--quick shortens it) and
# bench/echo/echo_compare.sh (TCP echo against hand-written epoll and liburing
# servers; ECHO=0 skips it; DURATION and CONNECTIONS pass through). A program
# that is not built is skipped with a note. MERGE_ONLY=1 runs nothing and
# merges the logs of the last run again.
#
# Written into BUILD_DIR:
#   bench/<name>.txt        each program's full console output
#   bench/<name>.json       its Google Benchmark JSON (--benchmark_out)
#   bench-results.json      all of it merged: every benchmark run, and every
#                           comparison line parsed (ratio, ringlet, baseline,
#                           unit, target, verdict)
#   bench-results.md        the summary as a markdown table (the README's
#                           "Benchmarks" table is regenerated from it)
# and the summary table is printed at the end.
# Exit status: 1 if a program failed, else 0 (missed targets are reported,
# not fatal: timings on a shared machine are noisy).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=build-bench
if [[ $# -gt 0 && $1 != --* ]]; then
    build=$1
    shift
fi
reps=${REPS:-3}
min_time=${MIN_TIME:-0.2}
run_echo=${ECHO:-1}
run_pool=${POOL:-1}

programs=(task_switch_bench spawn_join_bench sleep_many_bench channel_bench threads/cross_thread_bench
          ipc/ipc_queue_bench)

failed=0
ran=()
if [[ ${MERGE_ONLY:-0} != 0 ]]; then  # only merge and sum up the logs of the last run
    for name in "${programs[@]}"; do
        [[ ! -f $build/bench/$(basename "$name").txt ]] || ran+=("$name")
    done
    programs=()
    run_pool=0
    run_echo=0
fi
for name in "${programs[@]}"; do
    exe=$build/bench/$name
    base=$(basename "$name")
    if [[ ! -x $exe ]]; then
        echo "run_all: $exe not built, skipped" >&2
        continue
    fi
    log=$build/bench/$base.txt
    json=$build/bench/$base.json
    rm -f "$json"
    echo "=== $name"
    if ! "$exe" --benchmark_repetitions="$reps" --benchmark_min_time="$min_time" \
            --benchmark_display_aggregates_only=true \
            --benchmark_out="$json" --benchmark_out_format=json "$@" 2>&1 | tee "$log"; then
        echo "run_all: $name FAILED" >&2
        echo "FAILED" >>"$log"
        failed=1
    fi
    ran+=("$name")
done

pool_log=$build/bench/pool_compare.txt
[[ ${MERGE_ONLY:-0} != 0 ]] || rm -f "$pool_log"
if [[ $run_pool != 0 ]]; then
    if [[ -x $build/bench/ipc/pool_bench && -f $here/ipc/pool_compare.sh ]]; then
        echo "=== ipc/pool_compare.sh"
        # shellcheck disable=SC2086  # POOL_ARGS is a list of flags
        if ! bash "$here/ipc/pool_compare.sh" "$build" ${POOL_ARGS:-} 2>&1 | tee "$pool_log"; then
            echo "run_all: pool_compare.sh FAILED" >&2
            echo "FAILED" >>"$pool_log"
            failed=1
        fi
    else
        echo "run_all: $build/bench/ipc/pool_bench not built, pool comparison skipped" >&2
    fi
fi

echo_log=$build/bench/echo_compare.txt
[[ ${MERGE_ONLY:-0} != 0 ]] || rm -f "$echo_log"
if [[ $run_echo != 0 ]]; then
    if [[ -x $build/examples/net/echo_server && -x $build/bench/echo/epoll_echo ]]; then
        echo "=== echo/echo_compare.sh"
        if ! bash "$here/echo/echo_compare.sh" "$build" 2>&1 | tee "$echo_log"; then
            echo "run_all: echo_compare.sh FAILED" >&2
            echo "FAILED" >>"$echo_log"
            failed=1
        fi
    else
        echo "run_all: echo comparison skipped (needs examples/net/echo_server and bench/echo/*)" >&2
    fi
fi

# Merge and sum up (Debian's python3; meson needs it anyway).
python3 - "$build" "$reps" "$min_time" "${ran[@]}" <<'EOF'
import datetime, json, os, re, sys

build, reps, min_time, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"

def parse_comparison(line):
    """One line after '== ringlet: comparisons': its label and figures."""
    c = {"line": line.rstrip()}
    m = re.match(rf"^(?P<label>.+?)\s{{2,}}(?P<value>{NUM})(?P<x>x?)\s*(?P<rest>.*)$", line.strip())
    if not m:
        c["label"] = line.strip()
        if "(not run)" in line:
            c["label"] = line.replace("(not run)", "").strip()
            c["verdict"] = "not run"
        return c
    c["label"] = m["label"].strip()
    rest = m["rest"]
    if m["x"]:
        c["ratio"] = float(m["value"])
        p = re.search(rf"\(({NUM}) (?:/|vs) ({NUM}) ([^)]*)\)", rest)
        if p:
            c["ringlet"], c["baseline"], c["unit"] = float(p[1]), float(p[2]), p[3].strip()
    else:
        c["ringlet"] = float(m["value"])
        u = re.match(r"\s*([^\s]+)", rest)
        if u and not u[1].startswith("target"):
            c["unit"] = u[1]
    t = re.search(r"target\s*([<>]=?)\s*([^:]+):\s*(ok|MISSED)", rest)
    if t:
        c["target"] = f"{t[1]} {t[2].strip()}"
        c["verdict"] = t[3]
    return c

def comparisons(text):
    out, on = [], False
    for line in text.splitlines():
        if line.startswith("== ringlet: comparisons"):
            on = True
            continue
        if on and line.strip() and line.strip() != "FAILED":
            out.append(parse_comparison(line))
    return out

def pool_comparisons(text):
    out = []
    for line in text.splitlines():
        m = re.match(r"^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+\((.*)\)\s*$", line)
        if not m or m[1] == "workload":
            continue
        w, pool, blocking, python, vs_py, vs_bl, unit = m.groups()
        for base, value, ratio in (("Python multiprocessing.Pool", python, vs_py),
                                   ("blocking() threads", blocking, vs_bl)):
            if ratio == "-":
                continue
            r = float(ratio.rstrip("x"))
            out.append({"label": f"ProcessPool {w}: speed-up over {base}", "ratio": r, "ringlet": float(pool),
                        "baseline": float(value), "unit": unit, "line": line.rstrip(),
                        "note": "ratio > 1: ProcessPool better"})
    return out

def echo_comparisons(text):
    out = []
    for line in text.splitlines():
        m = re.match(r"^(\d+) B\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s*$", line)
        if not m:
            continue
        size, conns, ri, ep, ur = (int(m[i]) for i in range(1, 6))
        for base, value in (("epoll", ep), ("liburing", ur)):
            out.append({"label": f"TCP echo {size} B x {conns} conns, ringlet / {base} server",
                        "ratio": ri / value if value else 0.0, "ringlet": ri, "baseline": value,
                        "unit": "round trips/s", "target": ">= 1",
                        "verdict": "ok" if ri >= value else "MISSED", "line": line.rstrip()})
    return out

merged = {"generated": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
          "build": os.path.abspath(build), "repetitions": int(reps), "min_time": min_time,
          "context": None, "programs": []}
for name in names:
    base = os.path.basename(name)
    entry = {"name": name, "status": "ok", "benchmarks": [], "comparisons": []}
    try:
        with open(os.path.join(build, "bench", base + ".txt")) as f:
            text = f.read()
    except OSError:
        text = ""
    if "FAILED" in text.splitlines()[-1:]:
        entry["status"] = "failed"
    entry["comparisons"] = comparisons(text)
    try:
        with open(os.path.join(build, "bench", base + ".json")) as f:
            data = json.load(f)
        merged["context"] = merged["context"] or data.get("context")
        entry["benchmarks"] = data.get("benchmarks", [])
    except (OSError, ValueError):
        entry["status"] = "failed" if entry["status"] == "ok" and not entry["comparisons"] else entry["status"]
    merged["programs"].append(entry)
for script, log, parse in (("ipc/pool_compare.sh", "pool_compare.txt", pool_comparisons),
                           ("echo/echo_compare.sh", "echo_compare.txt", echo_comparisons)):
    try:
        with open(os.path.join(build, "bench", log)) as f:
            text = f.read()
    except OSError:
        continue
    merged["programs"].append({"name": script, "benchmarks": [],
                               "status": "failed" if "FAILED" in text.splitlines()[-1:] else "ok",
                               "comparisons": parse(text)})

with open(os.path.join(build, "bench-results.json"), "w") as f:
    json.dump(merged, f, indent=1)
    f.write("\n")

def num(v):
    if v is None:
        return ""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g} M"
    if a >= 1e4:
        return f"{v / 1e3:.3g} k"
    return f"{v:.3g}" if a < 100 else f"{v:.0f}"

rows = []
for p in merged["programs"]:
    if p["status"] != "ok" and not p["comparisons"]:
        rows.append((p["name"], "(failed)", "", "", "", "", ""))
    for c in p["comparisons"]:
        unit = c.get("unit", "")
        baseline = (num(c.get("baseline")) + " " + unit).strip() if "baseline" in c else ""
        rows.append((p["name"], c["label"], (num(c.get("ringlet")) + " " + unit).strip(),
                     baseline, f"{c['ratio']:.3g}x" if "ratio" in c else "",
                     c.get("target", ""), c.get("verdict", "")))
print()
print(f"=== summary (medians of {reps} repetitions; full output in {build}/bench/*.txt)")
head = ("program", "comparison", "ringlet", "baseline", "ratio", "target", "verdict")
w = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
for r in [head] + rows:
    print("  ".join(str(x).ljust(w[i]) if i < 2 else str(x).rjust(w[i]) for i, x in enumerate(r)))
missed = sum(1 for r in rows if r[6] == "MISSED")
print(f"targets missed: {missed}")

ctx = merged["context"] or {}
buildtype = "?"
try:
    with open(os.path.join(build, "meson-info", "intro-buildoptions.json")) as f:
        buildtype = next(o["value"] for o in json.load(f) if o["name"] == "buildtype")
except (OSError, ValueError, StopIteration):
    pass
with open(os.path.join(build, "bench-results.md"), "w") as f:
    f.write(f"Generated by `bash bench/run_all.sh {build}` on {merged['generated']}"
            f" ({ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz,"
            f" {buildtype} build); medians of {reps} repetitions. Ratios as each program prints"
            f" them: `a / b` lines (task switch, spawn, sleepers, channels) are ringlet / baseline,"
            f" lower is better for times; cross-thread, IPC queue and echo lines are > 1 when ringlet"
            f" is faster; pool lines are ProcessPool's speed-up.\n\n")
    f.write("| program | comparison | ringlet | baseline | ratio | target |\n|---|---|---|---|---|---|\n")
    for r in rows:
        target = f"{r[5]}: {r[6]}" if r[5] else (r[6] or "")
        f.write(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} | {target} |\n")
print(f"merged: {os.path.join(build, 'bench-results.json')}, {os.path.join(build, 'bench-results.md')}")
EOF
exit $failed
