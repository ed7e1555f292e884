"""Where the ladder's steps (imaging/ladder.py) are stored: next to their original, in the same
store, under `<original key>.ladder-<side>`. No image or variant can have such a key (their
keys end in an image extension), so reindex and strip never take a step for an original.
The catalog row records the steps an image has (`ladder`), which is what a miss chooses
from; the delete and publish paths also try what LADDER_SIDES would have made."""

from __future__ import annotations

from collections.abc import Sequence

from imagehost.catalog.models import ImageRecord
from imagehost.errors import InvalidKey
from imagehost.imaging.ladder import LadderStep, ladder_steps
from imagehost.storage.keys import validate_key

LADDER_INFIX = ".ladder-"


def ladder_key(original_key: str, side: int) -> str | None:
    """The key of the step `side` of `original_key`; None when it would not be a valid key
    (an original whose key is already near the length limit has no ladder)."""
    key = f"{original_key}{LADDER_INFIX}{side}"
    try:
        return validate_key(key)
    except InvalidKey:
        return None


def ladder_side(key: str) -> int | None:
    """The side a step's key names, or None if `key` is not a step's."""
    _, infix, side = key.rpartition(LADDER_INFIX)
    return int(side) if infix and side.isdigit() else None


def recorded_steps(record: ImageRecord) -> list[tuple[LadderStep, str]]:
    """The steps the row says the image has, with their keys."""
    found = []
    for key in record.ladder or ():
        side = ladder_side(key)
        steps = ladder_steps(record.width, record.height, (side,)) if side else ()
        found += [(step, key) for step in steps]
    return found


def possible_ladder_keys(original_key: str, sides: Sequence[int],
                         size: tuple[int, int] | None = None) -> list[str]:
    """The steps LADDER_SIDES makes for `original_key` (of `size`, when known: only the steps
    its size allows), which may exist without being recorded."""
    if size is not None:
        sides = [step.side for step in ladder_steps(*size, sides)]
    return [key for side in sides if (key := ladder_key(original_key, side)) is not None]
