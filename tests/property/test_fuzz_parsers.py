"""Fuzzing each parser of client input (tests/property/fuzz_targets.py) for a fixed,
derandomized number of examples: only success or a 4xx refusal may come out, never another
exception. bench/fuzz.py runs the same targets for minutes from random seeds; what it found is
kept below as explicit cases."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import pytest

from imagehost.errors import BadRequest, InvalidImage
from imagehost.imaging.svg import sanitize_svg
from imagehost.service.archive import import_archive
from tests import imagegen
from tests.property.fuzz_targets import LIMITS, TARGETS, Resources, Target, resources, run

EXAMPLES = {"sniff-and-probe": 150, "svg-sanitizer": 150, "filter-language": 300,
            "resizing-config": 200, "derivation-parameters": 300, "import-manifest": 200,
            "json-documents": 300, "import-archive": 60}


@pytest.fixture(scope="module")
def fuzz_resources() -> Iterator[Resources]:
    with resources() as res:
        yield res


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_parser_answers_or_refuses_whatever_it_is_given(target: Target,
                                                         fuzz_resources: Resources) -> None:
    run(target, fuzz_resources, max_examples=EXAMPLES[target.name], derandomize=True)


# ---------------------------------------------------------------------------- findings


@pytest.mark.parametrize("encoding", ["TTF-8", "UTFm8", "shift_jis", "utf-7", "rot13"])
def test_an_svg_declaring_an_encoding_expat_cannot_read_is_refused(encoding: str) -> None:
    """bench/fuzz.py: a mutated `encoding="UTF-8"` raised LookupError (a 500)."""
    svg = (f'<?xml version="1.0" encoding="{encoding}"?><svg xmlns="http://www.w3.org/2000/svg"'
           ' width="4" height="4"/>').encode()

    with pytest.raises(InvalidImage, match="encoding"):
        sanitize_svg(svg, LIMITS)


def test_an_archive_entry_without_a_name_is_refused(fuzz_resources: Resources) -> None:
    """bench/fuzz.py: an entry with an empty name made ZipInfo.is_dir() raise IndexError."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as writer:
        writer.writestr(zipfile.ZipInfo(""), imagegen.photo_jpeg(8, 8))

    with pytest.raises(BadRequest, match="Unsafe entry name ''"):
        import_archive(fuzz_resources.ctx, io.BytesIO(archive.getvalue()))
