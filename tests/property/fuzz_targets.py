"""Fuzz targets, one per parser of client input: each is a Hypothesis strategy and a check
that feeds an example to the parser and lets through only success or a refusal the service
maps to a 4xx (an ImagehostError below 500, or the parser's own documented error). Any other
exception is a finding. tests/property/test_fuzz_parsers.py runs each for a few examples in
the suite; bench/fuzz.py runs them for minutes."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from imagehost.catalog.filters import RESERVED, parse_query
from imagehost.config import load_settings
from imagehost.errors import ImagehostError
from imagehost.imaging.derivation import (
    CONTROL_PARAMETERS,
    DERIVATION_PARAMETERS,
    parse_derivation,
    resolve,
)
from imagehost.imaging.formats import ImageFormat, sniff_format
from imagehost.imaging.limits import ImageLimits
from imagehost.imaging.probe import probe_image
from imagehost.imaging.render import configure_libvips
from imagehost.imaging.svg import sanitize_svg
from imagehost.imaging.variants import (
    DEFAULT_RESIZING_CONFIG,
    VariantConfigError,
    parse_resizing_config,
)
from imagehost.imaging.verify import check_decodes
from imagehost.runtime import open_context
from imagehost.service.archive import (
    MANIFEST_JSON,
    MONGODB_JSON,
    check_manifest,
    import_archive,
)
from imagehost.service.context import ServiceContext
from imagehost.values import InvalidValue, parse_json
from tests import imagegen
from tests.kit.environ import local_settings

LIMITS = ImageLimits(max_bytes=30_000_000, max_pixels=50_000_000, max_frames=500,
                     max_svg_side=10_000, max_svg_bytes=5_000_000, max_svg_elements=50_000)


def refused(exc: BaseException) -> bool:
    """A refusal the service answers with a 4xx."""
    return isinstance(exc, ImagehostError) and exc.status < 500


@dataclass
class Resources:
    """What some targets need, made once per run: a service context on temporary folders."""

    stack: ExitStack

    @property
    def ctx(self) -> ServiceContext:
        if not hasattr(self, "_ctx"):
            root = Path(self.stack.enter_context(tempfile.TemporaryDirectory()))
            settings = load_settings(local_settings(root) | {"RESIZING_CONFIG": "[]"})
            self._ctx = self.stack.enter_context(open_context(settings))
        return self._ctx


@contextmanager
def resources() -> Iterator[Resources]:
    configure_libvips(1)
    with ExitStack() as stack:
        yield Resources(stack)


@dataclass(frozen=True)
class Target:
    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any, Resources], None]


# ---------------------------------------------------------------------------- strategies


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with a few bit flips, overwrites, insertions, deletions or a truncation; half
    of them within the first 64 bytes, where the headers are."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        end = len(data) if draw(st.booleans()) else min(len(data), 64)
        position = draw(st.integers(0, max(end - 1, 0)))
        kind = draw(st.sampled_from(["flip", "byte", "word", "insert", "delete", "cut"]))
        if kind == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and data:
            data[position] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
        elif kind == "word":
            data[position:position + 2] = draw(st.sampled_from([b"\x00\x00", b"\xff\xff",
                                                                b"\x7f\xff", b"\x80\x00"]))
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[position:position + draw(st.integers(1, 16))]
        elif kind == "cut":
            del data[position:]
    return bytes(data)


def _image_seeds() -> list[bytes]:
    return [imagegen.photo_jpeg(16, 12), imagegen.photo_png(16, 12, alpha=True),
            imagegen.animated_gif(8, 6, 3), imagegen.still_webp(16, 12),
            imagegen.animated_webp(8, 6, 2), imagegen.jpeg_with_exif(16, 12),
            imagegen.svg(40, 30)]


def _svg_seeds() -> list[bytes]:
    return [imagegen.svg(40, 30, script=True), imagegen.svg_illustrator(40, 20),
            imagegen.svg_use_bomb(3, 3), imagegen.svg_marker_bomb(2, 3, style_rules=True),
            imagegen.svg_pattern_bomb(2, 3), imagegen.svg_entity_bomb(2),
            imagegen.svg_beacon(next(iter(imagegen.SVG_BEACONS)))]


SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                   st.text(max_size=12))
JSON_VALUE = st.recursive(SCALAR, lambda children: st.lists(children, max_size=4) |
                          st.dictionaries(st.text(max_size=8), children, max_size=4),
                          max_leaves=12)
JSON_TEXT = st.one_of(
    JSON_VALUE.map(lambda v: json.dumps(v)),  # NaN and Infinity included (json.dumps)
    st.text(st.sampled_from('[]{}",:0123456789.eE+-truefalsnl \\u'), max_size=60),
    st.text(max_size=60))
NAMES = st.one_of(st.sampled_from([*RESERVED, "data", "data.", "data.a", "data.a.b", "a"]),
                  st.builds(lambda key, op: f"data.{key}{op}",
                            st.text(max_size=6),
                            st.sampled_from(["", "__in", "__gt", "__exists", "__ne", "__x"])),
                  st.text(max_size=12))
VALUES = st.one_of(st.text(max_size=30), JSON_TEXT,
                   st.sampled_from(["", "1", "-1", "1e400", "NaN", "null", "true", '"x"',
                                    "a,b,c", "2021-01-01", "-time", "data.a", "0" * 30]))
QUERY = st.lists(st.tuples(NAMES, VALUES), max_size=8)
DERIVATION = st.lists(st.tuples(
    st.one_of(st.sampled_from(DERIVATION_PARAMETERS + CONTROL_PARAMETERS), st.text(max_size=6)),
    st.one_of(st.sampled_from(["", "0", "1", "16", "4096", "4097", "-5", "1e3", "x", "NaN",
                               "true", "cover", "pad", "focal", "north", "webp", "avif",
                               "auto", "tiff", "100", "101", "9" * 40]),
              st.text(max_size=10))), max_size=6)
MANIFEST_RECORD = st.fixed_dictionaries({"file": st.text(max_size=12)}, optional={
    "id": st.one_of(st.integers(), st.floats(), st.text(max_size=3), st.none()),
    "time": st.one_of(st.text(max_size=30), st.integers(), st.none(),
                      st.datetimes().map(lambda d: d.isoformat())),
    "status": st.one_of(st.sampled_from(["active", "incoming", "deleted", "gone"]), SCALAR),
    "data": st.one_of(st.dictionaries(st.text(max_size=6), JSON_VALUE, max_size=4),
                      JSON_VALUE),
    "_id": st.text(max_size=24), "__v": st.integers()})
MANIFEST = st.one_of(
    st.lists(MANIFEST_RECORD, max_size=5).map(lambda v: json.dumps(v).encode()),
    JSON_TEXT.map(str.encode), st.binary(max_size=200))


@st.composite
def archives(draw: st.DrawFn) -> bytes:
    """A zip of a few entries (images, mutated images, a manifest), then maybe mutated."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for index in range(draw(st.integers(0, 3))):
            name = draw(st.one_of(st.sampled_from([f"a/{index}.jpg", f"{index}.png",
                                                   "manifest.json", "mongodb_data.json"]),
                                  st.text(min_size=1, max_size=12)))
            payload = draw(st.one_of(st.sampled_from(IMAGE_SEEDS), mutated(IMAGE_SEEDS),
                                     MANIFEST))
            method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
            archive.writestr(zipfile.ZipInfo(name), payload, compress_type=method)
    data = out.getvalue()
    return draw(st.one_of(st.just(data), mutated([data]), st.binary(max_size=100)))


IMAGE_SEEDS = _image_seeds()

# ---------------------------------------------------------------------------- checks


def _allow(check: Callable[[Any, Resources], None], *allowed: type[Exception]
           ) -> Callable[[Any, Resources], None]:
    def guarded(example: Any, res: Resources) -> None:
        note(f"example: {example!r}"[:4000])
        try:
            check(example, res)
        except ImagehostError as exc:
            if not refused(exc):
                raise
        except allowed:
            pass

    return guarded


def check_image(data: bytes, _: Resources) -> None:
    fmt = sniff_format(data)
    if fmt is ImageFormat.SVG:
        data = sanitize_svg(data, LIMITS)
    check_decodes(data, probe_image(data, fmt, LIMITS))


def check_svg(data: bytes, _: Resources) -> None:
    cleaned = sanitize_svg(data, LIMITS)
    assert sanitize_svg(cleaned, LIMITS), "a sanitized SVG must sanitize again"


def check_query(params: list[tuple[str, str]], _: Resources) -> None:
    parse_query(params)


def check_resizing_config(text: str, _: Resources) -> None:
    parse_resizing_config(text)


def check_derivation(params: list[tuple[str, str]], _: Resources) -> None:
    derivation = parse_derivation(params, max_side=4096, thumbnail_size=50,
                                  thumbnail_enhancements=())
    quality = {"jpeg": 82, "webp": 80, "avif": 55, "png": 90, "gif": 100}
    for source in ImageFormat:
        resolve(derivation, source, "image/avif,image/webp,*/*", quality=quality,
                focal=(0.25, 0.75)).canonical_name()


def check_manifest_text(text: bytes, _: Resources) -> None:
    for source in (MANIFEST_JSON, MONGODB_JSON):
        check_manifest(text, source, {})


def check_json(text: str, _: Resources) -> None:
    parse_json(text)


def check_archive(data: bytes, res: Resources) -> None:
    import_archive(res.ctx, io.BytesIO(data))


TARGETS = [
    Target("sniff-and-probe", st.one_of(st.binary(max_size=2048), mutated(IMAGE_SEEDS)),
           _allow(check_image)),
    Target("svg-sanitizer", st.one_of(st.text(max_size=300).map(str.encode),
                                      mutated(_svg_seeds())), _allow(check_svg)),
    Target("filter-language", QUERY, _allow(check_query)),
    Target("resizing-config", st.one_of(JSON_TEXT, mutated([DEFAULT_RESIZING_CONFIG.encode()])
                                        .map(lambda b: b.decode("utf-8", "replace"))),
           _allow(check_resizing_config, VariantConfigError)),
    Target("derivation-parameters", DERIVATION, _allow(check_derivation)),
    Target("import-manifest", MANIFEST, _allow(check_manifest_text)),
    Target("json-documents", JSON_TEXT, _allow(check_json, InvalidValue)),
    Target("import-archive", archives(), _allow(check_archive)),
]
"""Every target; bench/fuzz.py takes them by name."""


def run(target: Target, res: Resources, *, max_examples: int, seed: int | None = None,
        derandomize: bool = False) -> None:
    """Run `target` for `max_examples` examples (from `seed`, or derandomized); a finding
    raises as Hypothesis reports it, shrunk."""
    test = given(target.strategy)(lambda example: target.check(example, res))
    test = settings(max_examples=max_examples, deadline=None, derandomize=derandomize,
                    database=None, suppress_health_check=list(HealthCheck))(test)
    if seed is not None:
        test = hypothesis.seed(seed)(test)
    test()
