"""Limits checked from the header before any pixel is decoded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 30_000_000
    max_pixels: int = 50_000_000
    max_frames: int = 500
    max_svg_side: int = 10_000
