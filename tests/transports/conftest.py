from __future__ import annotations

import pytest

from litejobs.transports.sqlite import SQLiteTransport

TRANSPORTS = ["sqlite"]


@pytest.fixture(params=TRANSPORTS)
def make_transport(request, tmp_path):
    """A factory of transports onto one fresh store (several connections to it)."""
    opened = []

    def make():
        if request.param == "sqlite":
            t = SQLiteTransport(str(tmp_path / "contract.sqlite"))
        opened.append(t)
        return t

    yield make
    for t in opened:
        t.close()


@pytest.fixture
def transport(make_transport):
    return make_transport()
