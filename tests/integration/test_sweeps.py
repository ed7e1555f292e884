"""What interrupted writes leave behind goes: the temporary files of the local stores, the
objects of an upload killed between its objects and its row (records uploads go straight to
active), and S3's incomplete multipart uploads; at start and by expire, after
ABANDONED_WRITE_AGE, never touching what a row owns. One test kills a real `imagehost serve`
(SIGKILL) in the middle of a records upload."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from imagehost.catalog.models import ImageRecord, ImageStatus
from imagehost.config import Settings, load_settings
from imagehost.runtime import open_context
from imagehost.service.context import ServiceContext
from imagehost.service.deletion import image_files
from imagehost.service.expiry import expire_incoming, sweep_interrupted_writes
from imagehost.service.records import store_record
from imagehost.service.uploads import upload_image
from tests import imagegen
from tests.conftest import SECRET, files_under
from tests.kit.cli import kill
from tests.kit.environ import local_settings
from tests.kit.serve import Launch, server_environ, serving
from tests.kit.servers import Buckets, SwiftServer

ADMIN = {"Authorization": f"Bearer {SECRET}"}
LATER = timedelta(minutes=11)
"""Past the default ABANDONED_WRITE_AGE of 10 minutes."""


class Killed(BaseException):
    """The process dies here: no `except Exception` clean-up runs."""


class DyingCatalog:
    """The record catalog of a process killed just before it saves a row."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        if name == "save":
            raise Killed
        return getattr(self.inner, name)


def killed_while_storing(ctx: ServiceContext, data: bytes, path: str,
                         status: ImageStatus = ImageStatus.ACTIVE) -> None:
    dying = dataclasses.replace(ctx, records=DyingCatalog(ctx.records))
    with pytest.raises(Killed):
        store_record(dying, data, path=path, status=status)


def owned_files(ctx: ServiceContext, store: str) -> set[str]:
    """Every object the catalog's rows own in one store."""
    status = ImageStatus.INCOMING if store == "incoming" else ImageStatus.ACTIVE
    with Session(ctx.records.engine) as session:
        rows = session.scalars(select(ImageRecord).where(ImageRecord.status == status.value))
        return {key for record in rows for key in image_files(ctx, record)}


@pytest.fixture
def context(make_settings: Callable[..., Settings]) -> Iterator[ServiceContext]:
    with open_context(make_settings()) as ctx:
        yield ctx


def test_the_objects_of_a_killed_records_upload_go_and_owned_ones_stay(
        context: ServiceContext, tmp_path: Path) -> None:
    ctx = context
    active, incoming = tmp_path / "active", tmp_path / "incoming"
    kept = store_record(ctx, imagegen.photo_jpeg(600, 400), path="kept/a.jpg").record
    killed_while_storing(ctx, imagegen.photo_jpeg(640, 480), "killed/b.jpg")
    killed_while_storing(ctx, imagegen.photo_jpeg(500, 500), "up/c.jpg", ImageStatus.INCOMING)
    # a kill over an image already there: its objects are owned by its row and stay
    killed_while_storing(ctx, imagegen.photo_jpeg(300, 200), "kept/a.jpg")
    orphans = {k for k in files_under(active) if k.startswith("killed/")}
    assert "killed/b.jpg" in orphans and len(orphans) > 1        # variants and original
    assert {k for k in files_under(incoming) if k.startswith("up/")}
    assert ctx.records.by_file("killed/b.jpg") is None
    for root in (active, incoming):                              # a write killed mid-file
        (root / ".tmp" / "tmpkilled").write_bytes(b"half an image")
    before = files_under(active)

    assert sweep_interrupted_writes(ctx) == []                    # too young to be abandoned
    assert files_under(active) == before
    listed = sweep_interrupted_writes(ctx, now=datetime.now(UTC) + LATER, dry_run=True)
    assert sorted(listed) == sorted([f"active/{k}" for k in orphans] +
                                    [f"incoming/{k}" for k in files_under(incoming)])
    assert files_under(active) == before

    report = expire_incoming(ctx, older_than=7200, now=datetime.now(UTC) + LATER)
    assert sorted(report.interrupted) == sorted(
        [*listed, "active/.tmp/tmpkilled", "incoming/.tmp/tmpkilled"])
    assert files_under(active) == sorted(owned_files(ctx, "active"))
    assert "kept/a.jpg" in files_under(active)
    assert files_under(incoming) == []
    assert not list((active / ".tmp").iterdir()) and not list((incoming / ".tmp").iterdir())
    assert ctx.pending_writes.started_before(datetime.now(UTC) + LATER) == []
    assert ctx.records.get(kept.id).sha256 == kept.sha256          # the row was never replaced
    assert sweep_interrupted_writes(ctx, now=datetime.now(UTC) + LATER) == []


def test_a_finished_or_failed_write_leaves_no_intent(context: ServiceContext,
                                                     tmp_path: Path) -> None:
    ctx = context
    upload_image(ctx, imagegen.photo_jpeg(300, 200))
    store_record(ctx, imagegen.photo_jpeg(300, 200), path="done.jpg")
    assert ctx.pending_writes.started_before(datetime.now(UTC) + LATER) == []
    failing = dataclasses.replace(ctx, records=FailingCatalog(ctx.records))
    with pytest.raises(RuntimeError):
        store_record(failing, imagegen.photo_jpeg(300, 200), path="failed.jpg")
    assert [k for k in files_under(tmp_path / "active") if k.startswith("failed")] == []
    # the intent of a failed write stays until the sweep finds nothing left to remove
    assert len(ctx.pending_writes.started_before(datetime.now(UTC) + LATER)) == 1
    assert sweep_interrupted_writes(ctx, now=datetime.now(UTC) + LATER) == []
    assert ctx.pending_writes.started_before(datetime.now(UTC) + LATER) == []


class FailingCatalog(DyingCatalog):
    def __getattr__(self, name: str) -> Any:
        if name == "save":
            raise RuntimeError("catalog down")
        return getattr(self.inner, name)


def test_a_restart_sweeps_what_a_killed_process_left(make_settings: Callable[..., Settings],
                                                     tmp_path: Path) -> None:
    with open_context(make_settings()) as ctx:
        killed_while_storing(ctx, imagegen.photo_jpeg(400, 300), "restart/a.jpg")
    (tmp_path / "cache" / ".tmp" / "tmpkilled").write_bytes(b"half a derived image")
    assert [k for k in files_under(tmp_path / "active") if k.startswith("restart/")]
    with open_context(make_settings()):                           # too young: kept
        assert [k for k in files_under(tmp_path / "active") if k.startswith("restart/")]
    with open_context(make_settings(ABANDONED_WRITE_AGE="1ms")) as ctx:
        assert files_under(tmp_path / "active") == []
        assert not list((tmp_path / "cache" / ".tmp").iterdir())
        assert ctx.pending_writes.started_before(datetime.now(UTC) + LATER) == []


def test_incomplete_multipart_uploads_are_aborted_by_expire(
        make_settings: Callable[..., Settings], s3_environ: dict[str, str],
        swift: SwiftServer, buckets: Buckets) -> None:
    s3 = swift.s3_client()
    started = s3.create_multipart_upload(Bucket=buckets.cache, Key="derived/7/abc/big.png")
    s3.upload_part(Bucket=buckets.cache, Key="derived/7/abc/big.png", PartNumber=1,
                   UploadId=started["UploadId"], Body=b"x" * 1000)
    with open_context(make_settings(**s3_environ)) as ctx:
        assert expire_incoming(ctx, older_than=7200).interrupted == []   # too young
        assert s3.list_multipart_uploads(Bucket=buckets.cache).get("Uploads")
        report = expire_incoming(ctx, older_than=7200, now=datetime.now(UTC) + LATER)
    assert report.interrupted == [
        f"cache/derived/7/abc/big.png (multipart upload {started['UploadId']})"]
    assert not s3.list_multipart_uploads(Bucket=buckets.cache).get("Uploads")


# -- a real kill ---------------------------------------------------------------------------

def pending_writes(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
        return connection.execute("SELECT count(*) FROM pending_writes").fetchone()[0]


def kill_during_an_upload(root: Path, attempt: int, uploaded: list[str]) -> bool:
    """Serve, upload large images one after another, SIGKILL the server as soon as an
    upload is between its intent and its row; whether one was left unfinished."""
    database = root / "catalog.db"
    big = imagegen.photo_png(1600, 1200)           # 5 MB: writes that take a while
    with serving(Launch(root, server_environ(root))) as [served]:
        stop = threading.Event()

        def upload_until_killed() -> None:
            with httpx.Client(base_url=served.url, timeout=60) as http:
                for n in range(40):
                    path = f"k/{attempt}-{n}.png"
                    if stop.is_set():
                        return
                    try:
                        answer = http.post("/images", headers=ADMIN, data={"path": path},
                                           files={"image": (f"{n}.png", big)})
                    except httpx.TransportError:
                        return
                    if answer.status_code == 201:
                        uploaded.append(path)

        uploader = threading.Thread(target=upload_until_killed)
        uploader.start()
        while uploader.is_alive() and not (database.exists() and pending_writes(database)):
            continue
        kill(served.process)
        stop.set()
        uploader.join(timeout=60)
    return pending_writes(database) > 0


def test_a_serve_killed_during_a_records_upload_leaves_nothing_after_a_restart(
        tmp_path: Path) -> None:
    root = tmp_path / "server"
    database = root / "catalog.db"
    uploaded: list[str] = []
    assert any(kill_during_an_upload(root, attempt, uploaded) for attempt in range(3)), \
        "no upload was caught between its intent and its row"
    with serving(Launch(root, server_environ(root, ABANDONED_WRITE_AGE="1ms"))) as [served]:
        listed = httpx.get(f"{served.url}/images", params={"limit": "100"}, headers=ADMIN,
                           timeout=30).json()
    assert pending_writes(database) == 0
    with open_context(load_settings(local_settings(root))) as ctx:
        owned = owned_files(ctx, "active")
    active = files_under(root / "active")
    assert set(active) == owned                       # no object without its row
    assert {item["file"] for item in listed["items"]} >= set(uploaded)
    assert all(f in active for f in uploaded)
    assert not list((root / "active" / ".tmp").iterdir())
