"""Place two orders, one of which rolls back, and watch the worker fulfil the other.

Run `python manage.py migrate` and `litejobs worker -A proj` first (tests/test_django_example.py
does both), then `python demo.py`.
"""

import os
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
django.setup()

from proj.celery import app  # noqa: E402
from shop.models import Order  # noqa: E402
from shop.tasks import place_order  # noqa: E402

order = place_order("teapot")
second = place_order("cup")
try:
    place_order("kettle", fail=True)
except RuntimeError as exc:
    print(f"kettle rolled back: {exc}")
deadline = time.monotonic() + 60
while Order.objects.filter(status="fulfilled").count() < 2:
    if time.monotonic() > deadline:
        raise SystemExit("the worker did not fulfil the order within 60 s")
    time.sleep(0.05)
done = Order.objects.get(pk=order.pk)
print(f"order {done.pk} {done.item}: {done.status} by worker process {done.worker_pid}")
print("fresh connection in each job:",
      [o.fresh_connection for o in Order.objects.order_by("pk")])
sent = app.transport.list_jobs(task="shop.tasks.fulfil")
print(f"orders stored: {Order.objects.count()}; fulfil jobs sent: {len(sent)}")
