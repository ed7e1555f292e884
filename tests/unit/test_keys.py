"""Keys: new keys follow c2corg's scheme, stored keys cannot escape their store."""

import re

import pytest

from imagehost.errors import InvalidKey
from imagehost.imaging.formats import ImageFormat, content_type_of
from imagehost.service.naming import check_original_key, new_image_key
from imagehost.storage.keys import validate_key


def test_new_keys_are_seconds_underscore_random() -> None:
    keys = {new_image_key(ImageFormat.JPEG, 1_700_000_000.7) for _ in range(50)}
    # c2c_images's pattern: exactly 10 digits, zero-padded; v6_images's: \d+_\d+
    assert all(re.fullmatch(r"1700000000_\d{10}\.jpg", key) for key in keys)
    assert all(re.fullmatch(r"^\d{10}_\d{10}(BI|MI|SI)?\.(jpg|png|gif|svg)$", key)
               for key in keys)
    assert len(keys) > 45
    assert max(len(k) for k in keys) <= 30   # v6_api's filename column is String(30)


@pytest.mark.parametrize("key", ["1475660224_882910455.jpg", "1_2.png", "12_3.gif", "1_0.svg",
                                 "1_2.webp"])
def test_original_keys_accept_unpadded_random_parts(key: str) -> None:
    assert check_original_key(key) == key


@pytest.mark.parametrize("key", ["abc.jpg", "1_2.tiff", "1_2BI.jpg", "../1_2.jpg", "1_2.jpg/x",
                                 "", "1_2.JPG"])
def test_malformed_original_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidKey):
        check_original_key(key)


@pytest.mark.parametrize("key", ["../etc/passwd", "a/../../b", "/abs", "a\\b", "a\x00b",
                                 "a\nb", "a\x1fb", "a\x7fb", "a//b", "./a", "", "x" * 1025,
                                 ".tmp/x"])
def test_store_keys_cannot_escape(key: str) -> None:
    with pytest.raises(InvalidKey):
        validate_key(key)


def test_store_keys_may_have_folders() -> None:
    assert validate_key("plots/site-4/cam1.jpg") == "plots/site-4/cam1.jpg"


@pytest.mark.parametrize("key", ["a b.jpg", "a~b.jpg", "a\x80b.jpg", "café.jpg", "a\u2028b.jpg"])
def test_store_keys_refuse_only_ascii_control_characters(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(("key", "content_type"), [
    ("a.jpg", "image/jpeg"), ("a.png", "image/png"), ("a.gif", "image/gif"),
    ("a.svg", "image/svg+xml"), ("a.webp", "image/webp"), ("a.JPEG", "image/jpeg"),
    ("derived/1/ab/w5_q55.avif", "image/avif"), ("derived/1/ab/meta.json", "application/json"),
    ("a.unknown-extension", "application/octet-stream")])
def test_content_type_comes_from_the_extension(key: str, content_type: str) -> None:
    assert content_type_of(key) == content_type


def test_a_small_random_part_is_zero_padded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("secrets.randbelow", lambda _: 371763697)
    assert new_image_key(ImageFormat.JPEG, 1795228153) == "1795228153_0371763697.jpg"
