"""Workflows as users write them: signatures, chain, group, chord, map, starmap, chunks.

    workflows.py  Signature, group, chord, chain
    steps.py      signature(); copies, freezing, chord membership; steps as data
    stamping.py   StampingVisitor and stamping
    builtins.py   map, starmap, chunks

``links.py`` turns them into jobs and the links between them; ``sending.py`` stores
them (or, in eager mode, runs them inline through the same expansion).
"""

from __future__ import annotations

from .. import serializer
from .builtins import FlatGroupResult, chunks, register_builtins
from .stamping import StampingVisitor, inherit_stamps
from .steps import (
    MAP_TASK,
    PASS_TASK,
    STARMAP_TASK,
    as_list,
    as_member,
    copy_step,
    countable,
    counted_id,
    counted_signature,
    describe,
    ends_in_group,
    enroll,
    first_id,
    freeze_steps,
    from_data,
    from_description,
    signature,
    to_data,
)
from .workflows import Signature, chain, chord, group

__all__ = [
    "MAP_TASK", "PASS_TASK", "STARMAP_TASK", "FlatGroupResult", "Signature",
    "StampingVisitor", "as_list", "as_member", "chain", "chord", "chunks", "copy_step",
    "countable", "counted_id", "counted_signature", "describe", "ends_in_group",
    "enroll", "first_id", "freeze_steps", "from_data", "from_description", "group",
    "inherit_stamps", "register_builtins", "signature", "to_data",
]

# Signatures, chains, groups and chords as task arguments and results, in Celery's dict
# form (steps.to_data): registered here, where both modules are loaded.
for _cls in (Signature, chain, group, chord):
    serializer.register_type(_cls, serializer.EXT_CANVAS, to_data, from_data)
