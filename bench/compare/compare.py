#!/usr/bin/env python3
"""bench/compare/compare.py — coroutines vs threads vs processes, in one run.

    python3 bench/compare/compare.py [--short | --full | --smoke] [--build DIR] [--out DIR]
                                     [--models a,b] [--workloads io,cpu] [--no-peers]
                                     [--repeats N] [--no-chart] [--markdown]
    python3 bench/compare/compare.py --replot DIR      # table and chart of DIR/results.json again

Runs every cell (model x workload x size) in a fresh process, `--repeats`
times, and writes OUT/results.csv, OUT/results.json, OUT/chart.png and
OUT/chart.svg; prints the table. Modes (sizes per workload, repeats):

    --smoke  each model once, tiny sizes (a test that the suite works)
    --short  the default: io 1 000 units, cpu 64 units, mixed 400, spawn 1 000
             and 10 000; 3 repeats; about a minute on 2 cores
    --full   io 10 000, cpu 64 (4x the hashing), mixed 2 000, spawn 1 000 /
             10 000 / 100 000; 5 repeats

Models are those of `compare_models info` (bench/compare/models.hpp); peers
(Go goroutines, Python gevent, Python multiprocessing.Pool, Boost.Fiber) run
the io and spawn workloads when their tool is installed and are skipped with
a note otherwise (bash scripts/deps.sh --peers installs them). A slow cell
repeats fewer times (each cell has a time budget); a cell that hits a limit
(threads, processes, file descriptors, memory, the timeout) is reported with
that limit instead of figures.

Every figure is the median of the repeats with their min and max. Wall time,
CPU time (user + system) and context switches cover the cell's measured
section only (see measure.hpp); peak RSS is the largest single process of
the cell (its VmHWM, or the largest child's ru_maxrss).
"""
import argparse
import csv
import datetime
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

MODEL_LABELS = {
    "tasks": "ringlet tasks, 1 thread",
    "tasks_mt": "ringlet tasks, N threads",
    "threads": "OS thread per unit",
    "processes": "process per unit",
    "pool": "ipc::ProcessPool(N)",
    "hybrid": "N processes x tasks",
    "go": "Go goroutines",
    "gevent": "Python gevent",
    "mp": "Python multiprocessing.Pool",
    "fiber": "Boost.Fiber, 1 thread",
}
MODEL_ORDER = list(MODEL_LABELS)
PEERS = ("go", "gevent", "mp", "fiber")
PEER_WORKLOADS = ("io", "spawn")

WORKLOADS = ("io", "cpu", "mixed", "spawn")
CPU_ROUNDS = 4_000_000     # hashing steps per cpu unit (x64 units: ~0.45 s on one 2.6 GHz core)
MIXED_ROUNDS = 500_000     # per mixed unit: ~1 ms of CPU after its 10 ms round trip

MODES = {
    "smoke": dict(sizes={"io": [50], "cpu": [64], "mixed": [20], "spawn": [100]},
                  cpu_rounds=100_000, mixed_rounds=50_000, repeats=1, budget_s=10, timeout_s=60),
    "short": dict(sizes={"io": [1000], "cpu": [64], "mixed": [400], "spawn": [1000, 10000]},
                  cpu_rounds=CPU_ROUNDS, mixed_rounds=MIXED_ROUNDS, repeats=3, budget_s=4,
                  timeout_s=120),
    "full": dict(sizes={"io": [10000], "cpu": [64], "mixed": [2000], "spawn": [1000, 10000, 100000]},
                 cpu_rounds=4 * CPU_ROUNDS, mixed_rounds=MIXED_ROUNDS, repeats=5, budget_s=60,
                 timeout_s=600),
}

FIGURES = ("wall_s", "units_per_s", "cpu_s", "user_s", "sys_s", "maxrss_kib", "vcsw", "ivcsw",
           "us_per_unit", "spawn_s", "mem_per_unit_kib", "kmem_per_unit_kib")

SERVER_DELAY_MS = 10


# ---------------------------------------------------------------- helpers

def fmt_time(s):
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


def read_first(path, default=""):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def meminfo_kib(field):
    for line in read_first("/proc/meminfo").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def cpu_model():
    for line in read_first("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def run_text(argv, cwd=None):
    try:
        return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def system_python():
    """Debian's python3 (where python3-gevent installs), else this one."""
    for p in ("/usr/bin/python3", sys.executable):
        if p and os.access(p, os.X_OK):
            return p
    return "python3"


class Progress:
    """One line, rewritten in place on a terminal; plain lines otherwise."""

    def __init__(self, total, quiet=False):
        self.total, self.done, self.quiet = total, 0, quiet
        self.tty = sys.stderr.isatty()
        self.start = time.monotonic()
        self.width = 0

    def show(self, text):
        if self.quiet:
            return
        line = f"[{self.done:3d}/{self.total}] {time.monotonic() - self.start:5.0f}s  {text}"
        if self.tty:
            pad = max(0, self.width - len(line))
            sys.stderr.write("\r" + line + " " * pad)
            self.width = len(line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def finish(self):
        if self.tty and not self.quiet:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


# ---------------------------------------------------------------- cells

def run_cell_once(argv, timeout_s, cwd=None, env=None):
    """Runs one cell in a fresh process; returns its JSON result with the
    peak RSS it reports (else wait4's), or a failure with what went wrong."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        try:
            p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                 start_new_session=True, cwd=cwd, env=env)
        except OSError as e:
            return {"ok": False, "error": f"cannot start {argv[0]}: {e}"}
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass

        timer = threading.Timer(timeout_s, kill)
        timer.start()
        while True:
            try:
                _, status, ru = os.wait4(p.pid, 0)
                break
            except InterruptedError:
                continue
        timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        try:  # children a killed cell left behind
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass
        elapsed = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if timed_out.is_set():
        return {"ok": False, "limit": f"timeout: still running after {timeout_s:.0f} s", "elapsed": elapsed}
    result = None
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                result = json.loads(line)
                break
            except ValueError:
                pass
    if result is None:
        tail = " | ".join(stderr.strip().splitlines()[-3:])
        how = f"killed by signal {-p.returncode}" if p.returncode < 0 else f"exit code {p.returncode}"
        return {"ok": False, "error": f"no result ({how}){': ' + tail if tail else ''}", "elapsed": elapsed}
    # The cell's own figure: wait4's ru_maxrss would include this runner's RSS,
    # which the cell inherits through fork and keeps across exec.
    result["maxrss_kib"] = result.get("peak_rss_kib", ru.ru_maxrss)
    result["elapsed"] = elapsed
    if result.get("ok") and result.get("units"):
        result["us_per_unit"] = result["wall_s"] / result["units"] * 1e6
    return result


def summarise(samples):
    """median/min/max of each figure over the ok samples."""
    ok = [s for s in samples if s.get("ok")]
    figures = {}
    for f in FIGURES:
        values = [s[f] for s in ok if isinstance(s.get(f), (int, float)) and s[f] is not None]
        if f in ("mem_per_unit_kib", "kmem_per_unit_kib"):
            values = [v for v in values if v != -1]
        if values:
            figures[f] = {"median": statistics.median(values), "min": min(values), "max": max(values),
                          "samples": values}
    return ok, figures


# ---------------------------------------------------------------- the run

class Suite:
    def __init__(self, opts):
        self.opts = opts
        self.mode = MODES[opts.mode]
        self.build = os.path.abspath(opts.build)
        self.bin_dir = os.path.join(self.build, "bench", "compare")
        self.models_exe = os.path.join(self.bin_dir, "compare_models")
        self.fiber_exe = os.path.join(self.bin_dir, "compare_fiber")
        self.go_exe = os.path.join(self.bin_dir, "compare_go")
        self.python = system_python()
        self.notes = []
        self.server = None
        self.port = 0

    # -- set-up

    def info(self):
        out = run_text([self.models_exe, "info"])
        try:
            return json.loads(out)
        except ValueError:
            sys.exit(f"compare: {self.models_exe} info failed; build it first "
                     f"(ninja -C {self.build} bench/compare/compare_models)")

    def peers(self):
        """The peers that can run here, and a note for each one that cannot."""
        found = {}
        if self.opts.no_peers:
            self.notes.append("peers not run (--no-peers)")
            return found
        go = shutil.which("go")
        if go:
            src = os.path.join(HERE, "peers", "compare_go.go")
            if (not os.path.exists(self.go_exe) or os.path.getmtime(self.go_exe) < os.path.getmtime(src)):
                env = dict(os.environ, GOCACHE=os.path.join(self.bin_dir, "go-cache"), GO111MODULE="off",
                           GOFLAGS="")
                r = subprocess.run([go, "build", "-o", self.go_exe, src], capture_output=True, text=True,
                                   env=env)
                if r.returncode != 0:
                    self.notes.append(f"Go peer skipped: go build failed: {r.stderr.strip()[:200]}")
            if os.path.exists(self.go_exe):
                found["go"] = ([self.go_exe], "-", run_text([go, "version"]).replace("go version ", ""))
        else:
            self.notes.append("Go peer skipped: `go` not installed (apt-get install golang-go)")
        py_version = run_text([self.python, "-c", "import platform; print(platform.python_version())"])
        gevent_version = run_text([self.python, "-c", "import gevent; print(gevent.__version__)"])
        if gevent_version:
            found["gevent"] = ([self.python, os.path.join(HERE, "peers", "gevent_peer.py")], "--",
                               f"gevent {gevent_version}, Python {py_version}")
        else:
            self.notes.append("gevent peer skipped: python3-gevent not installed")
        if run_text([self.python, "-c", "import multiprocessing; print(1)"]) == "1":
            found["mp"] = ([self.python, os.path.join(HERE, "peers", "mp_peer.py")], "--",
                           f"Python {py_version}")
        if os.access(self.fiber_exe, os.X_OK):
            found["fiber"] = ([self.fiber_exe], "--", "Boost " + (run_text(
                ["dpkg-query", "-W", "-f=${Version}", "libboost-fiber-dev"]) or "?"))
        else:
            self.notes.append("Boost.Fiber peer skipped: not built (libboost-fiber-dev missing at meson setup)")
        return found

    def start_server(self):
        self.server = subprocess.Popen([self.models_exe, "server", "--delay-ms", str(SERVER_DELAY_MS),
                                        "--threads", "2"], stdout=subprocess.PIPE, text=True,
                                       stdin=subprocess.DEVNULL)
        line = self.server.stdout.readline()
        if not line.startswith("port "):
            sys.exit("compare: the delay server did not start")
        self.port = int(line.split()[1])
        self.server_fds = int(line.split()[3])

    def stop_server(self):
        if self.server:
            self.server.terminate()
            try:
                self.server.wait(5)
            except subprocess.TimeoutExpired:
                self.server.kill()

    def header(self, info, peers):
        opts = {}
        try:
            with open(os.path.join(self.build, "meson-info", "intro-buildoptions.json")) as f:
                opts = {o["name"]: o["value"] for o in json.load(f)}
        except (OSError, ValueError):
            pass
        compiler = "c++ ?"
        try:
            with open(os.path.join(self.build, "meson-logs", "meson-log.txt")) as f:
                for line in f:
                    if line.startswith("C++ compiler for the host machine:"):
                        compiler = line.split("(", 1)[1].split('"', 1)[0].strip()  # "gcc 12.2.0"
                        break
        except (OSError, IndexError):
            pass
        git = run_text(["git", "describe", "--always", "--dirty"], cwd=ROOT)
        return {
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "mode": self.opts.mode,
            "machine": f"{cpu_model()}, {os.cpu_count()} CPUs, {meminfo_kib('MemTotal') // 1024} MiB",
            "kernel": f"{platform.system()} {platform.release()}",
            "backend": info.get("backend", "?"),
            "ring_flags": info.get("ring_flags"),
            "build": f"{compiler}, buildtype={opts.get('buildtype', '?')}",
            "git": git,
            "workers": info.get("cpus"),
            "load_average_at_start": " ".join(read_first("/proc/loadavg").split()[:3]),
            "limits": {
                "ulimit -n": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                "ulimit -u": resource.getrlimit(resource.RLIMIT_NPROC)[0],
                "kernel.pid_max": int(read_first("/proc/sys/kernel/pid_max", "0")),
                "kernel.threads-max": int(read_first("/proc/sys/kernel/threads-max", "0")),
                "vm.max_map_count": int(read_first("/proc/sys/vm/max_map_count", "0")),
                "net.core.somaxconn": int(read_first("/proc/sys/net/core/somaxconn", "0")),
            },
            "io_server": f"compare_models server: 2 ringlet threads, {SERVER_DELAY_MS} ms delay per request",
            "cpu_rounds": self.mode["cpu_rounds"],
            "mixed_rounds": self.mode["mixed_rounds"],
            "peers": {k: v[2] for k, v in peers.items()},
            "notes": list(self.notes),
        }

    # -- cells

    def cell_argv(self, model, workload, units, peers):
        if model in peers:
            cmd, dash, _ = peers[model]
            argv = list(cmd)
            if dash == "-":
                argv += ["-workload", workload, "-units", str(units)]
                if workload == "io":
                    argv += ["-port", str(self.port)]
            else:
                argv += ["--workload", workload, "--units", str(units)]
                if workload == "io":
                    argv += ["--port", str(self.port)]
            return argv
        argv = [self.models_exe, "cell", "--model", model, "--workload", workload, "--units", str(units)]
        if workload in ("io", "mixed"):
            argv += ["--port", str(self.port)]
        if workload == "cpu":
            argv += ["--rounds", str(self.mode["cpu_rounds"])]
        if workload == "mixed":
            argv += ["--rounds", str(self.mode["mixed_rounds"])]
        return argv

    def plan(self, models, peers):
        cells = []
        for w in self.opts.workloads:
            for units in self.mode["sizes"][w]:
                for m in models + [p for p in PEERS if p in peers]:
                    if m in PEERS and w not in PEER_WORKLOADS:
                        continue
                    cells.append((w, units, m))
        return cells

    def run(self):
        info = self.info()
        built = info.get("models", "").split(",")
        wanted = self.opts.models or MODEL_ORDER
        models = [m for m in MODEL_ORDER if m in built and m in wanted]
        for m in wanted:
            if m not in built and m not in PEERS:
                self.notes.append(f"model {m} not run: not in this build ({','.join(built)})")
        peers = {k: v for k, v in self.peers().items() if k in wanted}
        resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
        header = self.header(info, peers)
        cells = self.plan(models, peers)
        self.start_server()
        results = []
        progress = Progress(len(cells), self.opts.quiet)
        env = dict(os.environ, PYTHONPATH=os.path.join(HERE, "peers"))
        try:
            for (w, units, m) in cells:
                samples = []
                spent = 0.0
                reps = self.opts.repeats or self.mode["repeats"]
                for r in range(reps):
                    progress.show(f"{w:<5} {units:>6} units  {MODEL_LABELS[m]:<28} run {r + 1}/{reps}")
                    s = run_cell_once(self.cell_argv(m, w, units, peers), self.mode["timeout_s"], env=env)
                    samples.append(s)
                    spent += s.get("elapsed", 0)
                    if not s.get("ok"):
                        break  # a limit or an error does not change on a rerun
                    # Slow cells repeat less: stop when the next run would overrun the budget.
                    if spent + spent / (r + 1) > self.mode["budget_s"]:
                        break
                progress.done += 1
                results.append(self.cell_record(w, units, m, samples))
        finally:
            progress.finish()
            self.stop_server()
        self.check_checksums(results)
        header["notes"] = list(self.notes)
        return header, results

    def cell_record(self, w, units, m, samples):
        ok, figures = summarise(samples)
        rec = {"workload": w, "units": units, "model": m, "label": MODEL_LABELS[m],
               "runs": len(samples), "ok_runs": len(ok), "figures": figures, "status": "ok", "note": ""}
        bad = [s for s in samples if not s.get("ok")]
        if not ok:
            s = bad[0]
            rec["status"] = "limit" if s.get("limit") else "error"
            rec["note"] = s.get("limit") or s.get("error") or "failed"
            if s.get("limit") and s.get("error"):
                rec["note"] += "; " + s["error"]
        elif bad:
            rec["note"] = f"{len(bad)} of {len(samples)} runs failed: {bad[0].get('limit') or bad[0].get('error')}"
        rec["checksum"] = ok[0].get("checksum") if ok else None
        return rec

    def check_checksums(self, results):
        """Every model must compute the same values (cpu and mixed have no
        known answer in the cell: they must agree with each other)."""
        groups = {}
        for r in results:
            if r["status"] == "ok":
                groups.setdefault((r["workload"], r["units"]), []).append(r)
        for key, rs in groups.items():
            values = [r["checksum"] for r in rs]
            majority = max(set(values), key=values.count)
            for r in rs:
                if r["checksum"] != majority:
                    r["status"] = "error"
                    r["note"] = f"checksum {r['checksum']} differs from the other models' {majority}"


# ---------------------------------------------------------------- output

def median(rec, f):
    v = rec["figures"].get(f)
    return v["median"] if v else None


def write_csv(path, results):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        cols = ["workload", "units", "model", "label", "status", "note", "runs"]
        for fig in FIGURES:
            cols += [fig + "_median", fig + "_min", fig + "_max"]
        w.writerow(cols)
        for r in results:
            row = [r["workload"], r["units"], r["model"], r["label"], r["status"], r["note"], r["ok_runs"]]
            for fig in FIGURES:
                v = r["figures"].get(fig)
                row += [f"{v['median']:.6g}", f"{v['min']:.6g}", f"{v['max']:.6g}"] if v else ["", "", ""]
            w.writerow(row)


def write_json(path, header, results):
    with open(path, "w") as f:
        json.dump({"header": header, "cells": results}, f, indent=1)
        f.write("\n")


def sig(v):
    """3 significant digits, no exponent."""
    if v is None:
        return "-"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def range_text(rec, f, scale=1.0):
    """median, and (min-max) when the runs differ by more than 5%."""
    v = rec["figures"].get(f)
    if not v:
        return "-"
    m, lo, hi = v["median"] * scale, v["min"] * scale, v["max"] * scale
    if len(v["samples"]) == 1 or hi - lo <= 0.05 * abs(m):
        return sig(m)
    return f"{sig(m)} ({sig(lo)}-{sig(hi)})"


def table_text(header, results):
    out = []
    out.append("== coroutines vs threads vs processes (bench/compare)")
    out.append(f"machine: {header['machine']}; kernel {header['kernel']}; backend {header['backend']}; "
               f"{header['build']}")
    out.append(f"mode: {header['mode']}; N = {header['workers']} (threads / processes of the N-way models); "
               f"{header['date']}; load at start {header['load_average_at_start']}")
    for n in header["notes"]:
        out.append(f"note: {n}")
    titles = {
        "io": f"io: each unit one loopback request/response, {SERVER_DELAY_MS} ms server-side delay, all units at once",
        "cpu": f"cpu: {header['cpu_rounds']:,} hashing steps per unit",
        "mixed": f"mixed: one io round trip then {header['mixed_rounds']:,} hashing steps per unit",
        "spawn": "spawn: start N units that wait until all are alive, then release and join them",
    }
    for w in WORKLOADS:
        rs = [r for r in results if r["workload"] == w]
        if not rs:
            continue
        out.append("")
        out.append(titles[w])
        if w == "spawn":
            cols = ["units", "model", "wall ms", "us/unit", "CPU ms", "peak RSS MiB", "KiB/unit",
                    "kernel KiB/unit", "vcsw", "ivcsw"]
        else:
            cols = ["units", "model", "wall ms", "units/s", "CPU ms", "peak RSS MiB", "vcsw", "ivcsw"]
        rows = [cols]
        notes = []
        for r in rs:
            if r["status"] != "ok":
                rows.append([f"{r['units']:,}", r["label"], f"{r['status']}: {r['note']}"])
                continue
            row = [f"{r['units']:,}", r["label"], range_text(r, "wall_s", 1e3)]
            row.append(range_text(r, "us_per_unit") if w == "spawn" else range_text(r, "units_per_s"))
            row.append(range_text(r, "cpu_s", 1e3))
            rss = median(r, "maxrss_kib")
            row.append(sig(rss / 1024) if rss else "-")
            if w == "spawn":
                pooled = r["model"] in ("pool", "mp")
                mem, kmem = median(r, "mem_per_unit_kib"), median(r, "kmem_per_unit_kib")
                row.append("n/a" if pooled or mem is None else sig(mem))
                row.append("n/a" if pooled or kmem is None else ("~0" if kmem < 0.5 else sig(kmem)))
            row.append(f"{median(r, 'vcsw') or 0:,.0f}")
            row.append(f"{median(r, 'ivcsw') or 0:,.0f}")
            if r["note"]:
                notes.append(f"  {r['label']}: {r['note']}")
            rows.append(row)
        full = [row for row in rows if len(row) == len(cols)]
        widths = [max(len(row[i]) for row in full) for i in range(len(cols))]
        for row in rows:
            if len(row) == len(cols):
                out.append("  " + "  ".join(c.ljust(widths[i]) if i == 1 else c.rjust(widths[i])
                                             for i, c in enumerate(row)))
            else:
                out.append("  " + row[0].rjust(widths[0]) + "  " + row[1].ljust(widths[1]) + "  " + row[2])
        out.extend(notes)
    out.append("")
    out.append("wall, CPU (user+system) and context switches (voluntary, involuntary): the measured section "
               "of each cell; peak RSS: its largest single process.")
    out.append("KiB/unit: Pss of all the cell's processes while every unit is alive, less before, per unit; "
               "kernel KiB/unit: KernelStack+PageTables+SUnreclaim, same delta (system-wide, approximate).")
    out.append("medians of the runs, (min-max) when they differ by more than 5%. "
               "The pools never hold all units at once: their memory per unit is n/a.")
    return "\n".join(out)


def markdown_table(header, results):
    """The README's table: one row per model, one column per workload."""
    cols = []
    for w in WORKLOADS:
        for units in sorted({r["units"] for r in results if r["workload"] == w}):
            cols.append((w, units))
    models = [m for m in MODEL_ORDER if any(r["model"] == m for r in results)]
    names = {"io": "io", "cpu": "cpu", "mixed": "mixed", "spawn": "spawn+join per unit,"}
    spawn_sizes = sorted({u for w, u in cols if w == "spawn"})
    mem_size = 10000 if 10000 in spawn_sizes else (spawn_sizes[-1] if spawn_sizes else None)
    head = ["model"] + [f"{names[w]} {u:,}" for w, u in cols]
    head.append(f"memory per live unit ({mem_size:,})" if mem_size else "memory per live unit")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by = {(r["workload"], r["units"], r["model"]): r for r in results}
    for m in models:
        row = [MODEL_LABELS[m]]
        for w, u in cols:
            r = by.get((w, u, m))
            if r is None:
                row.append("")
            elif r["status"] != "ok":
                row.append(("" if r["status"] == "limit" else "error: ") + short_limit(r["note"]))
            elif w == "spawn":
                row.append(f"{sig(median(r, 'us_per_unit'))} µs")
            else:
                row.append(fmt_time(median(r, "wall_s")))
        r = by.get(("spawn", mem_size, m))
        if r and r["status"] == "ok" and m not in ("pool", "mp") and median(r, "mem_per_unit_kib") is not None:
            kmem = max(0.0, median(r, "kmem_per_unit_kib") or 0.0)
            row.append(f"{sig(median(r, 'mem_per_unit_kib'))} KiB + {sig(kmem) if kmem >= 0.5 else '~0'} KiB kernel")
        else:
            row.append("n/a" if r else "")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------- chart

PANELS = [
    # workload, figure, scale, y label, title
    ("io", "wall_s", 1e3, "wall time, ms", "IO-bound: wall time"),
    ("io", "cpu_s", 1e3, "CPU time, ms", "IO-bound: CPU time (user + system)"),
    ("cpu", "wall_s", 1e3, "wall time, ms", "CPU-bound: wall time"),
    ("mixed", "wall_s", 1e3, "wall time, ms", "Mixed IO + CPU: wall time"),
    ("spawn", "us_per_unit", 1.0, "µs per unit", "Spawn + join: time per unit"),
    ("spawn", "mem_total_kib", 1.0, "KiB per unit", "Memory per live unit (user + kernel)"),
]

COLORS = {
    "tasks": "#1f4e99", "tasks_mt": "#4f86d9", "threads": "#d9822b", "processes": "#c0392b",
    "pool": "#8e44ad", "hybrid": "#27ae60", "go": "#7f8c8d", "gevent": "#b7950b",
    "mp": "#d98cb3", "fiber": "#34495e",
}


ERRNO_NAMES = {"Resource temporarily unavailable": "EAGAIN", "Too many open files": "EMFILE",
               "Cannot allocate memory": "ENOMEM"}


def short_limit(note):
    """A few words for the chart: what stopped the model."""
    m = re.match(r"failed at (\d+) (\w+): (.*)", note)
    if m:
        why = next((v for k, v in ERRNO_NAMES.items() if k in m[3]), m[3][:20])
        return f"stopped at {int(m[1]):,} {m[2]} ({why})"
    m = re.match(r"not run: (\d+) live ipc::Processes need a pidfd each, ulimit -n is (\d+)", note)
    if m:
        return f"not run: {int(m[1]):,} pidfds > ulimit -n {int(m[2]):,}"
    m = re.match(r"stopped at (\d+) (\w+): MemAvailable", note)
    if m:
        return f"stopped at {int(m[1]):,} {m[2]} (memory)"
    return note.split(";")[0][:40]


def panel_value(r, figure):
    if r["status"] != "ok":
        return None
    if figure == "mem_total_kib":
        if r["model"] in ("pool", "mp"):
            return None
        a, b = r["figures"].get("mem_per_unit_kib"), r["figures"].get("kmem_per_unit_kib")
        if not a:
            return None
        kb = b["median"] if b else 0
        med = a["median"] + max(0.0, kb)
        return med, a["min"] + max(0.0, kb), a["max"] + max(0.0, kb)
    v = r["figures"].get(figure)
    return (v["median"], v["min"], v["max"]) if v else None


def draw_chart(header, results, out_dir):
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return "chart skipped: gnuplot not installed (apt-get install gnuplot-nox)"
    t = subprocess.run([gnuplot, "-e", "set terminal"], capture_output=True, text=True)
    png_term = "pngcairo" if "pngcairo" in t.stdout + t.stderr else "png"
    models = [m for m in MODEL_ORDER if any(r["model"] == m for r in results)]
    data_dir = tempfile.mkdtemp(prefix="compare-chart-")
    plots = []
    for idx, (w, figure, scale, ylabel, title) in enumerate(PANELS):
        rs = [r for r in results if r["workload"] == w]
        sizes = sorted({r["units"] for r in rs})
        if not sizes:
            continue
        path = os.path.join(data_dir, f"panel{idx}.dat")
        values = []
        limits = []
        with open(path, "w") as f:
            for units in sizes:
                cells = [f'"{units:,} units"']
                for m in models:
                    r = next((x for x in rs if x["units"] == units and x["model"] == m), None)
                    v = panel_value(r, figure) if r else None
                    if r and r["status"] != "ok":
                        limits.append(f"{MODEL_LABELS[m]}, {units:,}: {short_limit(r['note'])}")
                    if v:
                        cells += [f"{x * scale:.6g}" for x in v]
                        values.append(v[0] * scale)
                    else:
                        cells += ["?", "?", "?"]
                f.write(" ".join(cells) + "\n")
        if not values:
            continue
        positive = [v for v in values if v > 0]
        log = bool(positive) and max(positive) / max(min(positive), 1e-12) > 30
        plots.append((title, ylabel, path, log, limits, len(sizes)))
    if not plots:
        return "chart skipped: nothing to draw"

    cols, rows = 3, (len(plots) + 2) // 3
    width, panel_h, top_h = 1800, 520, 150
    height = panel_h * rows + top_h
    gp = []
    gp.append("set termoption noenhanced")
    gp.append("set datafile missing '?'")
    gp.append("set multiplot")
    # The title band and a full-width legend: an empty plot whose key is the legend.
    subtitle = (f"{header['machine']}; {header['kernel']}; backend {header['backend']}; "
                f"{header['mode']} mode; bars: medians of the runs, whiskers: min-max")
    gp.append(f"set label 1 'Coroutines vs threads vs processes (ringlet bench/compare)' at screen 0.5, "
              f"screen {1 - 26 / height:.4f} center font ',18'")
    gp.append(f"set label 2 \"{subtitle}\" at screen 0.5, screen {1 - 54 / height:.4f} center font ',11'")
    gp.append(f"set origin 0, {1 - top_h / height:.4f}; set size 1, {(top_h - 66) / height:.4f}")
    gp.append("unset border; unset xtics; unset ytics; set xrange [0:1]; set yrange [0:1]")
    gp.append("set lmargin 0; set rmargin 0; set tmargin 0; set bmargin 0")
    gp.append(f"set key center center horizontal maxrows 2 samplen 2 width 2 font ',11'")
    gp.append("set style fill solid 0.9 border -1")
    gp.append("plot " + ", ".join(f"-1 with boxes lc rgb '{COLORS[m]}' title \"{MODEL_LABELS[m]}\""
                                    for m in models))
    gp.append("unset label 1; unset label 2; unset key")
    gp.append("set lmargin 11; set rmargin 2; set tmargin 2.5; set bmargin 2.5")
    gp.append("set border 3; set xtics nomirror scale 0; set ytics nomirror; set xrange [*:*]")
    gp.append("set style data histograms")
    gp.append("set style histogram errorbars gap 1.5 lw 1")
    gp.append("set boxwidth 0.95")
    gp.append("set grid ytics lc rgb '#dddddd'")
    gp.append("set bars front")
    pw, ph = 1.0 / cols, panel_h / height
    for i, (title, ylabel, path, log, limits, nsizes) in enumerate(plots):
        x, y = (i % cols) * pw, 1 - top_h / height - (i // cols + 1) * ph
        gp.append(f"set origin {x:.4f}, {y:.4f}; set size {pw:.4f}, {ph:.4f}")
        gp.append(f"set title \"{title}\" font ',13'")
        gp.append(f"set ylabel \"{ylabel}{' (log scale)' if log else ''}\"")
        gp.append("set logscale y" if log else "unset logscale y")
        gp.append("set yrange [*:*]" if log else "set yrange [0:*]")
        gp.append("set format y '%g'")
        gp.append("unset label 3")
        # Room above the bars for the note on what was not reached.
        gp.append("set offsets 0, 0, graph 0.25, 0" if limits else "set offsets 0, 0, 0, 0")
        if limits:
            text = "\\n".join(limits[:4]) + ("\\n..." if len(limits) > 4 else "")
            gp.append(f"set label 3 \"not reached:\\n{text}\" at graph 0.02, graph 0.97 left "
                      f"font ',9' tc rgb '#993333' front")
        parts = []
        for j, m in enumerate(models):
            c = 2 + 3 * j
            xt = ":xtic(1)" if j == 0 else ""
            parts.append(f"'{path}' using {c}:{c + 1}:{c + 2}{xt} notitle lc rgb '{COLORS[m]}'")
        gp.append("plot " + ", \\\n     ".join(parts))
    gp.append("unset multiplot")
    script = "\n".join(gp) + "\n"
    png = os.path.join(out_dir, "chart.png")
    svg = os.path.join(out_dir, "chart.svg")
    notes = []
    for term, target in ((f"{png_term} size {width},{height} font 'DejaVu Sans,11'", png),
                         (f"svg size {width},{height} dynamic font 'DejaVu Sans,11' background rgb 'white'", svg)):
        r = subprocess.run([gnuplot], input=f"set terminal {term}\nset output '{target}'\n" + script +
                           "set output\n", capture_output=True, text=True)
        if r.returncode != 0:
            notes.append(f"gnuplot failed for {os.path.basename(target)}: {r.stderr.strip()[:300]}")
    shutil.rmtree(data_dir, ignore_errors=True)
    return "; ".join(notes) if notes else f"chart: {png}, {svg}"


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--short", dest="mode", action="store_const", const="short",
                   help="the default: io 1 000, mixed 400, spawn 1 000 and 10 000; 3 runs per cell")
    g.add_argument("--full", dest="mode", action="store_const", const="full",
                   help="io 10 000, mixed 2 000, spawn up to 100 000; 5 runs per cell")
    g.add_argument("--smoke", dest="mode", action="store_const", const="smoke",
                   help="every model once at tiny sizes")
    ap.add_argument("--build", default=os.path.join(ROOT, "build-demo"), help="meson build directory")
    ap.add_argument("--out", default=None, help="where results go (default BUILD/compare-results)")
    ap.add_argument("--models", default="", help="comma-separated models and peers to run (default all)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated: io,cpu,mixed,spawn")
    ap.add_argument("--no-peers", action="store_true", help="run ringlet's models only")
    ap.add_argument("--repeats", type=int, default=0, help="runs per cell (default: per mode)")
    ap.add_argument("--no-chart", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress line")
    ap.add_argument("--markdown", action="store_true", help="also print the README's table")
    ap.add_argument("--replot", metavar="DIR", help="run nothing: print the table of DIR/results.json "
                    "and redraw DIR/chart.png and chart.svg")
    opts = ap.parse_args()
    if opts.replot:
        with open(os.path.join(opts.replot, "results.json")) as f:
            data = json.load(f)
        print(table_text(data["header"], data["cells"]))
        if opts.markdown:
            print()
            print(markdown_table(data["header"], data["cells"]))
        print(draw_chart(data["header"], data["cells"], os.path.abspath(opts.replot)))
        return 0
    opts.mode = opts.mode or "short"
    opts.models = [m for m in opts.models.split(",") if m]
    opts.workloads = [w for w in opts.workloads.split(",") if w]
    for w in opts.workloads:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w}")
    for m in opts.models:
        if m not in MODEL_LABELS:
            ap.error(f"unknown model {m} (models: {', '.join(MODEL_ORDER)})")
    out_dir = os.path.abspath(opts.out or os.path.join(opts.build, "compare-results"))
    os.makedirs(out_dir, exist_ok=True)

    started = time.monotonic()
    suite = Suite(opts)
    header, results = suite.run()
    header["suite_seconds"] = round(time.monotonic() - started, 1)
    write_csv(os.path.join(out_dir, "results.csv"), results)
    write_json(os.path.join(out_dir, "results.json"), header, results)
    print(table_text(header, results))
    if opts.markdown:
        print()
        print(markdown_table(header, results))
    print()
    print(f"results: {os.path.join(out_dir, 'results.csv')}, {os.path.join(out_dir, 'results.json')}")
    if not opts.no_chart:
        print(draw_chart(header, results, out_dir))
    print(f"suite time: {header['suite_seconds']} s")
    errors = [r for r in results if r["status"] == "error"]
    for r in errors:
        print(f"compare: ERROR in {r['label']} / {r['workload']} {r['units']}: {r['note']}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
