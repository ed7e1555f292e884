"""Limits checked from the header before any pixel is decoded (and, for SVG, from the text
before librsvg reads it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    max_frames: int
    max_svg_side: int
    max_svg_bytes: int
    max_svg_elements: int
