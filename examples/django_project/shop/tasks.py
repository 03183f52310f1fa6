"""The shop's tasks: shared_task, so this app never imports the project."""

import os

from django.db import connection, transaction

from litejobs import shared_task

from .models import Order


@shared_task
def fulfil(order_id):
    fresh = connection.connection is None  # the worker closed the last job's connection
    order = Order.objects.get(pk=order_id)  # the row is there: sent after the commit
    order.fresh_connection = fresh
    order.status = "fulfilled"
    order.worker_pid = os.getpid()
    order.save()
    return order.item


def place_order(item, fail=False):
    """What a view does: write the row and send the job in one transaction's lifetime."""
    with transaction.atomic():
        order = Order.objects.create(item=item)
        fulfil.delay_on_commit(order.pk)  # sent after COMMIT; never on ROLLBACK
        if fail:
            raise RuntimeError("payment declined")
    return order


def place_order_atomically(item, fail=False):
    """The same, with the job enqueued inside the transaction (SQLite databases only):
    the row and the job commit together, or neither is stored."""
    with transaction.atomic():
        order = Order.objects.create(item=item)
        fulfil.delay_in_transaction(order.pk)  # one commit with the row
        if fail:
            raise RuntimeError("payment declined")
    return order
