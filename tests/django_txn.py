"""Scenarios of delay_in_transaction, run by tests/test_django_transaction.py inside a
copy of examples/django_project (as `python django_txn.py SCENARIO`), one process each."""

import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
django.setup()

from django.db import transaction  # noqa: E402
from proj.celery import app  # noqa: E402
from shop.models import Order  # noqa: E402
from shop.tasks import fulfil, place_order_atomically  # noqa: E402


def connection_rows(sql):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


scenario = sys.argv[1]
if scenario == "commit":
    with transaction.atomic():
        order = Order.objects.create(item="teapot")
        result = fulfil.delay_in_transaction(order.pk)
        # not in the store before the commit: a worker cannot run it for a row it can't see
        print("in store before commit:", app.transport.get(result.id) is not None)
    print("in store after commit:", app.transport.get(result.id) is not None)
    print("result:", result.get(timeout=60))
elif scenario == "rollback":
    try:
        place_order_atomically("kettle", fail=True)
    except RuntimeError as exc:
        print("rolled back:", exc)
elif scenario == "savepoint":
    with transaction.atomic():
        kept = Order.objects.create(item="cup")
        kept_job = fulfil.delay_in_transaction(kept.pk)
        try:
            with transaction.atomic():  # a savepoint: its row and job go, the rest stays
                lost = Order.objects.create(item="saucer")
                lost_job = fulfil.delay_in_transaction(lost.pk)
                raise ValueError("saucer out of stock")
        except ValueError as exc:
            print("savepoint rolled back:", exc)
    print("kept job:", kept_job.id, "lost job:", lost_job.id)
    print("result:", kept_job.get(timeout=60))
elif scenario == "hang":  # the test SIGKILLs this process inside the transaction
    with transaction.atomic():
        order = Order.objects.create(item="lamp")
        result = fulfil.delay_in_transaction(order.pk)
        print("job", result.id, "written; waiting inside the transaction", flush=True)
        time.sleep(600)
elif scenario == "die-after-commit":
    with transaction.atomic():
        order = Order.objects.create(item="clock")
        # runs first of the commit hooks: the process dies after COMMIT, before its relay
        transaction.on_commit(lambda: os.kill(os.getpid(), 9))
        result = fulfil.delay_in_transaction(order.pk)
        print("job", result.id, "committing", flush=True)
elif scenario == "refuse":
    from django.db import connections

    from litejobs.exceptions import ConfigurationError
    default = connections.settings["default"]
    cases = {"other_vendor": {"ENGINE": "django.db.backends.dummy"},
             "in_memory": {"NAME": ":memory:"}, "the_store": {"NAME": app.transport.path}}
    for alias, change in cases.items():
        connections.settings[alias] = {**default, **change}
        try:  # refused before Django opens a connection
            fulfil.apply_async_in_transaction((1,), using=alias)
        except ConfigurationError as exc:
            print(f"{alias} refused: {exc}")
        else:
            print(f"{alias} NOT refused")
    print("store jobs:", len(app.transport.list_jobs()))
elif scenario == "test-case":  # as in Django's TestCase: hooks run inside its transaction
    from django.test import TestCase

    with transaction.atomic():  # the test's transaction, never committed
        with TestCase.captureOnCommitCallbacks(execute=True) as hooks:
            with transaction.atomic():
                order = Order.objects.create(item="bowl")
                result = fulfil.delay_in_transaction(order.pk)
        print("hooks:", len(hooks), "in store:", app.transport.get(result.id) is not None)
        print("outbox left:", connection_rows("SELECT count(*) FROM litejobs_outbox"))
        app.conf.task_always_eager = True  # and in eager mode, it runs when the hooks run
        with TestCase.captureOnCommitCallbacks(execute=True):
            with transaction.atomic():
                plate = Order.objects.create(item="plate")
                fulfil.delay_in_transaction(plate.pk)
            print("eager, before the hooks:", Order.objects.get(pk=plate.pk).status)
        print("eager, after the hooks:", Order.objects.get(pk=plate.pk).status)
        transaction.set_rollback(True)
elif scenario == "eager":  # no store: the task runs here, once the transaction commits
    app.conf.task_always_eager = True
    with transaction.atomic():
        order = Order.objects.create(item="spoon")
        result = fulfil.delay_in_transaction(order.pk)
        print("status before commit:", Order.objects.get(pk=order.pk).status)
    print("status after commit:", Order.objects.get(pk=order.pk).status,
          "by this process:", Order.objects.get(pk=order.pk).worker_pid == os.getpid())
    try:
        with transaction.atomic():
            gone = Order.objects.create(item="fork")
            fulfil.delay_in_transaction(gone.pk)
            raise RuntimeError("no forks today")
    except RuntimeError as exc:
        print("rolled back:", exc)
    print("store jobs:", len(app.transport.list_jobs(task="shop.tasks.fulfil")))
else:
    raise SystemExit(f"unknown scenario {scenario}")
