from __future__ import annotations

import itertools
import secrets

import pytest

from litejobs.transports.sqlite import SQLiteTransport

TRANSPORTS = ["sqlite", "redis"]


def _opener(request, tmp_path):
    """A function opening a transport onto store number ``n`` of this test."""
    if request.param == "redis":
        from litejobs.transports.redis import RedisTransport

        server = request.getfixturevalue("redis_url")
        run = secrets.token_hex(4)
        return lambda n: RedisTransport(server, prefix=f"test-{run}-{n}")
    return lambda n: SQLiteTransport(str(tmp_path / f"store-{n}.sqlite"))


@pytest.fixture(params=TRANSPORTS)
def make_transport(request, tmp_path):
    """A factory of transports onto one fresh store (several connections to it)."""
    open_store = _opener(request, tmp_path)
    opened = []

    def make():
        opened.append(open_store(0))
        return opened[-1]

    yield make
    for t in opened:
        t.close()


@pytest.fixture
def transport(make_transport):
    return make_transport()


@pytest.fixture(params=TRANSPORTS)
def new_store(request, tmp_path):
    """A factory of fresh, empty stores: each call opens a store of its own."""
    open_store = _opener(request, tmp_path)
    numbers = itertools.count()
    opened = []

    def make():
        opened.append(open_store(next(numbers)))
        return opened[-1]

    yield make
    for t in opened:
        t.close()
