"""Results as data: an AsyncResult or GroupResult as a task's argument or result
(registered with the serializer as extension types)."""

from __future__ import annotations

from typing import Any

from .. import serializer
from ..core import Core, default_app
from .group import GroupResult, ResultSet
from .one import AsyncResult


def _result_data(result: AsyncResult[Any]) -> dict[str, Any]:
    return {"id": result.id, "task": result.task_name, "parent": result._parent}


def _result_from(data: dict[str, Any], app: Core | None) -> AsyncResult[Any]:
    result: AsyncResult[Any] = AsyncResult(data["id"], app=app, task_name=data.get("task"))
    result._parent = data.get("parent")
    return result


def _group_data(result: GroupResult) -> dict[str, Any]:
    return {"id": result.id, "results": list(result.results), "parent": result.parent,
            "set": isinstance(result, ResultSet)}


def _group_from(data: dict[str, Any], app: Core | None) -> GroupResult:
    members = list(data.get("results") or ())
    if data.get("set"):
        made: GroupResult = ResultSet(members, app=app or (
            members[0].app if members else default_app()))
    else:
        made = GroupResult(data["id"], members, app=app or default_app())
    made.parent = data.get("parent")
    return made


# An AsyncResult (an EagerResult too) travels as its id, task and parent: the receiver
# reads the store; a GroupResult (or ResultSet) as its id and members. Each is bound to
# the app that reads it (``serializer.loads(..., context=app)``; else the last App made).
serializer.register_type(AsyncResult, serializer.EXT_RESULT, _result_data, _result_from)
serializer.register_type(GroupResult, serializer.EXT_GROUP_RESULT, _group_data, _group_from)
