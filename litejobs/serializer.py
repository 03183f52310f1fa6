"""msgpack with litejobs' extension types: the only place that packs bytes.

Carried as themselves: None, bool, int, float, str, bytes, list, dict, tuple,
set, frozenset, datetime (naive or aware), date, time, timedelta, UUID, Decimal,
and the types higher layers register with ``register_type`` (signatures, chains,
groups and chords from canvas.py; AsyncResult and GroupResult from result.py): each
as an extension code holding the plain data its own module turns it into and back.
Documented equivalents: subclasses of dict/list/str/int/float (enums among them)
come back as the plain base type; an aware datetime comes back with a fixed-offset
``timezone`` of the same offset (the instant is the same, the zone name is not kept).

Decoding is bounded: payloads over ``MAX_PAYLOAD_BYTES`` are refused, nesting is
limited by msgpack's own stack and Python's recursion limit, and an unknown
extension code is an error. Nothing here (or anywhere in litejobs) unpickles.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import decimal
import enum
import threading
import uuid
from collections.abc import Callable
from typing import Any

import msgpack

from .exceptions import SerializationError

MAX_PAYLOAD_BYTES = 64 * 1024 * 1024

EXT_DATETIME = 1
EXT_DATE = 2
EXT_TIME = 3
EXT_TIMEDELTA = 4
EXT_UUID = 5
EXT_DECIMAL = 6
EXT_TUPLE = 7
EXT_SET = 8
EXT_FROZENSET = 9
#: codes for ``register_type``: a canvas object (signature, chain, group, chord) as
#: Celery's dict form, an AsyncResult, a GroupResult
EXT_CANVAS = 10
EXT_RESULT = 11
EXT_GROUP_RESULT = 12

# registered types: class -> (code, to plain data); code -> from (plain data, context)
_ENCODERS: dict[type, tuple[int, Callable[[Any], Any]]] = {}
_DECODERS: dict[int, Callable[[Any, Any], Any]] = {}
# what ``loads(..., context=)`` was given (the app reading), for the decoders
_context: contextvars.ContextVar[Any] = contextvars.ContextVar("litejobs_loads", default=None)


def register_type(cls: type, code: int, to_data: Callable[[Any], Any],
                  from_data: Callable[[Any, Any], Any]) -> None:
    """Carry ``cls`` (and its subclasses) as extension ``code``: packed as what
    ``to_data`` makes of it (data this module packs, itself included), unpacked by
    ``from_data(data, context)``, ``context`` being what the caller of ``loads`` gave
    (the app that reads: a signature or result is bound to it). For the types of
    higher layers, which this module cannot import."""
    if code <= EXT_FROZENSET or _DECODERS.get(code, from_data) is not from_data:
        raise ValueError(f"msgpack extension code {code} is taken")
    _ENCODERS[cls] = (code, to_data)
    _DECODERS[code] = from_data


def _registered(obj: Any) -> msgpack.ExtType | None:
    found = _ENCODERS.get(type(obj))
    if found is None:
        for cls, entry in _ENCODERS.items():
            if isinstance(obj, cls):
                found = entry
                break
        else:
            return None
    code, to_data = found
    return msgpack.ExtType(code, _pack_inner(to_data(obj)))


class _Unserializable(Exception):
    def __init__(self, obj: Any) -> None:
        self.obj = obj
        super().__init__(type(obj))


def _default(obj: Any) -> Any:
    # strict_types=True sends tuples and every subclass here, so that tuples stay
    # tuples and an IntEnum is packed as its int rather than failing.
    if isinstance(obj, tuple):
        return msgpack.ExtType(EXT_TUPLE, _pack_inner(list(obj)))
    if isinstance(obj, dt.datetime):
        return msgpack.ExtType(EXT_DATETIME, obj.isoformat().encode())
    if isinstance(obj, dt.date):
        return msgpack.ExtType(EXT_DATE, obj.isoformat().encode())
    if isinstance(obj, dt.time):
        return msgpack.ExtType(EXT_TIME, obj.isoformat().encode())
    if isinstance(obj, dt.timedelta):
        return msgpack.ExtType(
            EXT_TIMEDELTA, _pack_inner([obj.days, obj.seconds, obj.microseconds])
        )
    if isinstance(obj, uuid.UUID):
        return msgpack.ExtType(EXT_UUID, obj.bytes)
    if isinstance(obj, decimal.Decimal):
        return msgpack.ExtType(EXT_DECIMAL, str(obj).encode())
    if isinstance(obj, frozenset):
        return msgpack.ExtType(EXT_FROZENSET, _pack_inner(list(obj)))
    if isinstance(obj, set):
        return msgpack.ExtType(EXT_SET, _pack_inner(list(obj)))
    if _ENCODERS:
        ext = _registered(obj)
        if ext is not None:
            return ext
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        return str.__str__(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, list):
        return list(obj)
    raise _Unserializable(obj)


class _Packers(threading.local):
    """A Packer per thread (one is not safe to share): packb builds one per call, which
    costs four times the packing of a small call's arguments."""

    def __init__(self) -> None:
        self.pack = msgpack.Packer(default=_default, strict_types=True,
                                   use_bin_type=True).pack  # resets itself after an error


_packers = _Packers()


def _pack(obj: Any) -> bytes:
    return _packers.pack(obj)


def _pack_inner(obj: Any) -> bytes:
    """Pack inside ``_default`` (an extension's content): a Packer of its own, since the
    thread's is in the middle of the outer value."""
    return msgpack.packb(obj, default=_default, strict_types=True, use_bin_type=True)


def _ext_hook(code: int, data: bytes) -> Any:
    if code == EXT_TUPLE:
        return tuple(_unpack(data))
    if code == EXT_DATETIME:
        return dt.datetime.fromisoformat(data.decode())
    if code == EXT_DATE:
        return dt.date.fromisoformat(data.decode())
    if code == EXT_TIME:
        return dt.time.fromisoformat(data.decode())
    if code == EXT_TIMEDELTA:
        days, seconds, micros = _unpack(data)
        return dt.timedelta(days=days, seconds=seconds, microseconds=micros)
    if code == EXT_UUID:
        return uuid.UUID(bytes=data)
    if code == EXT_DECIMAL:
        return decimal.Decimal(data.decode())
    if code == EXT_SET:
        return set(_unpack(data))
    if code == EXT_FROZENSET:
        return frozenset(_unpack(data))
    decode = _DECODERS.get(code)
    if decode is not None:
        try:
            return decode(_unpack(data), _context.get())
        except SerializationError:
            raise
        except Exception as exc:  # a malformed record of a registered type
            raise SerializationError(
                f"cannot rebuild a value of extension code {code}: {exc}") from None
    raise SerializationError(f"unknown msgpack extension code {code} in payload")


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(
        data,
        ext_hook=_ext_hook,
        raw=False,
        strict_map_key=False,
    )


def dumps(obj: Any, what: str = "value", context: str = "") -> bytes:
    """Pack ``obj``; on failure raise SerializationError naming ``what`` and the bad type."""
    try:
        data = _pack(obj)
    except _Unserializable as exc:
        path = _find_unserializable(obj, what) or what
        raise SerializationError(
            f"{path}{context} is of type {_type_name(exc.obj)}, which litejobs cannot serialize "
            "(msgpack with datetime, date, time, timedelta, UUID, Decimal, tuple, set, "
            "bytes; no pickle)"
        ) from None
    except (ValueError, OverflowError, TypeError, RecursionError) as exc:
        raise SerializationError(f"{what} cannot be serialized: {exc}") from None
    if len(data) > MAX_PAYLOAD_BYTES:
        raise SerializationError(
            f"{what} is {len(data)} bytes packed, over the {MAX_PAYLOAD_BYTES} byte limit"
        )
    return data


def dumps_plain(obj: Any) -> bytes:
    """Pack plain data (None, bool, int, float, str, bytes, list, dict) without extension
    types, bytes as msgpack str: the format a Redis Lua script's ``cmsgpack`` reads."""
    try:
        return msgpack.packb(obj, use_bin_type=False)
    except (ValueError, OverflowError, TypeError) as exc:
        raise SerializationError(f"cannot pack {_type_name(obj)} for the store: {exc}") from None


def loads_plain(data: bytes) -> Any:
    """Unpack plain data packed by a Redis Lua script's ``cmsgpack`` (strings as str)."""
    try:
        return msgpack.unpackb(data, raw=False, unicode_errors="replace")
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise SerializationError(f"cannot unpack a stored record: {exc}") from None


def loads(data: bytes, context: Any = None) -> Any:
    """Unpack bytes made by :func:`dumps`; corrupt or oversized input raises SerializationError.

    ``context`` (the app reading) is handed to the decoders of registered types."""
    if len(data) > MAX_PAYLOAD_BYTES:
        raise SerializationError(f"payload of {len(data)} bytes is over the limit")
    token = _context.set(context)
    try:
        return _unpack(data)
    except SerializationError:
        raise
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as exc:
        raise SerializationError(f"corrupt payload: {type(exc).__name__}: {exc}") from None
    finally:
        _context.reset(token)


def dumps_call(task_name: str, args: tuple | list, kwargs: dict) -> bytes:
    """Pack a call's arguments as ``[args, kwargs]``, naming the argument at fault."""
    if not isinstance(kwargs, dict):
        raise SerializationError(f"kwargs of {task_name} must be a dict, not {_type_name(kwargs)}")
    try:
        return _pack([list(args), kwargs])
    except Exception:
        pass
    for i, arg in enumerate(args):
        dumps(arg, f"argument args[{i}]", f" of {task_name}")
    for key, value in kwargs.items():
        if not isinstance(key, str):
            raise SerializationError(
                f"keyword argument names of {task_name} must be str, not {_type_name(key)}"
            )
        dumps(value, f"argument {key}=", f" of {task_name}")
    return dumps([list(args), kwargs], f"arguments of {task_name}")


def loads_call(data: bytes, context: Any = None) -> tuple[tuple, dict]:
    args, kwargs = loads(data, context)
    return tuple(args), kwargs


def _type_name(obj: Any) -> str:
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _find_unserializable(obj: Any, path: str, depth: int = 0) -> str | None:
    """Return the path of the innermost part of ``obj`` that cannot be packed."""
    if depth > 50:
        return None
    try:
        _pack(obj)
        return None
    except Exception:
        pass
    children: list[tuple[str, Any]] = []
    if isinstance(obj, dict):
        children = [(f"{path}[{k!r}]", v) for k, v in obj.items()]
    elif isinstance(obj, (list, tuple, set, frozenset)):
        children = [(f"{path}[{i}]", v) for i, v in enumerate(obj)]
    for child_path, child in children:
        found = _find_unserializable(child, child_path, depth + 1)
        if found:
            return found
    return path
