"""The hostile image corpus against one `imagehost serve`: a bomb in every format (header
dimensions, frames), truncated and corrupt files of each format, hostile SVGs, polyglots and
malformed derivation parameters, each refused with a 4xx JSON answer that names the limit or
the problem, within seconds, with nothing written. Polyglots and a flood of EXIF that are valid
images are taken, defused (tests at the end)."""

from __future__ import annotations

import httpx

from tests import imagegen
from tests.hostile import corpus
from tests.hostile.harness import (
    ANSWER_SECONDS,
    AUTH,
    Case,
    HostileServer,
    cases,
    check_peak_memory,
    upload,
)

PIXELS = r"\(max_pixels\) is 50000000"
FRAMES = r"\(max_frames\) is 500"


def _upload(id: str, data: bytes, status: int, code: str, message: str) -> Case:
    return Case(id, "POST", "/upload", status, code, message, files=upload("image.bin", data))


BOMBS = [
    _upload("jpeg-30000x30000", imagegen.jpeg_header_bomb(), 413, "limit_exceeded", PIXELS),
    _upload("png-100000x100000", imagegen.png_pixel_bomb(), 413, "limit_exceeded", PIXELS),
    _upload("gif-30000x30000", corpus.gif_header_bomb(), 413, "limit_exceeded", PIXELS),
    _upload("webp-16383x16383", corpus.webp_header_bomb(), 413, "limit_exceeded", PIXELS),
    _upload("svg-100000x100000", imagegen.svg_bomb_size(), 413, "limit_exceeded",
            r"\(max_svg_side\) is 10000"),
    _upload("gif-1000-frames", imagegen.gif_frame_bomb(), 413, "limit_exceeded", FRAMES),
    _upload("webp-600-frames", corpus.webp_frame_bomb(), 413, "limit_exceeded", FRAMES),
    Case("png-bomb-at-a-path", "PUT", "/images/bombs/b.png", 413, "limit_exceeded", PIXELS,
         content=imagegen.png_pixel_bomb(), headers={"Content-Type": "image/png"}),
    Case("gif-frames-as-record", "POST", "/images", 413, "limit_exceeded", FRAMES,
         files={"image": ("a.gif", imagegen.gif_frame_bomb(), "image/gif")}),
]

SVGS = [
    _upload("svg-billion-laughs", imagegen.svg_entity_bomb(), 400, "invalid_image",
            r"entit"),
    _upload("svg-external-entity", b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM '
            b'"file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>',
            400, "invalid_image", r"entit"),
    _upload("svg-recursive-entity", b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "&b;">'
            b'<!ENTITY b "&a;">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
            400, "invalid_image", r"entit"),
    _upload("svg-5000-deep", imagegen.svg_deep_nesting(), 400, "invalid_image",
            r"nested more than 256"),
    _upload("svg-use-bomb", imagegen.svg_use_bomb(), 413, "limit_exceeded",
            r"more than 50000 elements"),
    _upload("svg-20mb", imagegen.svg_many_elements(), 413, "limit_exceeded",
            r"\(max_svg_bytes\) is 5000000"),
]

BROKEN = [
    _upload("jpeg-truncated", imagegen.truncated(imagegen.photo_jpeg(300, 200)), 400,
            "invalid_image", r"premature end"),
    _upload("jpeg-corrupt", imagegen.corrupt_jpeg(200, 150), 400, "invalid_image",
            r"cannot be decoded"),
    _upload("png-truncated", imagegen.truncated(imagegen.photo_png(300, 200)), 400,
            "invalid_image", r"cannot be decoded"),
    _upload("png-corrupt-idat", corpus.corrupt_png(), 400, "invalid_image",
            r"cannot be decoded"),
    _upload("gif-truncated", imagegen.truncated(imagegen.animated_gif(100, 80)), 400,
            "invalid_image", r"truncated"),
    _upload("webp-truncated", imagegen.truncated(imagegen.still_webp(300, 200)), 400,
            "invalid_image", r"cannot be read"),
    _upload("webp-animated-truncated", imagegen.truncated(imagegen.animated_webp(100, 80)),
            400, "invalid_image", r"cannot be read"),
    _upload("svg-truncated", imagegen.truncated(imagegen.svg()), 400, "invalid_image",
            r"not well-formed"),
    _upload("gif-javascript-polyglot", corpus.gif_script_polyglot(), 400, "invalid_image",
            r"cannot be read"),
    _upload("bmp-magic-garbage", imagegen.bmp_like_garbage(), 400, "unsupported_format",
            r"BMP"),
    _upload("zip-as-image", corpus.plain_zip([("a.jpg", imagegen.photo_jpeg(8, 8))]), 400,
            "unsupported_format", r"Unsupported image format"),
    _upload("empty", b"", 400, "invalid_image", r"empty"),
    Case("png-with-svg-text-at-an-svg-path", "PUT", "/images/poly/evil.svg", 400,
         "bad_request", r"must end in \.png", content=corpus.png_svg_polyglot(),
         headers={"Content-Type": "image/svg+xml"}),
]

PARAMETERS = [
    Case("w-empty", "GET", "/images/{seed}/image", 400, "bad_request", r"'w'",
         params=[("w", "")]),
    Case("w-malformed-with-meta-and-url", "GET", "/images/{seed}/image", 400, "bad_request",
         r"'w'", params=[("meta", "true"), ("url", "true"), ("w", "x")]),
    Case("w-beyond-max-side", "GET", "/images/{seed}/image", 400, "bad_request", r"'w'",
         params=[("w", "99999")]),
    Case("w-huge-number", "GET", "/images/{seed}/image", 400, "bad_request", r"'w'",
         params=[("w", "9" * 5000)]),
    Case("quality-nan", "GET", "/images/{seed}/image", 400, "bad_request", r"'quality'",
         params=[("w", "10"), ("quality", "NaN")]),
    Case("unknown-parameter", "GET", "/images/{seed}/image", 400, "bad_request",
         r"Unknown parameter", params=[("w", "10"), ("x" * 1000, "1")]),
]


@cases(BOMBS, SVGS, BROKEN, PARAMETERS)
def test_hostile_image_is_refused(hostile: HostileServer, case: Case) -> None:
    hostile.refuses(case)


# ---------------------------------------------------------------------------- defused


def _stored_original(hostile: HostileServer, response: httpx.Response) -> httpx.Response:
    """The stored original of an /images upload."""
    assert response.status_code == 201, response.text
    original = hostile.client.get(f"/images/{response.json()['id']}/file", headers=AUTH)
    assert original.status_code == 200, original.text
    return original


def test_a_jpeg_with_a_zip_appended_is_stored_as_a_jpeg(hostile: HostileServer) -> None:
    data = corpus.jpeg_zip_polyglot([("index.html", b"<script>alert(1)</script>")])
    response = hostile.client.post("/images", headers=AUTH, data={"path": "poly/zip.jpg"},
                                   files={"image": ("zip.jpg", data, "application/zip")})

    original = _stored_original(hostile, response)
    assert original.headers["content-type"] == "image/jpeg"
    assert response.json()["format"] == "jpeg"


def test_a_png_with_an_svg_text_chunk_is_a_png(hostile: HostileServer) -> None:
    response = hostile.client.post(
        "/images", headers=AUTH, data={"path": "poly/svg.png"},
        files={"image": ("svg.svg", corpus.png_svg_polyglot(), "image/svg+xml")})

    original = _stored_original(hostile, response)
    assert original.headers["content-type"] == "image/png"
    derived = hostile.client.get(f"/images/{response.json()['id']}/image",
                                 params={"w": "8"}, headers=AUTH)
    assert derived.headers["content-type"] == "image/png", derived.text


def test_an_svg_with_scripts_is_stored_without_them(hostile: HostileServer) -> None:
    response = hostile.client.post(
        "/images", headers=AUTH, data={"path": "poly/script.svg"},
        files={"image": ("s.svg", imagegen.svg(script=True), "image/svg+xml")})

    original = _stored_original(hostile, response)
    assert not [m for m in imagegen.SVG_HOSTILE_MARKERS if m.encode() in original.content]


def test_a_flood_of_exif_segments_is_taken_within_seconds(hostile: HostileServer) -> None:
    """200 APP1 segments of 64 KB (13 MB of EXIF) before a valid JPEG."""
    data = corpus.jpeg_exif_flood()
    response, seconds = hostile.send(Case("exif-flood", "POST", "/images", 201, "", "",
                                          data={"path": "poly/exif.jpg"},
                                          files={"image": ("e.jpg", data, "image/jpeg")}))

    assert seconds < ANSWER_SECONDS
    assert _stored_original(hostile, response).headers["content-type"] == "image/jpeg"


def test_the_server_memory_stayed_bounded(hostile: HostileServer) -> None:
    check_peak_memory(hostile)
