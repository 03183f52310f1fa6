"""Stamping, as in Celery's canvas guide: a visitor says which headers each part of a
workflow is stamped with; a job sees them as ``self.request.stamps``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the workflow types call these
    from .workflows import Signature, chain, chord, group


class StampingVisitor:
    """Celery's stamping visitor: override ``on_signature`` (and the other hooks) to
    return the headers to stamp; ``workflow.stamp(visitor=MyVisitor())``."""

    def on_signature(self, sig: Signature, **headers: Any) -> dict[str, Any]:
        raise NotImplementedError("a StampingVisitor defines on_signature()")

    def on_group_start(self, group: group, **headers: Any) -> dict[str, Any]:
        return {}

    def on_group_end(self, group: group, **headers: Any) -> None:
        pass

    def on_chain_start(self, chain: chain, **headers: Any) -> dict[str, Any]:
        return {}

    def on_chain_end(self, chain: chain, **headers: Any) -> None:
        pass

    def on_chord_header_start(self, chord: chord, **headers: Any) -> dict[str, Any]:
        return {}

    def on_chord_header_end(self, chord: chord, **headers: Any) -> None:
        pass

    def on_chord_body(self, chord: chord, **headers: Any) -> dict[str, Any]:
        return {}

    def on_callback(self, callback: Signature, **headers: Any) -> dict[str, Any]:
        return {}

    def on_errback(self, errback: Signature, **headers: Any) -> dict[str, Any]:
        return {}


def add_stamps(sig: Signature, stamps: dict[str, Any], append: bool) -> None:
    own = dict(sig.options.get("stamps") or {})
    for key, value in stamps.items():
        if append and key in own:
            old = own[key] if isinstance(own[key], list) else [own[key]]
            own[key] = [*old, *(value if isinstance(value, list) else [value])]
        else:
            own[key] = value
    sig.options["stamps"] = own
    sig.options["stamped_headers"] = list(own)


def stamp_parts(whole: Any, parts: list[Any], visitor: StampingVisitor | None,
                 append_stamps: bool, headers: dict[str, Any], start: str, end: str) -> None:
    """Stamp each part of a group or chain, between the visitor's start and end hooks
    (the start hook may add headers)."""
    if visitor is not None:
        headers = {**headers, **(getattr(visitor, start)(whole, **headers) or {})}
    for part in parts:
        part.stamp(visitor, append_stamps, **headers)
    if visitor is not None:
        getattr(visitor, end)(whole, **headers)


class _Inherit(StampingVisitor):
    """Stamps each part with those of ``stamps`` it does not have itself."""

    def __init__(self, stamps: dict[str, Any]) -> None:
        self.stamps = stamps

    def on_signature(self, sig: Signature, **headers: Any) -> dict[str, Any]:
        own = sig.options.get("stamps") or {}
        return {k: v for k, v in self.stamps.items() if k not in own}


def inherit_stamps(step: Any, stamps: dict[str, Any]) -> None:
    """Stamp every part of ``step`` with ``stamps`` (a replaced job's), keeping its own."""
    if stamps:
        step.stamp(visitor=_Inherit(stamps))
