from __future__ import annotations

import datetime as dt
import decimal
import enum
import subprocess
import sys
import uuid
from collections import OrderedDict, namedtuple

import msgpack
import pytest

from litejobs import serializer
from litejobs.exceptions import SerializationError


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@pytest.mark.parametrize("value", [
    None, True, 0, -(2**63), 2**64 - 1, 1.5, "héllo", b"\x00\xff", [1, [2]], {"a": {"b": 1}},
    {1: "int key"},
    (1, 2, (3, 4)),
    [(1, 2)],
    {1, 2, 3},
    frozenset({"a"}),
    dt.datetime(2024, 3, 1, 12, 30, 45, 123456),
    dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.timezone.utc),
    dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
    dt.date(2024, 2, 29),
    dt.time(23, 59, 1, 5),
    dt.timedelta(days=-1, seconds=5, microseconds=7),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    decimal.Decimal("3.14159265358979323846"),
    decimal.Decimal("-Infinity"),
])
def test_round_trip_keeps_value_and_type(value):
    back = serializer.loads(serializer.dumps(value))
    assert back == value
    assert type(back) is type(value)


def test_aware_datetime_keeps_instant_and_offset():
    from zoneinfo import ZoneInfo

    value = dt.datetime(2024, 7, 1, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))
    back = serializer.loads(serializer.dumps(value))
    assert back == value
    assert back.utcoffset() == dt.timedelta(hours=2)


def test_subclasses_come_back_as_base_types():
    Point = namedtuple("Point", "x y")
    data = {"od": OrderedDict(a=1), "enum": Color.RED, "int_enum": Level.HIGH, "nt": Point(1, 2)}
    back = serializer.loads(serializer.dumps(data))
    assert back == {"od": {"a": 1}, "enum": "red", "int_enum": 3, "nt": (1, 2)}
    assert type(back["od"]) is dict and type(back["int_enum"]) is int


def test_unserializable_argument_is_named_with_its_type():
    class Widget:
        pass

    with pytest.raises(SerializationError) as info:
        serializer.dumps_call("tasks.send", (1, {"x": [Widget()]}), {})
    message = str(info.value)
    assert "args[1]['x'][0]" in message
    assert "Widget" in message and "tasks.send" in message


def test_unserializable_keyword_argument_is_named():
    with pytest.raises(SerializationError, match=r"argument fn= of t.*function"):
        serializer.dumps_call("t", (), {"fn": lambda: None})


def test_non_str_keyword_names_are_refused():
    with pytest.raises(SerializationError, match="must be str"):
        serializer.dumps_call("t", (), {1: object()})


def test_unknown_extension_code_is_refused():
    data = msgpack.packb(msgpack.ExtType(42, b"x"))
    with pytest.raises(SerializationError, match="unknown msgpack extension code 42"):
        serializer.loads(data)


@pytest.mark.parametrize("data", [b"\xc1", b"\x92\x01", b"\xdd\xff\xff\xff\xff", b""])
def test_corrupt_bytes_raise_serialization_error(data):
    with pytest.raises(SerializationError, match="corrupt payload"):
        serializer.loads(data)


def test_deep_nesting_is_bounded():
    with pytest.raises(SerializationError):
        serializer.loads(b"\x91" * 100_000 + b"\xc0")


def test_oversized_payload_is_refused(monkeypatch):
    monkeypatch.setattr(serializer, "MAX_PAYLOAD_BYTES", 100)
    with pytest.raises(SerializationError, match="over the"):
        serializer.dumps(b"x" * 200, "argument")
    with pytest.raises(SerializationError, match="over the limit"):
        serializer.loads(msgpack.packb(b"x" * 200))


def test_litejobs_never_imports_pickle():
    code = (
        "import sys, litejobs, litejobs.worker, litejobs.supervisor, litejobs.cli;"
        "from litejobs import serializer;"
        "serializer.loads(serializer.dumps({'a': (1, 2)}));"
        "print('pickle' in sys.modules, 'redis' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
