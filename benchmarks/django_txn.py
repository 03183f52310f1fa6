"""What enqueueing inside the Django transaction costs: N x [save a model row + enqueue]
committed together, against save + delay_on_commit and against the save alone.

    python benchmarks/django_txn.py            # N=2000, each Django journal mode
    python benchmarks/django_txn.py 500

Runs examples/django_project (copied to a temporary directory) in this process: each
round is ``with transaction.atomic(): Order.objects.create(...); <enqueue>``, one commit
per row, as a view does. No worker runs; jobs pile up in the store. The Django database
is measured in its default journal mode (delete), in WAL, and in WAL with synchronous=OFF
(no fsync: what is left is the code's cost, not the disk's); the store is always WAL, at
its default durability.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "django_project")


def child(n: int, synchronous: str) -> None:
    """One journal mode, in a process of its own (Django is set up once per process)."""
    import django

    django.setup()
    from django.db import transaction
    from django.db.backends.signals import connection_created

    def configure(connection, **_):
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA synchronous = {synchronous}")

    connection_created.connect(configure)
    from proj.celery import app
    from shop.models import Order
    from shop.tasks import fulfil

    app.transport  # noqa: B018 - open the store before timing
    ways = {
        "save alone": lambda order: None,
        "save + delay_on_commit": lambda order: fulfil.delay_on_commit(order.pk),
        "save + delay_in_transaction": lambda order: fulfil.delay_in_transaction(order.pk),
    }
    rounds = 10  # the ways take turns, a round each, so a busy machine slows all alike
    per_round = max(n // rounds, 1)
    timings: dict[str, list[float]] = {name: [] for name in ways}
    for r in range(rounds + 1):  # round 0 warms caches and files, and is not counted
        for name, enqueue in ways.items():
            start = time.perf_counter()
            for i in range(per_round):
                with transaction.atomic():
                    enqueue(Order.objects.create(item=f"item {r} {i}"))
            if r:
                timings[name].append((time.perf_counter() - start) / per_round)
    median = {name: statistics.median(t) for name, t in timings.items()}
    base = median["save alone"]
    for name, seconds in median.items():
        print(f"  {name:30s} {seconds * 1e6:8.0f} us/row  {seconds / base:5.2f}x "
              f"(median of {rounds} rounds)")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    if len(sys.argv) > 2 and sys.argv[2] == "--child":
        child(n, sys.argv[3])
        return
    # (journal mode, Django's synchronous): Django's default; WAL; WAL without fsync, so
    # that what is left is the code's own cost, not the disk's
    for mode, synchronous in (("delete", "FULL"), ("wal", "FULL"), ("wal", "OFF")):
        tmp = tempfile.mkdtemp(prefix="litejobs-django-bench-")
        try:
            project = os.path.join(tmp, "django_project")
            shutil.copytree(EXAMPLE, project)
            env = dict(os.environ, SHOP_DB=os.path.join(tmp, "db.sqlite3"),
                       SHOP_STORE=os.path.join(tmp, "jobs.sqlite"),
                       DJANGO_SETTINGS_MODULE="proj.settings",
                       PYTHONPATH=os.pathsep.join([project, ROOT, os.environ.get(
                           "PYTHONPATH", "")]))
            subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=project,
                           env=env, check=True)
            conn = sqlite3.connect(env["SHOP_DB"])  # the journal mode stays with the file
            conn.execute(f"PRAGMA journal_mode = {mode}")
            conn.close()
            print(f"Django database in journal mode {mode}, synchronous={synchronous}, "
                  f"{n} rows, one commit each:", flush=True)
            subprocess.run([sys.executable, os.path.abspath(__file__), str(n), "--child",
                            synchronous], cwd=project, env=env, check=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
