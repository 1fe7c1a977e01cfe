"""bench/compare/peers/peer_common.py — what the Python peers share.

The protocol of the io workload (as bench/compare/workloads.hpp), the
measurements a cell takes of itself (as bench/compare/measure.hpp: getrusage
deltas of the measured section, Pss summed over the process tree, the
kernel's memory from /proc/meminfo) and the JSON line a cell prints.
"""
import json
import os
import resource
import struct
import sys

MESSAGE_SIZE = 64
ANSWER_KEY = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1


def request(i):
    return struct.pack("<8Q", *[(i * 8 + j) & MASK for j in range(8)])


def answer_value(data):
    return sum(struct.unpack("<8Q", data)) & MASK


def expected_io_value(i):
    return sum(((i * 8 + j) ^ ANSWER_KEY) for j in range(8)) & MASK


def usage_now():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (s.ru_utime + c.ru_utime, s.ru_stime + c.ru_stime,
            s.ru_nvcsw + c.ru_nvcsw, s.ru_nivcsw + c.ru_nivcsw)


def usage_minus(a, b):
    return tuple(x - y for x, y in zip(a, b))


def _proc_kib(path, field):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field):
                    return float(line.split()[1])
    except OSError:
        pass
    return -1.0


def descendants(pid):
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            continue
        for k in kids:
            out.append(k)
            out.extend(descendants(k))
    return out


def tree_pss_kib(pid=None):
    pid = pid or os.getpid()
    return sum(max(0.0, _proc_kib(f"/proc/{p}/smaps_rollup", "Pss:"))
               for p in [pid] + descendants(pid))


def peak_rss_kib():
    """VmHWM of this process (since its exec), or the largest reaped child."""
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(_proc_kib("/proc/self/status", "VmHWM:"), float(kids))


def kernel_kib():
    return sum(_proc_kib("/proc/meminfo", f) for f in ("KernelStack:", "PageTables:", "SUnreclaim:"))


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def args():
    """--workload io|spawn --units N [--port P]"""
    a = {"workload": None, "units": 0, "port": 0}
    argv = sys.argv[1:]
    while argv:
        k = argv.pop(0)
        if k.startswith("--") and k[2:] in a and argv:
            v = argv.pop(0)
            a[k[2:]] = v if k == "--workload" else int(v)
        else:
            sys.exit(f"usage: {sys.argv[0]} --workload io|spawn --units N [--port P]")
    if a["workload"] not in ("io", "spawn") or a["units"] <= 0 or (a["workload"] == "io" and not a["port"]):
        sys.exit(f"usage: {sys.argv[0]} --workload io|spawn --units N [--port P]")
    return a


def report(model, a, wall, usage, results, failed=0, first_error="", extra=None):
    n = a["units"]
    checksum = sum(results) & MASK
    if a["workload"] == "io":
        expected = sum(expected_io_value(i) for i in range(n)) & MASK
    else:
        expected = n * (n - 1) // 2
    ok = failed == 0 and checksum == expected
    out = {"model": model, "workload": a["workload"], "units": n, "ok": ok,
           "wall_s": wall, "units_per_s": n / wall if wall > 0 else 0,
           "user_s": usage[0], "sys_s": usage[1], "cpu_s": usage[0] + usage[1],
           "vcsw": usage[2], "ivcsw": usage[3], "checksum": str(checksum),
           "peak_rss_kib": peak_rss_kib()}
    out.update(extra or {})
    if failed:
        out["error"] = f"{failed} units failed, first: {first_error}"
    elif not ok:
        out["error"] = "wrong checksum"
    print(json.dumps(out), flush=True)
    return 0 if ok else 3
