#!/usr/bin/python3
"""bench/redis/celery_bench.py — Celery with its Redis broker, the TaskQueue baseline.

    celery_bench.py PORT TASKS        (run by redis_compare.sh)

Starts a Celery worker (prefork pool, --concurrency 2: two worker
processes) on redis://127.0.0.1:PORT as broker and result backend, sends
TASKS trivial add(i, 1) tasks with apply_async, waits for every result
(AsyncResult.get), prints "TASKS tasks_per_second", then the median
end-to-end latency of one task (200 one-at-a-time calls): "LATENCY_US n".
"""
import os
import statistics
import subprocess
import sys
import time

port = int(sys.argv[1])
tasks = int(sys.argv[2])
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
os.environ["CELERY_BENCH_PORT"] = str(port)

from celery_bench_app import app, add  # noqa: E402

worker = subprocess.Popen(
    [sys.executable, "-m", "celery", "-A", "celery_bench_app", "worker", "--concurrency", "2",
     "-P", "prefork", "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
     "--without-heartbeat"],
    cwd=here, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    add.delay(1, 2).get(timeout=60)  # warm-up: the worker is up
    t0 = time.perf_counter()
    results = [add.apply_async((i, 1)) for i in range(tasks)]
    total = sum(r.get(timeout=300) for r in results)
    secs = time.perf_counter() - t0
    assert total == tasks * (tasks - 1) // 2 + tasks, total
    print("TASKS %.0f" % (tasks / secs))
    lat = []
    for _ in range(200):
        s = time.perf_counter()
        add.delay(1, 1).get(timeout=60)
        lat.append((time.perf_counter() - s) * 1e6)
    print("LATENCY_US %.0f" % statistics.median(lat))
finally:
    worker.terminate()
    worker.wait()
