"""The life of an image on real local stores and a real SQLite catalog."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pyvips

from imagehost.catalog.models import ImageStatus
from imagehost.errors import BadRequest, ImagehostError, InvalidKey, NotFound
from imagehost.imaging.variants import parse_crop_geometry
from imagehost.service.deletion import delete_images
from imagehost.service.editing import recrop_image, rotate_image
from imagehost.service.expiry import expire_incoming
from imagehost.service.publishing import publish_image
from imagehost.service.uploads import upload_image
from imagehost.storage.local import LocalStore
from imagehost.web.state import Services
from tests import imagegen
from tests.conftest import files_under


class StoreDown(Exception):
    pass


class FlakyStore:
    """A real store that fails at the n-th call of one operation, as a store going down."""

    def __init__(self, inner: LocalStore, operation: str, fail_at: int) -> None:
        self.inner, self.operation, self.fail_at, self.calls = inner, operation, fail_at, 0
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name != self.operation:
            return attribute

        def failing(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == self.fail_at:
                raise StoreDown(f"{name} #{self.calls}")
            return attribute(*args, **kwargs)

        return failing


class FlakyCatalog:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "set_status":
            raise StoreDown("catalog down")
        return getattr(self.inner, name)


def upload(services: Services, data: bytes | None = None, now: datetime | None = None) -> str:
    result = upload_image(imagegen.photo_jpeg(900, 600) if data is None else data,
                          policy=services.policy, incoming=services.stores.incoming,
                          catalog=services.catalog, now=now)
    return result.key


def publish(services: Services, key: str, **overrides: Any) -> None:
    args: dict[str, Any] = {"policy": services.policy, "incoming": services.stores.incoming,
                            "active": services.stores.active, "catalog": services.catalog}
    publish_image(key, **(args | overrides))


def store_root(services: Services, name: str) -> Path:
    store = getattr(services.stores, name)
    assert isinstance(store, LocalStore)
    return store.root


def digests(root: Path) -> dict[str, str]:
    return {key: hashlib.sha256((root / key).read_bytes()).hexdigest()
            for key in files_under(root)}


def test_upload_stores_original_and_variants_in_incoming_and_records_them(
        services: Services) -> None:
    data = imagegen.photo_jpeg(900, 600)
    key = upload(services, data)
    base = key.removesuffix(".jpg")
    assert files_under(store_root(services, "incoming")) == sorted(
        [key, f"{base}BI.jpg", f"{base}MI.jpg", f"{base}SI.jpg"])
    assert (store_root(services, "incoming") / key).read_bytes() == data
    assert files_under(store_root(services, "active")) == []
    record = services.catalog.get(key)
    assert record is not None and record.status == ImageStatus.INCOMING.value
    assert (record.width, record.height, record.format) == (900, 600, "jpeg")
    assert record.sha256 == hashlib.sha256(data).hexdigest() and record.bytes == len(data)
    assert record.variants == [f"{base}BI.jpg", f"{base}MI.jpg", f"{base}SI.jpg"]


@pytest.mark.parametrize("data", [
    imagegen.text_file(), b"", imagegen.tiff(20, 20), imagegen.png_pixel_bomb(),
    imagegen.truncated(imagegen.photo_jpeg(600, 400)), imagegen.svg_entity_bomb(),
])
def test_a_rejected_upload_leaves_no_file_and_no_record(services: Services, data: bytes) -> None:
    with pytest.raises(ImagehostError):
        upload(services, data)
    assert files_under(store_root(services, "incoming")) == []
    assert services.catalog.count_by_status() == {}


def test_a_store_failure_during_upload_leaves_nothing(services: Services) -> None:
    flaky = FlakyStore(store_root_store(services, "incoming"), "put", fail_at=4)
    with pytest.raises(StoreDown):
        upload_image(imagegen.photo_jpeg(400, 300), policy=services.policy, incoming=flaky,
                     catalog=services.catalog)
    assert files_under(store_root(services, "incoming")) == []
    assert services.catalog.count_by_status() == {}


def store_root_store(services: Services, name: str) -> LocalStore:
    store = getattr(services.stores, name)
    assert isinstance(store, LocalStore)
    return store


def test_publish_moves_everything_to_active_and_is_idempotent(services: Services) -> None:
    key = upload(services)
    uploaded = digests(store_root(services, "incoming"))
    publish(services, key)
    assert files_under(store_root(services, "incoming")) == []
    assert digests(store_root(services, "active")) == uploaded
    publish(services, key)
    assert digests(store_root(services, "active")) == uploaded
    record = services.catalog.get(key)
    assert record is not None and record.status == "active" and record.published_at


@pytest.mark.parametrize(("where", "operation", "fail_at"), [
    ("incoming", "copy_to", 1),     # first variant
    ("incoming", "copy_to", 3),     # last variant
    ("incoming", "copy_to", 4),     # the original
    ("incoming", "delete", 1),      # after copying, before clean-up
    ("incoming", "delete", 4),      # deleting the original
    ("catalog", "set_status", 1),   # files moved, record not yet marked
])
def test_publish_completes_on_retry_after_a_failure_at_any_step(
        services: Services, where: str, operation: str, fail_at: int) -> None:
    key = upload(services)
    uploaded = digests(store_root(services, "incoming"))
    if where == "catalog":
        broken: dict[str, Any] = {"catalog": FlakyCatalog(services.catalog)}
    else:
        broken = {"incoming": FlakyStore(store_root_store(services, "incoming"), operation,
                                         fail_at)}
    with pytest.raises(StoreDown):
        publish(services, key, **broken)
    publish(services, key)
    assert digests(store_root(services, "active")) == uploaded
    assert files_under(store_root(services, "incoming")) == []
    record = services.catalog.get(key)
    assert record is not None and record.status == "active"


def test_publish_regenerates_variants_missing_everywhere(services: Services) -> None:
    key = upload(services)
    (store_root(services, "incoming") / key.replace(".jpg", "MI.jpg")).unlink()
    publish(services, key)
    mi = pyvips.Image.new_from_file(str(store_root(services, "active") /
                                        key.replace(".jpg", "MI.jpg")))
    assert (mi.width, mi.height) == (400, 267)


def test_publish_refuses_unknown_and_malformed_keys(services: Services) -> None:
    with pytest.raises(NotFound):
        publish(services, "1475660224_882910455.jpg")
    with pytest.raises(InvalidKey):
        publish(services, "../../etc/passwd")


def test_publish_with_crop_makes_variants_from_the_crop_and_keeps_the_original(
        services: Services) -> None:
    data = imagegen.photo_jpeg(1000, 800)
    key = upload(services, data)
    publish(services, key, crop=parse_crop_geometry("300x200+10+20"))
    active = store_root(services, "active")
    assert (active / key).read_bytes() == data
    bi = pyvips.Image.new_from_file(str(active / key.replace(".jpg", "BI.jpg")))
    assert (bi.width, bi.height) == (300, 200)


def test_publish_record_is_created_for_images_stored_without_one(services: Services) -> None:
    data = imagegen.photo_png(300, 200)
    store_root_store(services, "active").put("1400000000_42.png", data)
    publish(services, "1400000000_42.png")
    record = services.catalog.get("1400000000_42.png")
    assert record is not None and record.status == "active" and record.width == 300
    assert (store_root(services, "active") / "1400000000_42BI.png").is_file()


def test_delete_removes_originals_and_variants_and_keeps_a_tombstone(
        services: Services) -> None:
    keys = [upload(services), upload(services, imagegen.svg())]
    for key in keys:
        publish(services, key)
    assert len(files_under(store_root(services, "active"))) == 8
    done = delete_images([*keys, "nonsense", "1_1.jpg"], policy=services.policy,
                         active=services.stores.active, catalog=services.catalog)
    assert done == [*keys, "1_1.jpg"]
    assert files_under(store_root(services, "active")) == []
    for key in keys:
        record = services.catalog.get(key)
        assert record is not None and record.status == "deleted" and record.deleted_at


def test_recrop_copies_to_a_new_key_with_cropped_variants(services: Services) -> None:
    data = imagegen.photo_jpeg(800, 600)
    key = upload(services, data)
    publish(services, key)
    new_key = recrop_image(key, crop=parse_crop_geometry("100x50+0+0"), policy=services.policy,
                           active=services.stores.active, catalog=services.catalog)
    active = store_root(services, "active")
    assert new_key != key and (active / key).is_file()
    assert (active / new_key).read_bytes() == data
    mi = pyvips.Image.new_from_file(str(active / new_key.replace(".jpg", "MI.jpg")))
    assert (mi.width, mi.height) == (100, 50)
    record = services.catalog.get(new_key)
    assert record is not None and record.status == "active"


def test_rotate_makes_a_new_rotated_image_and_deletes_the_old(services: Services) -> None:
    key = upload(services, imagegen.photo_png(600, 400))
    publish(services, key)
    new_key = rotate_image(key, 90, policy=services.policy, active=services.stores.active,
                           catalog=services.catalog)
    active = store_root(services, "active")
    rotated = pyvips.Image.new_from_file(str(active / new_key))
    assert (rotated.width, rotated.height) == (400, 600)
    assert new_key.endswith(".png") and not (active / key).exists()
    assert len(files_under(active)) == 4
    old = services.catalog.get(key)
    assert old is not None and old.status == "deleted"
    with pytest.raises(BadRequest):
        rotate_image(new_key, 45, policy=services.policy, active=services.stores.active,
                     catalog=services.catalog)


def test_rotating_an_svg_is_refused(services: Services) -> None:
    key = upload(services, imagegen.svg())
    publish(services, key)
    with pytest.raises(BadRequest, match="SVG"):
        rotate_image(key, 90, policy=services.policy, active=services.stores.active,
                     catalog=services.catalog)


def test_expire_removes_old_unpublished_uploads_only(services: Services) -> None:
    three_hours_ago = datetime.now(UTC) - timedelta(hours=3)
    old = upload(services, now=three_hours_ago)
    fresh, published = upload(services), upload(services)
    publish(services, published)
    incoming = store_root(services, "incoming")
    orphan = incoming / "1_1.jpg"
    orphan.write_bytes(b"left behind")
    stamp = three_hours_ago.timestamp()
    os.utime(orphan, (stamp, stamp))
    report = expire_incoming(older_than=2 * 3600, policy=services.policy,
                             incoming=services.stores.incoming, catalog=services.catalog)
    assert report.objects == sorted([orphan.name, old, *(old.replace('.jpg', f'{s}.jpg')
                                                        for s in ('BI', 'MI', 'SI'))])
    assert report.records == 1
    assert services.catalog.get(old) is None
    assert services.catalog.get(fresh) is not None
    assert len(files_under(incoming)) == 4
    assert services.catalog.get(published).status == "active"
    assert len(files_under(store_root(services, "active"))) == 4


def test_expire_dry_run_changes_nothing(services: Services) -> None:
    key = upload(services)
    report = expire_incoming(older_than=0.0, policy=services.policy, dry_run=True,
                             incoming=services.stores.incoming, catalog=services.catalog,
                             now=datetime.now(UTC) + timedelta(seconds=5))
    assert len(report.objects) == 4
    assert len(files_under(store_root(services, "incoming"))) == 4
    assert services.catalog.get(key) is not None
