"""The Celery app of celery_bench.py: one trivial task, Redis as broker and backend."""
import os

from celery import Celery

_url = "redis://127.0.0.1:%s/0" % os.environ.get("CELERY_BENCH_PORT", "6379")
app = Celery("celery_bench_app", broker=_url, backend=_url)
app.conf.worker_prefetch_multiplier = 8
app.conf.result_expires = 3600


@app.task
def add(x, y):
    return x + y
