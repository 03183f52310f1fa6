"""The same task for Celery on Redis (celery -A bench_celery worker)."""

import os

from celery import Celery

url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
app = Celery("bench_celery", broker=url, backend=url)
app.conf.update(result_expires=3600, worker_hijack_root_logger=False,
                broker_connection_retry_on_startup=True)


@app.task
def add(x, y):
    return x + y


@app.task
def tsum(numbers):
    return sum(numbers)
