from __future__ import annotations

import secrets

import pytest

from litejobs.transports.sqlite import SQLiteTransport

TRANSPORTS = ["sqlite", "redis"]


@pytest.fixture(params=TRANSPORTS)
def make_transport(request, tmp_path):
    """A factory of transports onto one fresh store (several connections to it)."""
    opened = []
    if request.param == "redis":
        server = request.getfixturevalue("redis_url")
        prefix = f"test-{secrets.token_hex(4)}"

    def make():
        if request.param == "sqlite":
            t = SQLiteTransport(str(tmp_path / "contract.sqlite"))
        else:
            from litejobs.transports.redis import RedisTransport

            t = RedisTransport(server, prefix=prefix)
        opened.append(t)
        return t

    yield make
    for t in opened:
        t.close()


@pytest.fixture
def transport(make_transport):
    return make_transport()


