"""The life of an image on real local stores and a real SQLite catalog."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pyvips

from imagehost.catalog.models import ImageStatus
from imagehost.errors import BadRequest, ImagehostError, InvalidKey, NotFound
from imagehost.service.context import ServiceContext
from imagehost.service.deletion import delete_keys
from imagehost.service.editing import recrop_image, rotate_image
from imagehost.service.expiry import expire_incoming
from imagehost.service.publishing import publish_image
from imagehost.service.uploads import upload_image
from imagehost.storage.local import LocalStore
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


def upload(ctx: ServiceContext, data: bytes | None = None, now: datetime | None = None) -> str:
    result = upload_image(ctx, imagegen.photo_jpeg(900, 600) if data is None else data,
                          now=now)
    return result.key


def publish(ctx: ServiceContext, key: str, crop: str | None = None) -> None:
    publish_image(ctx, key, crop=crop)


def with_incoming(ctx: ServiceContext, incoming: Any) -> ServiceContext:
    """`ctx` with another incoming store (a failing one)."""
    return dataclasses.replace(ctx, stores=dataclasses.replace(ctx.stores, incoming=incoming))


def store_root(ctx: ServiceContext, name: str) -> Path:
    return local_store(ctx, name).root


def local_store(ctx: ServiceContext, name: str) -> LocalStore:
    store = getattr(ctx.stores, name)
    assert isinstance(store, LocalStore)
    return store


def digests(root: Path) -> dict[str, str]:
    return {key: hashlib.sha256((root / key).read_bytes()).hexdigest()
            for key in files_under(root)}


def test_upload_stores_original_and_variants_in_incoming_and_records_them(
        ctx: ServiceContext) -> None:
    data = imagegen.photo_jpeg(900, 600)
    key = upload(ctx, data)
    base = key.removesuffix(".jpg")
    assert files_under(store_root(ctx, "incoming")) == sorted(
        [key, f"{base}BI.jpg", f"{base}MI.jpg", f"{base}SI.jpg", f"{key}.ladder-256"])
    assert (store_root(ctx, "incoming") / key).read_bytes() == data
    assert files_under(store_root(ctx, "active")) == []
    record = ctx.records.by_file(key)
    assert record is not None and record.status == ImageStatus.INCOMING.value
    assert (record.width, record.height, record.format) == (900, 600, "jpeg")
    assert record.sha256 == hashlib.sha256(data).hexdigest() and record.bytes == len(data)
    assert record.variants == [f"{base}BI.jpg", f"{base}MI.jpg", f"{base}SI.jpg"]
    assert record.ladder == [f"{key}.ladder-256"]


@pytest.mark.parametrize("data", [
    imagegen.text_file(), b"", imagegen.tiff(20, 20), imagegen.png_pixel_bomb(),
    imagegen.truncated(imagegen.photo_jpeg(600, 400)), imagegen.svg_entity_bomb(),
])
def test_a_rejected_upload_leaves_no_file_and_no_record(ctx: ServiceContext, data: bytes) -> None:
    with pytest.raises(ImagehostError):
        upload(ctx, data)
    assert files_under(store_root(ctx, "incoming")) == []
    assert ctx.records.count_by_status() == {}


def test_a_store_failure_during_upload_leaves_nothing(ctx: ServiceContext) -> None:
    flaky = FlakyStore(local_store(ctx, "incoming"), "put", fail_at=4)
    with pytest.raises(StoreDown):
        upload_image(with_incoming(ctx, flaky), imagegen.photo_jpeg(400, 300))
    assert flaky.calls == 4
    assert files_under(store_root(ctx, "incoming")) == []
    assert ctx.records.count_by_status() == {}


def test_publish_moves_everything_to_active_and_is_idempotent(ctx: ServiceContext) -> None:
    key = upload(ctx)
    uploaded = digests(store_root(ctx, "incoming"))
    publish(ctx, key)
    assert files_under(store_root(ctx, "incoming")) == []
    assert digests(store_root(ctx, "active")) == uploaded
    publish(ctx, key)
    assert digests(store_root(ctx, "active")) == uploaded
    record = ctx.records.by_file(key)
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
        ctx: ServiceContext, where: str, operation: str, fail_at: int) -> None:
    key = upload(ctx)
    uploaded = digests(store_root(ctx, "incoming"))
    if where == "catalog":
        broken = dataclasses.replace(ctx, records=FlakyCatalog(ctx.records))
    else:
        broken = with_incoming(ctx, FlakyStore(local_store(ctx, "incoming"), operation,
                                               fail_at))
    with pytest.raises(StoreDown):
        publish(broken, key)
    publish(ctx, key)
    assert digests(store_root(ctx, "active")) == uploaded
    assert files_under(store_root(ctx, "incoming")) == []
    record = ctx.records.by_file(key)
    assert record is not None and record.status == "active"


def test_publish_regenerates_variants_missing_everywhere(ctx: ServiceContext) -> None:
    key = upload(ctx)
    (store_root(ctx, "incoming") / key.replace(".jpg", "MI.jpg")).unlink()
    publish(ctx, key)
    mi = pyvips.Image.new_from_file(str(store_root(ctx, "active") /
                                        key.replace(".jpg", "MI.jpg")))
    assert (mi.width, mi.height) == (400, 267)


def test_publish_refuses_unknown_and_malformed_keys(ctx: ServiceContext) -> None:
    with pytest.raises(NotFound):
        publish(ctx, "1475660224_882910455.jpg")
    with pytest.raises(InvalidKey):
        publish(ctx, "../../etc/passwd")


def test_publish_with_crop_makes_variants_from_the_crop_and_keeps_the_original(
        ctx: ServiceContext) -> None:
    data = imagegen.photo_jpeg(1000, 800)
    key = upload(ctx, data)
    publish(ctx, key, crop="300x200+10+20")
    active = store_root(ctx, "active")
    assert (active / key).read_bytes() == data
    bi = pyvips.Image.new_from_file(str(active / key.replace(".jpg", "BI.jpg")))
    assert (bi.width, bi.height) == (300, 200)


def test_publish_record_is_created_for_images_stored_without_one(ctx: ServiceContext) -> None:
    data = imagegen.photo_png(300, 200)
    local_store(ctx, "active").put("1400000000_42.png", data)
    publish(ctx, "1400000000_42.png")
    record = ctx.records.by_file("1400000000_42.png")
    assert record is not None and record.status == "active" and record.width == 300
    assert (store_root(ctx, "active") / "1400000000_42BI.png").is_file()


def test_delete_removes_originals_and_variants_and_keeps_a_tombstone(
        ctx: ServiceContext) -> None:
    keys = [upload(ctx), upload(ctx, imagegen.svg())]
    for key in keys:
        publish(ctx, key)
    assert len(files_under(store_root(ctx, "active"))) == 9  # a ladder step for the JPEG
    done = delete_keys(ctx, [*keys, "nonsense", "1_1.jpg"], datetime.now(UTC))
    assert done == [*keys, "1_1.jpg"]
    assert files_under(store_root(ctx, "active")) == []
    for key in keys:
        record = ctx.records.by_file(key)
        assert record is not None and record.status == "deleted" and record.deleted_at


def test_recrop_copies_to_a_new_key_with_cropped_variants(ctx: ServiceContext) -> None:
    data = imagegen.photo_jpeg(800, 600)
    key = upload(ctx, data)
    publish(ctx, key)
    new_key = recrop_image(ctx, key, crop="100x50+0+0")
    active = store_root(ctx, "active")
    assert new_key != key and (active / key).is_file()
    assert (active / new_key).read_bytes() == data
    mi = pyvips.Image.new_from_file(str(active / new_key.replace(".jpg", "MI.jpg")))
    assert (mi.width, mi.height) == (100, 50)
    record = ctx.records.by_file(new_key)
    assert record is not None and record.status == "active"


def test_rotate_makes_a_new_rotated_image_and_deletes_the_old(ctx: ServiceContext) -> None:
    key = upload(ctx, imagegen.photo_png(600, 400))
    publish(ctx, key)
    new_key = rotate_image(ctx, key, "90")
    active = store_root(ctx, "active")
    rotated = pyvips.Image.new_from_file(str(active / new_key))
    assert (rotated.width, rotated.height) == (400, 600)
    assert new_key.endswith(".png") and not (active / key).exists()
    assert len(files_under(active)) == 4
    old = ctx.records.by_file(key)
    assert old is not None and old.status == "deleted"
    with pytest.raises(BadRequest):
        rotate_image(ctx, new_key, "45")


def test_rotating_an_svg_is_refused(ctx: ServiceContext) -> None:
    key = upload(ctx, imagegen.svg())
    publish(ctx, key)
    with pytest.raises(BadRequest, match="SVG"):
        rotate_image(ctx, key, "90")


def test_expire_removes_old_unpublished_uploads_only(ctx: ServiceContext) -> None:
    three_hours_ago = datetime.now(UTC) - timedelta(hours=3)
    old = upload(ctx, now=three_hours_ago)
    fresh, published = upload(ctx), upload(ctx)
    publish(ctx, published)
    incoming = store_root(ctx, "incoming")
    orphan = incoming / "1_1.jpg"
    orphan.write_bytes(b"left behind")
    stamp = three_hours_ago.timestamp()
    os.utime(orphan, (stamp, stamp))
    report = expire_incoming(ctx, older_than=2 * 3600)
    assert report.objects == sorted([orphan.name, old, *(old.replace('.jpg', f'{s}.jpg')
                                                        for s in ('BI', 'MI', 'SI')),
                                     f"{old}.ladder-256"])
    assert report.records == 1
    assert ctx.records.by_file(old) is None
    assert ctx.records.by_file(fresh) is not None
    assert len(files_under(incoming)) == 5
    assert ctx.records.by_file(published).status == "active"
    assert len(files_under(store_root(ctx, "active"))) == 5


def test_expire_dry_run_changes_nothing(ctx: ServiceContext) -> None:
    key = upload(ctx)
    report = expire_incoming(ctx, older_than=0.0, dry_run=True,
                             now=datetime.now(UTC) + timedelta(seconds=5))
    assert len(report.objects) == 5
    assert len(files_under(store_root(ctx, "incoming"))) == 5
    assert ctx.records.by_file(key) is not None
