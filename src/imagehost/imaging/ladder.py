"""The ladder: a few reduced copies of an original (longest side 1024 and 256 px by default),
made from the upload's one decode and stored next to it, so that a derived image renders from
a small decode instead of the whole original. Steps are upright (orientation applied), keep
the ICC profile, alpha and every frame, and are encoded at high quality; output sizes are
always computed on the original's dimensions, so a render is the same from either source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from imagehost.imaging.formats import ImageFormat
from imagehost.imaging.variants import Resize

STEP_MARGIN = 2.0
"""A step is made only where the original has at least this multiple of its pixels (a
2000x1333 photo gets the 1024 step, with 3.8x its pixels; a 1200x800 one does not)."""
SOURCE_MARGIN = 1.5
"""A derived image renders from the smallest step at least this multiple of its size on both
axes; below that, from the original."""


@dataclass(frozen=True)
class LadderStep:
    side: int
    """The configured longest side (LADDER_SIDES), which names the step."""
    width: int
    height: int


def ladder_steps(width: int, height: int, sides: Sequence[int]) -> tuple[LadderStep, ...]:
    """The steps an original of `width` x `height` (as displayed) gets, largest first."""
    steps = (LadderStep(side, *Resize(side, side).target(width, height))
             for side in sorted(set(sides), reverse=True) if side < max(width, height))
    return tuple(step for step in steps
                 if width * height >= STEP_MARGIN * step.width * step.height)


def ladder_format(original: ImageFormat, has_alpha: bool) -> ImageFormat | None:
    """The format of the steps: the original's own for the web formats (so alpha and
    animation stay as they are), JPEG for HEIC, HEIF, AVIF and JPEG XL (PNG when they have
    alpha); None for SVG, which renders from its vector source."""
    if original.spec.vector:
        return None
    served = original.served_as
    if served is not original and has_alpha and not served.spec.alpha:
        return ImageFormat.PNG
    return served


def source_step(steps: Sequence[LadderStep], needed: tuple[int, int]) -> LadderStep | None:
    """The smallest step at least SOURCE_MARGIN times `needed` on both axes, or None."""
    fitting = [step for step in steps if step.width >= SOURCE_MARGIN * needed[0]
               and step.height >= SOURCE_MARGIN * needed[1]]
    return min(fitting, key=lambda step: step.width * step.height, default=None)
