"""The same task for Huey (huey_consumer bench_huey.huey): SqliteHuey, or RedisHuey when
BENCH_HUEY_REDIS is a URL (BENCH_HUEY_NOTIFY=1 adds notify_result: BLPOP result waits)."""

import os

from huey import RedisHuey, SqliteHuey

if os.environ.get("BENCH_HUEY_REDIS"):
    huey = RedisHuey("bench", url=os.environ["BENCH_HUEY_REDIS"],
                     notify_result=os.environ.get("BENCH_HUEY_NOTIFY") == "1")
else:
    huey = SqliteHuey(filename=os.environ.get("BENCH_HUEY_DB", "huey.sqlite"))


@huey.task()
def add(x, y):
    return x + y
