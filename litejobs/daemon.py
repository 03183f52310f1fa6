"""Running a worker or beat as a service: pid files and ``--detach``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from .exceptions import ConfigurationError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def pidfile(path: str | None) -> Iterator[None]:
    """Hold ``path`` with this process's pid while the block runs; remove it after.

    A pid file naming a live process refuses the start (two workers on one pid file);
    a stale one (its process is gone) is replaced.
    """
    if not path:
        yield
        return
    path = os.path.abspath(path)
    try:
        with open(path) as f:
            old = int(f.read().strip() or 0)
    except FileNotFoundError:
        old = 0
    except ValueError:
        raise ConfigurationError(
            f"pid file {path} holds no pid: remove it or pick another") from None
    if old and old != os.getpid() and _alive(old):
        raise ConfigurationError(f"pid file {path}: process {old} is running")
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(f"{os.getpid()}\n")
    os.replace(tmp, path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            with open(path) as f:
                mine = f.read().strip() == str(os.getpid())
            if mine:
                os.unlink(path)


def detach(workdir: str | None = None) -> None:
    """Become a daemon: fork twice, new session, stdio on /dev/null; the caller exits 0."""
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    if workdir:
        os.chdir(workdir)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)
