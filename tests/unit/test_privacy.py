"""ORIGINAL_METADATA on bytes: what each mode removes and keeps in JPEG, PNG, WebP, GIF and SVG,
the image data left untouched, and hostile metadata that is dropped or refused cleanly."""

from __future__ import annotations

import io
import random
import struct
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable

import piexif
import pillow_heif
import pillow_jxl  # noqa: F401 (registers the JPEG XL plugin)
import pytest
import pyvips
from PIL import Image

from imagehost.config import load_settings
from imagehost.errors import InvalidImage
from imagehost.imaging.formats import ImageFormat, sniff_format
from imagehost.imaging.privacy import strip_metadata
from imagehost.imaging.privacy.exif import UnreadableExif, rewrite_exif
from imagehost.imaging.privacy.packets import strip_exif, strip_xmp
from imagehost.imaging.svg import sanitize_svg
from tests import imagegen

LIMITS = load_settings({}).limits
IMAGES: dict[str, Callable[[], bytes]] = {
    "jpeg-motorola": lambda: imagegen.jpeg_with_metadata(order=">"),
    "jpeg-intel": lambda: imagegen.jpeg_with_metadata(order="<"),
    "png": imagegen.png_with_metadata,
    "webp": imagegen.webp_with_metadata,
    "gif": imagegen.gif_with_metadata,
    "svg": lambda: sanitize_svg(imagegen.svg_with_metadata(), LIMITS),
}
WITH_EXIF = ("jpeg-motorola", "jpeg-intel", "png", "webp")
PRIVATE_EXIF = {"Exif": (0x927C, 0xA420, 0xA430, 0xA431, 0xA435), "0th": (0x013B,)}


def strip(data: bytes, mode: str) -> bytes:
    return strip_metadata(data, sniff_format(data), mode)  # type: ignore[arg-type]


def pixels(data: bytes) -> bytes:
    """The decoded pixels, as stored (no orientation applied)."""
    animated = sniff_format(data) in (ImageFormat.GIF, ImageFormat.WEBP)
    image = pyvips.Image.new_from_buffer(data, "", **({"n": -1} if animated else {}))
    return bytes(image.write_to_memory())


def header(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def exif_of(data: bytes) -> dict:
    return piexif.load(bytes(header(data).get("exif-data")))


@pytest.mark.parametrize("name", IMAGES)
def test_strip_private_removes_every_private_marker_and_keeps_the_picture(name: str) -> None:
    original = IMAGES[name]()
    assert b"Jane Photographer" in original
    stripped = strip(original, "strip-private")
    assert [m for m in imagegen.PRIVATE_MARKERS if m in stripped] == []
    if name != "gif":  # a GIF's XMP packet goes whole
        assert [m for m in imagegen.KEPT_MARKERS if m in original and m not in stripped] == []
    assert [m for m in imagegen.TEXT_MARKERS if m in original and m not in stripped] == []
    assert pixels(stripped) == pixels(original)


@pytest.mark.parametrize("name", IMAGES)
def test_strip_all_keeps_only_orientation_and_icc_profile(name: str) -> None:
    original = IMAGES[name]()
    stripped = strip(original, "strip-all")
    markers = imagegen.PRIVATE_MARKERS + imagegen.KEPT_MARKERS + imagegen.TEXT_MARKERS
    assert [m for m in markers if m in stripped] == []
    assert pixels(stripped) == pixels(original)
    if name in WITH_EXIF:
        exif = exif_of(stripped)
        assert exif["0th"] == {piexif.ImageIFD.Orientation: 6}
        assert not exif["Exif"] and not exif["GPS"] and not exif["1st"]
        assert header(stripped).get("icc-profile-data") == header(original).get(
            "icc-profile-data")
        assert not header(stripped).get_typeof("xmp-data")


@pytest.mark.parametrize("name", IMAGES)
@pytest.mark.parametrize("mode", ["strip-private", "strip-all"])
def test_a_second_strip_changes_nothing(name: str, mode: str) -> None:
    once = strip(IMAGES[name](), mode)
    assert strip(once, mode) is once


@pytest.mark.parametrize("name", IMAGES)
def test_keep_returns_the_uploaded_bytes(name: str) -> None:
    original = IMAGES[name]()
    assert strip(original, "keep") is original


@pytest.mark.parametrize("name", WITH_EXIF)
def test_exif_keeps_camera_time_exposure_and_orientation_without_gps_serials_or_thumbnail(
        name: str) -> None:
    before, after = exif_of(IMAGES[name]()), exif_of(strip(IMAGES[name](), "strip-private"))
    assert before["GPS"] and before["1st"] and before["thumbnail"]
    assert after["GPS"] == {} and after["1st"] == {} and after["thumbnail"] is None
    for ifd, tags in PRIVATE_EXIF.items():
        assert all(tag in before[ifd] for tag in tags)
        assert not [tag for tag in tags if tag in after[ifd]]
    assert after["0th"][piexif.ImageIFD.Model] == b"TestCam 3000"
    assert after["0th"][piexif.ImageIFD.Orientation] == 6
    assert after["0th"][piexif.ImageIFD.Copyright] == b"CC BY-SA 4.0"
    assert after["Exif"][piexif.ExifIFD.DateTimeOriginal] == b"2021:06:01 10:20:30"
    assert after["Exif"][piexif.ExifIFD.ExposureTime] == (1, 250)
    assert after["Exif"][piexif.ExifIFD.LensModel] == b"TestLens 50mm"
    assert after["Interop"] == before["Interop"]
    assert header(strip(IMAGES[name](), "strip-private")).get("exif-ifd0-Model").startswith(
        "TestCam 3000")


@pytest.mark.parametrize("order", [">", "<"])
def test_jpeg_scan_data_and_icc_segments_are_byte_identical(order: str) -> None:
    original = imagegen.jpeg_with_metadata(order=order)
    for mode in ("strip-private", "strip-all"):
        stripped = strip(original, mode)
        assert imagegen.jpeg_scan(stripped) == imagegen.jpeg_scan(original)
        assert stripped.endswith(imagegen.jpeg_scan(original))  # what followed EOI is gone
        icc = original[slice(*imagegen._segment(original, 0xE2))]
        assert icc.startswith(b"\xff\xe2") and b"ICC_PROFILE\0" in icc and icc in stripped


def test_jpeg_scans_of_a_progressive_jpeg_are_untouched() -> None:
    progressive = imagegen._photo(120, 90).jpegsave_buffer(interlace=True, keep="none")
    upload = imagegen.jpeg_with_exif(10, 10)[:2] + progressive[2:]
    exif = imagegen.jpeg_with_exif(10, 10)
    exif_segment = exif[slice(*imagegen._segment(exif, 0xE1))]
    upload = progressive[:2] + exif_segment + progressive[2:] + b"TRAILER-SECRET"
    stripped = strip(upload, "strip-private")
    start = imagegen._segment(progressive, 0xDA)[0]
    assert stripped.endswith(progressive[start:])
    assert not imagegen.has_exif_gps(stripped) and imagegen.exif_orientation(stripped) == 6


def test_xmp_stays_well_formed_without_private_elements_or_attributes() -> None:
    packet = strip_xmp(imagegen.xmp_packet(), "strip-private")
    assert packet is not None
    root = ET.fromstring(packet.decode().split("?>", 1)[1].rsplit("<?xpacket", 1)[0])
    description = root.find(".//{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description")
    assert description is not None
    assert description.get("{http://ns.adobe.com/tiff/1.0/}Model") == "TestCam 3000"
    assert description.get("{http://ns.adobe.com/xap/1.0/}CreatorTool") == "imagehost > tests"
    assert description.get("{http://ns.adobe.com/exif/1.0/aux/}SerialNumber") is None
    assert description.get("{http://ns.adobe.com/exif/1.0/}GPSAltitude") is None
    names = {child.tag for child in description}
    assert names == {"{http://ns.adobe.com/exif/1.0/}DateTimeOriginal",
                     "{http://purl.org/dc/elements/1.1/}rights"}
    assert packet.startswith(b"<?xpacket begin=") and packet.endswith(b'<?xpacket end="w"?>')
    assert strip_xmp(imagegen.xmp_packet(), "strip-all") is None


def test_png_chunks_keep_valid_crcs_and_nothing_follows_iend() -> None:
    stripped = strip(imagegen.png_with_metadata(), "strip-private")
    position, kinds = 8, []
    while position < len(stripped):
        length = int.from_bytes(stripped[position:position + 4], "big")
        kind = stripped[position + 4:position + 8]
        body = stripped[position + 8:position + 8 + length]
        crc = int.from_bytes(stripped[position + 8 + length:position + 12 + length], "big")
        assert zlib.crc32(kind + body) == crc, kind
        kinds.append(kind)
        position += 12 + length
    assert position == len(stripped) and kinds[-1] == b"IEND"
    assert b"iCCP" in kinds and b"eXIf" in kinds and b"tIME" in kinds
    assert b"caBX" not in kinds
    raw = stripped.index(b"Raw profile type exif")
    assert raw > 0  # the ImageMagick profile is rewritten, not dropped
    assert [m for m in imagegen.PRIVATE_MARKERS if m in zlib.decompress(
        stripped[stripped.index(b"\0", raw) + 2:])] == []


def test_webp_flags_and_riff_size_follow_the_chunks() -> None:
    original = imagegen.webp_with_metadata()
    for mode, flags in (("strip-private", 0x20 | 0x08 | 0x04), ("strip-all", 0x20 | 0x08)):
        stripped = strip(original, mode)
        assert stripped[12:16] == b"VP8X" and stripped[20] == flags
        assert int.from_bytes(stripped[4:8], "little") == len(stripped) - 8
        assert original[original.index(b"VP8 "):].startswith(
            stripped[stripped.index(b"VP8 "):stripped.index(b"VP8 ") + 100])


def test_a_bare_jpeg_xl_codestream_has_no_metadata_and_is_left_alone() -> None:
    data = imagegen.jxl_header_bomb(64, 64)
    assert strip_metadata(data, ImageFormat.JXL, "strip-all") is data


# --- HEIC, HEIF, AVIF and JPEG XL: in place ---------------------------------------------------

IN_PLACE: dict[str, Callable[[], bytes]] = {
    "avif": imagegen.avif_with_metadata,
    "heic": imagegen.heic_with_metadata,
    "jxl": imagegen.jxl_with_metadata,
}


def pil_image(data: bytes) -> Image.Image:
    pillow_heif.register_heif_opener()
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def decoded(data: bytes) -> bytes:
    if sniff_format(data) is ImageFormat.AVIF:
        return pixels(data)
    return pil_image(data).tobytes()


def container_exif(data: bytes) -> Image.Exif:
    if sniff_format(data) is ImageFormat.AVIF:
        exif = Image.Exif()
        exif.load(bytes(header(data).get("exif-data")))
        return exif
    return pil_image(data).getexif()


@pytest.mark.parametrize("name", IN_PLACE)
def test_heif_and_jpeg_xl_metadata_is_rewritten_in_place(name: str) -> None:
    original = IN_PLACE[name]()
    assert container_exif(original).get_ifd(0x8825)  # GPS
    stripped = strip(original, "strip-private")
    assert len(stripped) == len(original)
    assert [m for m in imagegen.PRIVATE_MARKERS if m in stripped] == []
    assert [m for m in imagegen.KEPT_MARKERS if m not in stripped] == []
    assert decoded(stripped) == decoded(original)
    exif = container_exif(stripped)
    assert exif.get(0x0110) == "TestCam 3000" and not exif.get_ifd(0x8825)
    assert strip(stripped, "strip-private") is stripped
    everything = strip(original, "strip-all")
    markers = imagegen.PRIVATE_MARKERS + imagegen.KEPT_MARKERS
    assert [m for m in markers if m in everything] == []
    assert decoded(everything) == decoded(original)
    assert strip(everything, "strip-all") is everything


def test_a_heif_with_a_truncated_box_is_a_clean_invalid_image() -> None:
    heic = imagegen.heic_with_metadata()
    with pytest.raises(InvalidImage):
        strip(heic[:200], "strip-private")


def test_a_heif_iloc_claiming_billions_of_items_is_refused_at_once() -> None:
    heic = bytearray(imagegen.heic_with_metadata())
    iloc = heic.index(b"iloc")
    version = heic[iloc + 4]
    count_at = iloc + 4 + 4 + 2
    heic[count_at:count_at + (2 if version < 2 else 4)] = b"\xff" * (2 if version < 2 else 4)
    with pytest.raises(InvalidImage):
        strip(bytes(heic), "strip-private")


def test_an_unreadable_exif_item_becomes_an_empty_tiff_of_the_same_length() -> None:
    heic = bytearray(imagegen.heic_with_metadata())
    tiff = heic.index(b"II*\0")
    heic[tiff + 4:tiff + 8] = b"\xff\xff\xff\x7f"  # IFD0 far outside the block
    stripped = strip(bytes(heic), "strip-private")
    assert len(stripped) == len(heic)
    assert stripped[tiff:tiff + 14] == b"II*\0\x08\0\0\0" + bytes(6)
    assert [m for m in imagegen.PRIVATE_MARKERS if m in stripped] == []
    assert decoded(stripped) == decoded(bytes(heic))
    assert strip(stripped, "strip-private") is stripped


# --- hostile metadata ------------------------------------------------------------------------


def jpeg_with_exif_block(block: bytes) -> bytes:
    base = imagegen.photo_jpeg(32, 24)
    segment = b"\xff\xe1" + struct.pack(">H", len(block) + 8) + b"Exif\0\0" + block
    return base[:2] + segment + base[2:]


def ifd0(entries: list[tuple[int, int, int, bytes]], order: str = ">",
         tail: bytes = b"", next_ifd: int = 0) -> bytes:
    """A TIFF block with IFD0 at 8 holding raw entries (tag, type, count, 4-byte field)."""
    table = struct.pack(f"{order}H", len(entries)) + b"".join(
        struct.pack(f"{order}HHL", tag, kind, count) + field for tag, kind, count, field in entries)
    mark = b"MM" if order == ">" else b"II"
    return (mark + struct.pack(f"{order}HL", 42, 8) + table + struct.pack(f"{order}L", next_ifd)
            + tail)


MODEL = (0x0110, 2, 4, b"Cam\0")
HOSTILE_BLOCKS = {
    "exif pointer loops to IFD0": ifd0([MODEL, (0x8769, 4, 1, struct.pack(">L", 8))]),
    "interop loops to the exif IFD": ifd0(
        [MODEL, (0x8769, 4, 1, struct.pack(">L", 38))],  # IFD0 is 8..38, the exif IFD 38..
        tail=struct.pack(">H", 1) + struct.pack(">HHL", 0xA005, 4, 1) + struct.pack(">L", 38)
        + b"\0\0\0\0"),
    "gps pointer out of range": ifd0([MODEL, (0x8825, 4, 1, struct.pack(">L", 10**9))]),
    "gps pointer of the wrong type": ifd0([MODEL, (0x8825, 2, 4, b"abcd")]),
    "value offset out of range": ifd0([MODEL, (0x010E, 2, 4000, struct.pack(">L", 10**6))]),
    "value count overflows": ifd0([MODEL, (0x010E, 12, 2**32 - 1, struct.pack(">L", 8))]),
    "unknown type": ifd0([MODEL, (0x010E, 99, 1, b"xxxx")]),
    "entry count past the end": ifd0([MODEL])[:8] + b"\xff\xff" + ifd0([MODEL])[10:],
    "next IFD out of range": ifd0([MODEL], next_ifd=10**6),
    "duplicate tags": ifd0([MODEL, MODEL]),
    "little-endian loop": ifd0([MODEL, (0x8769, 4, 1, struct.pack("<L", 8))], order="<"),
}


@pytest.mark.parametrize("name", HOSTILE_BLOCKS)
def test_hostile_exif_is_dropped_or_repaired_never_an_error(name: str) -> None:
    upload = jpeg_with_exif_block(HOSTILE_BLOCKS[name])
    for mode in ("strip-private", "strip-all"):
        stripped = strip(upload, mode)
        assert pixels(stripped) == pixels(upload)
        assert strip(stripped, mode) is stripped
    repaired = strip(upload, "strip-private")
    assert repaired != upload
    if header(repaired).get_typeof("exif-data"):
        assert exif_of(repaired)["0th"].get(piexif.ImageIFD.Model) == b"Cam"


@pytest.mark.parametrize("block", [b"", b"MM\0*", b"XX\0*\0\0\0\x08", b"MM\0*\x7f\0\0\0",
                                   b"MM\0\x2b\0\0\0\x08" + bytes(20)])
def test_a_block_that_is_not_tiff_is_unreadable(block: bytes) -> None:
    with pytest.raises(UnreadableExif):
        rewrite_exif(block, lambda directory, entry: True)
    assert strip_exif(block, "strip-private") is None


def test_overlapping_values_cannot_multiply_the_block() -> None:
    """3000 entries all pointing at the same 20 KB: 60 MB if copied; the block is refused."""
    big = (0x010E, 7, 20_000, struct.pack(">L", 8))
    block = ifd0([(0x0100 + i, *big[1:]) for i in range(3000)])
    block += bytes(max(0, 28_000 - len(block)))
    with pytest.raises(UnreadableExif):
        rewrite_exif(block, lambda directory, entry: entry.tag != 0x0100)
    stripped = strip(jpeg_with_exif_block(block), "strip-private")
    assert not header(stripped).get_typeof("exif-data")


def test_hostile_xmp_is_dropped() -> None:
    laughs = imagegen.svg_entity_bomb().replace(b"<svg", b"<x:xmpmeta").replace(
        b"</svg>", b"</x:xmpmeta>")
    for packet in (laughs, b"<x:xmpmeta><unclosed></x:xmpmeta>",
                   imagegen.xmp_packet().decode().encode("utf-16"), b"\0" * 40):
        assert strip_xmp(packet, "strip-private") is None


def test_deeply_nested_xmp_is_rewritten_without_recursion() -> None:
    deep = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/" xmlns:exif="http://ns.adobe.com/exif/1.0/">'
            + b"<a>" * 50_000 + b"<exif:GPSLatitude>1</exif:GPSLatitude>" + b"</a>" * 50_000
            + b"</x:xmpmeta>")
    packet = strip_xmp(deep, "strip-private")
    assert packet is not None and b"GPSLatitude" not in packet and packet.count(b"<a>") == 50_000


@pytest.mark.parametrize(("name", "broken"), [
    ("jpeg segment past the end", lambda: imagegen.jpeg_with_metadata()[:300]),
    ("jpeg without a scan", lambda: imagegen.jpeg_with_metadata()[:2] + b"\xff\xd9"),
    ("png chunk past the end", lambda: imagegen.png_with_metadata()[:-3000]),
    ("webp shorter than its RIFF size", lambda: imagegen.webp_with_metadata()[:200]),
    ("webp chunk past the RIFF data", lambda: b"RIFF\x14\0\0\0WEBPVP8 \xff\0\0\0" + bytes(8)),
])
def test_broken_containers_are_a_clean_invalid_image(name: str,
                                                     broken: Callable[[], bytes]) -> None:
    data = broken()
    with pytest.raises(InvalidImage):
        strip(data, "strip-private")


def test_a_truncated_gif_keeps_its_image_data() -> None:
    truncated = imagegen.gif_with_metadata()[:-600]
    stripped = strip(truncated, "strip-private")
    assert b"IPTC-BYLINE-SECRET" not in stripped
    assert stripped.endswith(truncated[-500:])


def test_a_compressed_text_bomb_is_dropped() -> None:
    bomb = imagegen._png_chunk(b"zTXt", b"Raw profile type xmp\0\0" + zlib.compress(
        b" " * (20 * 1024 * 1024), 9))
    base = imagegen.photo_png(16, 16)
    stripped = strip(base[:33] + bomb + base[33:], "strip-private")
    assert stripped == base


@pytest.mark.parametrize("name", ["jpeg-intel", "png", "webp", "gif"])
def test_random_corruption_is_stripped_or_refused_cleanly(name: str) -> None:
    """Seeded mutations of the metadata region: the result is bytes or InvalidImage, and a
    result strips to itself."""
    original = IMAGES[name]()
    rng = random.Random(name)
    region = min(len(original), 3000)
    for _ in range(150):
        mutated = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(12, region)] = rng.randrange(256)
        try:
            stripped = strip(bytes(mutated), "strip-private")
        except InvalidImage:
            continue
        assert strip(stripped, "strip-private") == stripped


@pytest.mark.parametrize("name", IN_PLACE)
def test_random_corruption_of_heif_and_jxl_is_rewritten_in_place_or_refused(name: str) -> None:
    original = IN_PLACE[name]()
    rng = random.Random(name)
    for _ in range(150):
        mutated = bytearray(original)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(original))] = rng.randrange(256)
        try:
            stripped = strip_metadata(bytes(mutated), sniff_format(original), "strip-private")
        except InvalidImage:
            continue
        assert len(stripped) == len(mutated)
        assert strip_metadata(stripped, sniff_format(original), "strip-private") == stripped


def test_random_exif_corruption_gives_bytes_none_or_unreadable() -> None:
    block = imagegen.exif_tiff("<")
    rng = random.Random(7)
    for _ in range(400):
        mutated = bytearray(block)
        for _ in range(rng.randint(1, 6)):
            mutated[rng.randrange(len(block))] = rng.randrange(256)
        try:
            result = rewrite_exif(bytes(mutated), lambda directory, entry: entry.tag != 0x013B)
        except UnreadableExif:
            continue
        if result is not None:
            assert rewrite_exif(result, lambda directory, entry: entry.tag != 0x013B) == result
