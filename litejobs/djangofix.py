"""Django, as Celery's Django fix-up does it: the installed apps for
``autodiscover_tasks()``, ``django.setup()`` before a worker imports tasks, stale
database connections closed around each job and in each forked pool child.

Beyond Celery: ``enqueue_in_transaction`` writes jobs into a SQLite Django database's
own transaction (the outbox, transports/sqlite/outbox.py), relayed into the store once
committed: by the sending process right after the commit, and by every worker
(``relay_outbox``) should that process die first.

Django is imported only when the process has it configured (``DJANGO_SETTINGS_MODULE``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import signals
from .exceptions import ConfigurationError, LiteJobsError
from .job import Job
from .timeutil import now as clock_now
from .transports.sqlite import outbox

if TYPE_CHECKING:  # annotation only: the core is handed in
    from .core import Core

log = logging.getLogger("litejobs.django")


def configured() -> bool:
    """Whether this process is a Django project (its settings module is named)."""
    return bool(os.environ.get("DJANGO_SETTINGS_MODULE")) or "django.conf" in sys.modules


def installed_apps() -> list[str]:
    """The installed apps' packages (Django configured), else nothing."""
    if not configured():
        return []
    from django.apps import apps  # noqa: PLC0415 - Django is optional

    if not apps.ready:
        setup()
    return [config.name for config in apps.get_app_configs()]


def setup() -> None:
    """``django.setup()``, once, if this process is a Django project."""
    if not configured():
        return
    import django  # noqa: PLC0415 - Django is optional
    from django.apps import apps  # noqa: PLC0415 - Django is optional

    if not apps.ready:
        django.setup()


def close_stale_connections(**_: Any) -> None:
    """Close connections that are broken or past CONN_MAX_AGE (around each job)."""
    if "django.db" not in sys.modules:
        return
    from django.db import close_old_connections  # noqa: PLC0415 - Django is optional

    close_old_connections()


def close_inherited_connections(**_: Any) -> None:
    """In a forked child: drop the parent's connections without closing the parent's
    sockets (``inc_thread_sharing`` aside, Django connections are per process)."""
    if "django.db" not in sys.modules:
        return
    from django.db import connections  # noqa: PLC0415 - Django is optional

    for conn in connections.all(initialized_only=True):
        conn.connection = None  # forget the parent's socket; a new one opens on use
        conn.close()


def install() -> None:
    """Connect the fix-up to the worker's signals (once)."""
    signals.worker_process_init.connect(close_inherited_connections,
                                        dispatch_uid="litejobs.djangofix.process_init")
    signals.task_prerun.connect(close_stale_connections, dispatch_uid="litejobs.djangofix.pre")
    signals.task_postrun.connect(close_stale_connections,
                                 dispatch_uid="litejobs.djangofix.post")


def on_commit(send: Callable[[], Any], using: str | None = None) -> None:
    """Run ``send`` when the current Django transaction commits (never if it rolls back)."""
    if not configured():
        raise ConfigurationError("delay_on_commit needs Django (DJANGO_SETTINGS_MODULE is "
                                 "not set); use delay() outside a Django project")
    from django.db import transaction  # noqa: PLC0415 - Django is optional

    transaction.on_commit(send, using=using)


# -- enqueueing inside the transaction (SQLite) -------------------------------------
def enqueue_in_transaction(core: Core, jobs: Sequence[Job], using: str | None = None) -> None:
    """Write ``jobs`` into the current transaction of Django database ``using`` (default
    "default"): they commit with the caller's rows, or vanish with a rollback.

    Right after the commit this process hands them to the store; a worker does it
    instead should this process die first. Outside ``transaction.atomic()`` the write
    is its own commit, as Django's autocommit does for a ``save()``.
    """
    if not configured():
        raise ConfigurationError("delay_in_transaction needs Django (DJANGO_SETTINGS_MODULE "
                                 "is not set); use delay() outside a Django project")
    from django.db import DEFAULT_DB_ALIAS, connections, transaction  # noqa: PLC0415 - optional

    alias = using or DEFAULT_DB_ALIAS
    connection = connections[alias]
    if connection.vendor != "sqlite":
        raise ConfigurationError(
            f"delay_in_transaction needs a SQLite Django database; {alias!r} is "
            f"{connection.vendor}. Use delay_on_commit() (sent after the commit)")
    path = _database_file(connection.settings_dict)
    if path is None:
        raise ConfigurationError(f"Django database {alias!r} is in memory, where no worker "
                                 "can see it; delay_in_transaction needs a database file")
    if _is_store(core, path):
        raise ConfigurationError(
            f"the store {path} is Django database {alias!r} itself; give the store its own "
            "file (two copies of SQLite, apsw's and Django's, must not share one file)")
    connection.ensure_connection()
    outbox.write(connection.connection.cursor(), jobs, clock_now())
    transaction.on_commit(lambda: _relay_after_commit(core, connection, path), using=alias)


def _database_file(settings: dict[str, Any]) -> str | None:
    """The file of a SQLite Django database (its settings), None if it is in memory."""
    name = str(settings.get("NAME") or "")
    if not name or name == ":memory:" or "mode=memory" in name:
        return None
    return os.path.abspath(name.removeprefix("file:").split("?")[0])


def _is_store(core: Core, path: str) -> bool:
    store = getattr(core.transport, "path", None)  # a SQLite store's file
    return store is not None and os.path.realpath(store) == os.path.realpath(path)


def _relay_after_commit(core: Core, connection: Any, path: str) -> None:
    try:  # through Django's own connection, back in autocommit once the commit is done
        connection.ensure_connection()
        outbox.relay(connection.connection, core.transport, clock_now())
    except LiteJobsError as exc:  # committed, so not lost: a worker relays them
        log.warning("jobs committed in %s wait for a worker to relay them: %s", path, exc)


def outbox_files(core: Core) -> list[str]:
    """The files of this project's SQLite Django databases (where outboxes may be); never
    the store's own file (see enqueue_in_transaction)."""
    if not configured():
        return []
    from django.conf import settings  # noqa: PLC0415 - Django is optional

    files = []
    for alias, config in settings.DATABASES.items():
        path = _database_file(config) if config.get("ENGINE", "").endswith("sqlite3") \
            else None
        if path is not None and _is_store(core, path):
            log.warning("Django database %r is the store's own file: its jobs cannot be "
                        "enqueued in its transactions; give the store its own file", alias)
        elif path is not None:
            files.append(path)
    return files


def relay_outbox(core: Core, files: Sequence[str]) -> int:
    """A worker's part: move jobs committed in these databases' outboxes into the store
    (those whose sender died between its commit and its relay)."""
    moved = 0
    for path in files:
        if os.path.exists(path):
            moved += outbox.relay_file(path, core.transport, clock_now())
    if moved:
        log.info("relayed %d job(s) committed in a Django transaction", moved)
    return moved
