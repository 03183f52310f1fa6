"""The same task for Huey with its SQLite storage (huey_consumer bench_huey.huey)."""

import os

from huey import SqliteHuey

huey = SqliteHuey(filename=os.environ.get("BENCH_HUEY_DB", "huey.sqlite"))


@huey.task()
def add(x, y):
    return x + y
