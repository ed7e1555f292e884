"""The hostile archive corpus against one `imagehost serve`'s /import: zip bombs (a highly
compressed entry, lying sizes, many entries, a swollen central directory, nested zips), zip
slips (.., absolute, backslash, NUL names), compression methods other than stored and deflate,
archives holding an entry that is not an image, that does not decode or that is a hostile SVG,
and manifests with duplicate or out-of-range ids, NaN or deep JSON. Each is refused with a 4xx
JSON answer naming the problem, within seconds, before anything is written: every refused
archive also holds a valid image, which must not be stored."""

from __future__ import annotations

import json
import zipfile

from tests import imagegen
from tests.hostile import corpus
from tests.hostile.corpus import ZipEntry, crafted_zip, deflated, deflated_zeros, stored
from tests.hostile.harness import AUTH, Case, HostileServer, cases, check_peak_memory

JPEG = imagegen.photo_jpeg(32, 24)
GOOD = stored("good/first.jpg", JPEG)
"""Every hostile archive starts with this valid image: a partial import would write it."""


def _import(id: str, archive: bytes, status: int, code: str, message: str,
            data: dict[str, str] | None = None) -> Case:
    return Case(id, "POST", "/import", status, code, message, data=data,
                files={"archive": ("hostile.zip", archive, "application/zip")})


def _archive(*entries: ZipEntry) -> bytes:
    return crafted_zip([GOOD, *entries])


def _manifest(records: list[dict] | str) -> bytes:
    text = records if isinstance(records, str) else json.dumps(records)
    return crafted_zip([stored("manifest.json", text.encode()), GOOD,
                        stored("good/second.jpg", JPEG)])


BOMBS = [
    _import("entry-of-100mb", _archive(deflated_zeros("zeros.png", 100_000_000)), 413,
            "limit_exceeded", r"100000000 bytes; the limit is 30000000"),
    _import("ratio-1000", _archive(deflated_zeros("zeros.png", 20_000_000)), 413,
            "limit_exceeded", r"expands \d+ times; the limit is 100"),
    _import("lying-size", _archive(deflated("liar.jpg", bytes(20_000_000), declared_size=JPEG
                                            .__len__())), 400, "bad_request", r"corrupt"),
    _import("20000-entries", corpus.many_entries_zip(20_000), 413, "limit_exceeded",
            r"20000 entries; the limit is 10000"),
    _import("swollen-directory", crafted_zip([GOOD], directory_padding=4_000_000), 413,
            "limit_exceeded", r"central directory"),
    _import("nested-zip", _archive(stored("inner.zip", corpus.plain_zip([("a.jpg", JPEG)]))),
            400, "unsupported_format", r"'inner\.zip'"),
    _import("not-a-zip", JPEG, 400, "bad_request", r"not a valid zip"),
    _import("jpeg-zip-polyglot", corpus.jpeg_zip_polyglot([("good/a.jpg", JPEG),
                                                           ("index.html", b"<script>")]),
            400, "unsupported_format", r"'index\.html'"),
]

SLIPS = [
    _import(f"name-{label}", _archive(stored(name, JPEG)), 400, "bad_request",
            r"Unsafe entry name")
    for label, name in [("dotdot", "../../evil.jpg"), ("absolute", "/etc/evil.jpg"),
                        ("backslash", "..\\..\\evil.jpg"), ("nul", b"ok.jpg\x00../../x.jpg"),
                        ("newline", "a\nb.jpg"), ("inner-dotdot", "a/../../evil.jpg")]
] + [
    _import("duplicate-names", _archive(stored("good/first.jpg", JPEG)), 400, "bad_request",
            r"duplicate entry names"),
    _import("encrypted", _archive(ZipEntry(b"secret.jpg", JPEG, flags=0x801)), 400,
            "bad_request", r"encrypted"),
]

METHODS = [
    _import(f"method-{name}", _archive(ZipEntry(b"packed.jpg", JPEG, method=method)), 400,
            "bad_request", rf"method {method} \({name}\)")
    for method, name in [(9, "Deflate64"), (zipfile.ZIP_BZIP2, "bzip2"),
                         (zipfile.ZIP_LZMA, "LZMA"), (77, "unknown")]
]

ENTRIES = [
    _import("text-entry", _archive(stored("notes.txt", b"just text")), 400,
            "unsupported_format", r"'notes\.txt'"),
    _import("truncated-jpeg", _archive(stored("cut.jpg", imagegen.truncated(
        imagegen.photo_jpeg(300, 200), 0.7))), 400, "invalid_image",
            r"'cut\.jpg'.*cannot be decoded"),
    _import("corrupt-png", _archive(stored("bad.png", corpus.corrupt_png())), 400,
            "invalid_image", r"'bad\.png'.*cannot be decoded"),
    _import("truncated-gif", _archive(stored("cut.gif", imagegen.truncated(
        imagegen.animated_gif(60, 40)))), 400, "invalid_image", r"'cut\.gif'.*truncated"),
    _import("pixel-bomb", _archive(stored("bomb.png", imagegen.png_pixel_bomb())), 413,
            "limit_exceeded", r"'bomb\.png'.*max_pixels"),
    _import("svg-billion-laughs", _archive(stored("lol.svg", imagegen.svg_entity_bomb())), 400,
            "invalid_image", r"'lol\.svg'.*entit"),
    _import("svg-use-bomb", _archive(stored("use.svg", imagegen.svg_use_bomb())), 413,
            "limit_exceeded", r"'use\.svg'.*50000 elements"),
    _import("svg-deep", _archive(stored("deep.svg", imagegen.svg_deep_nesting())), 400,
            "invalid_image", r"'deep\.svg'.*nested"),
]

MANIFESTS = [
    _import("duplicate-ids", _manifest([{"file": "good/first.jpg", "id": 7},
                                        {"file": "good/second.jpg", "id": 7}]),
            400, "bad_request", r"id 7 is given to both"),
    _import("id-2-63", _manifest([{"file": "good/first.jpg", "id": 2**63}]), 400,
            "bad_request", r"id must be an integer 1\.\.2147483647"),
    _import("id-0", _manifest([{"file": "good/first.jpg", "id": 0}]), 400, "bad_request",
            r"id must be an integer"),
    _import("nan-data", _manifest('[{"file": "good/first.jpg", "data": {"x": NaN}}]'), 400,
            "bad_request", r"NaN is not a JSON number"),
    _import("infinite-data", _manifest('[{"file": "good/first.jpg", "data": {"x": 1e999}}]'),
            400, "bad_request", r"out of range"),
    _import("deep-manifest", _manifest("[" + corpus.deep_json(2000) + "]"), 400,
            "bad_request", r"nested \d+ deep; the limit is 64"),
    _import("deep-data", _manifest([{"file": "good/first.jpg",
                                     "data": json.loads(corpus.deep_json(70))}]), 400,
            "bad_request", r"nested \d+ deep; the limit is 64"),
    _import("nul-in-data", _manifest([{"file": "good/first.jpg", "data": {"x": "a\x00b"}}]),
            400, "bad_request", r"NUL"),
    _import("manifest-not-json", _manifest("[{"), 400, "bad_request",
            r"manifest\.json is not valid JSON"),
    _import("data-field-nan", _archive(), 400, "bad_request", r"NaN",
            data={"data": '{"x": NaN}'}),
    _import("data-field-deep", _archive(), 400, "bad_request", r"the limit is 64",
            data={"data": corpus.deep_json(1000)}),
]


@cases(BOMBS, SLIPS, METHODS, ENTRIES, MANIFESTS)
def test_hostile_archive_is_refused_before_anything_is_written(hostile: HostileServer,
                                                                case: Case) -> None:
    hostile.refuses(case)


def test_a_valid_archive_is_still_imported(hostile: HostileServer) -> None:
    archive = crafted_zip([stored("manifest.json", json.dumps(
        [{"file": "valid/one.jpg", "id": 1000, "data": {"n": 1}}]).encode()),
        stored("valid/one.jpg", JPEG), deflated("valid/two.svg", imagegen.svg(script=True))])
    response = hostile.client.post("/import", headers=AUTH,
                                   files={"archive": ("ok.zip", archive, "application/zip")})

    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["failed"]) == (2, 0)
    assert hostile.client.get("/images/1000", headers=AUTH).json()["data"] == {"n": 1}


def test_the_server_memory_stayed_bounded(hostile: HostileServer) -> None:
    check_peak_memory(hostile)
