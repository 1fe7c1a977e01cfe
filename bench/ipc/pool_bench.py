#!/usr/bin/env python3
"""bench/ipc/pool_bench.py — pool_bench.cpp's workload on multiprocessing.Pool.

Prints the same `<what> <model> <value> <unit>` lines as pool_bench, with
model "python": trivial tasks (x + 1), best of a few runs.
  pool_bench.py [--workers N] [--tasks N] [--quick]
"""
import argparse
import multiprocessing as mp
import os
import time


def inc(x):
    return x + 1


def best_of(reps, f):
    return min(f() for _ in range(reps))


def report(what, value, unit):
    print(f"{what:<24} {'python':<10} {value:14.1f} {unit}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--tasks", type=int, default=200000)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    reps = 3
    if a.quick:
        a.tasks, reps = 20000, 1
    # Python is ~20x slower per task: a tenth of the tasks keeps the run short
    # and the rate is flat in the count.
    tasks = max(1000, a.tasks // 10)
    round_trips = max(100, tasks // 10)
    items = list(range(100000))
    with mp.get_context("fork").Pool(a.workers) as pool:
        pool.apply(inc, (0,))

        def throughput():
            t = time.perf_counter()
            rs = [pool.apply_async(inc, (i,)) for i in range(tasks)]
            assert sum(r.get() for r in rs) == tasks * (tasks + 1) // 2
            return time.perf_counter() - t
        report("apply_async", tasks / best_of(reps, throughput), "tasks/s")

        def latency():
            t = time.perf_counter()
            x = 0
            for _ in range(round_trips):
                x = pool.apply(inc, (x,))
            assert x == round_trips
            return time.perf_counter() - t
        report("apply_round_trip", best_of(reps, latency) / round_trips * 1e6, "us")

        for name, chunk in (("map_100k_chunked", None), ("map_100k_chunksize1", 1)):
            def mapped():
                t = time.perf_counter()
                out = pool.map(inc, items, chunk)
                assert len(out) == len(items) and out[-1] == len(items)
                return time.perf_counter() - t
            report(name, best_of(1 if chunk == 1 else reps, mapped) * 1e3, "ms")


if __name__ == "__main__":
    main()
