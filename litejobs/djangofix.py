"""Django, as Celery's Django fix-up does it: the installed apps for
``autodiscover_tasks()``, ``django.setup()`` before a worker imports tasks, stale
database connections closed around each job and in each forked pool child.

Django is imported only when the process has it configured (``DJANGO_SETTINGS_MODULE``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from . import signals
from .exceptions import ConfigurationError


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
