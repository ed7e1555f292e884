"""Property: GET /export of one service, POST /import into an empty one, gives back every record
(id, file, time, data, status, format, width, height, bytes, sha256, variants) and every
original byte for byte.

The records are made through the HTTP API the way clients make them: POST /images (multipart
with data, path and time), PUT /images/<path> (raw body, then PUT /images/<id> with JSON data)
and the c2corg /upload (incoming, data set afterwards with PUT); some are then deleted (their
tombstones are not exported). Each example builds two fresh services (own folders and catalog)
with the conftest settings and an admin key (API_SECRET_KEY), and closes them afterwards: the
conftest `make_client` would keep every client of every example open until the test ends.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, event, given, note, settings
from hypothesis import strategies as st

from imagehost.config import Settings
from imagehost.web.app import create_app
from tests import imagegen
from tests.conftest import SECRET
from tests.kit.environ import local_settings
from tests.kit.servers import FreshPostgresDatabase

ADMIN = {"Authorization": f"Bearer {SECRET}"}
COMPARED = ("id", "file", "time", "data", "status", "format", "width", "height", "bytes",
            "sha256", "variants")
EXAMPLES = settings(max_examples=12, deadline=None,
                    phases=(Phase.explicit, Phase.reuse, Phase.generate),
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])
"""make_settings is function-scoped, but each example gives it its own folders and catalog.
No shrinking: an example takes 1-3 s, and shrinking one took Hypothesis over 5 minutes; the
failing example is printed whole instead (note(): with the schemathesis pytest plugin loaded,
Hypothesis prints a failing case's arguments as blanks)."""

# ---------------------------------------------------------------------------- strategies



def json_data(text: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects: nested lists and objects, unicode keys and strings, numbers (big integers,
    extreme floats), booleans and nulls."""
    scalar = st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(2**64), max_value=2**64),
        st.sampled_from([2**53 + 1, 10**30, -0.0, 5e-324, 1.7976931348623157e308]),
        st.floats(allow_nan=False, allow_infinity=False), text)
    value = st.recursive(scalar, lambda children: st.lists(children, max_size=3) |
                         st.dictionaries(text, children, max_size=3), max_leaves=8)
    return st.dictionaries(text, value, max_size=5)


DATA = json_data(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10))
"""Neither NUL nor lone surrogates, which the service may refuse (400):
test_awkward_json_strings_in_data_are_kept_or_refused covers them."""
SEGMENT = st.text(
    st.characters(exclude_categories=("Cc", "Cs"), exclude_characters="/\\"),
    min_size=1, max_size=10).filter(lambda s: s not in (".", "..") and not s.startswith(".tmp"))
FOLDERS = st.lists(SEGMENT, max_size=3)
TIME = st.datetimes(min_value=datetime(1980, 1, 2), max_value=datetime(2100, 12, 30),
                    timezones=st.one_of(st.just(UTC), st.integers(min_value=-14 * 60,
                                                                  max_value=14 * 60)
                                        .map(lambda m: timezone(timedelta(minutes=m)))))
"""Zip entries keep times from 1980 to 2107 only (test_export_of_a_far_future_time below)."""


@dataclass(frozen=True)
class Image:
    kind: str
    width: int
    height: int
    variant: int

    @property
    def extension(self) -> str:
        return {"jpeg": "jpg", "exif-jpeg": "jpeg", "png": "png", "gif": "gif",
                "webp": "webp", "animated-webp": "webp", "svg": "svg"}[self.kind]

    def data(self) -> bytes:
        w, h, v = self.width, self.height, self.variant
        return {
            "jpeg": lambda: imagegen.photo_jpeg(w, h, quality=50 + v * 10),
            "exif-jpeg": lambda: imagegen.jpeg_with_exif(w, h, orientation=1 + v * 2,
                                                         gps=v % 2 == 0),
            "png": lambda: imagegen.photo_png(w, h, alpha=v % 2 == 1),
            "gif": lambda: imagegen.animated_gif(w, h, frames=1 + v % 3),
            "webp": lambda: imagegen.still_webp(w, h),
            "animated-webp": lambda: imagegen.animated_webp(w, h, frames=2 + v % 2),
            "svg": lambda: imagegen.svg(w, h, script=v % 2 == 1),
        }[self.kind]()


IMAGE = st.builds(Image, st.sampled_from(["jpeg", "exif-jpeg", "png", "gif", "webp",
                                          "animated-webp", "svg"]),
                  st.integers(min_value=8, max_value=48), st.integers(min_value=8, max_value=48),
                  st.integers(min_value=0, max_value=3))


@dataclass(frozen=True)
class Planned:
    """One record to make: how, with which image, data, path and time, and whether to delete
    it afterwards."""

    route: str
    image: Image
    data: dict[str, Any]
    folders: list[str]
    stem: str
    time: datetime
    deleted: bool

    def path(self, index: int) -> str:
        # the index keeps paths unique and never ends the stem in a variant suffix (BI, MI, SI)
        return "/".join([*self.folders, f"{self.stem}-{index}.{self.image.extension}"])


def planned(data: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Planned]:
    return st.builds(Planned, st.sampled_from(["post", "post", "put", "upload"]), IMAGE, data,
                     FOLDERS, SEGMENT, TIME, st.sampled_from([False, False, False, True]))


# ---------------------------------------------------------------------------- services


@contextlib.contextmanager
def service(make_settings: Callable[..., Settings], root: Path, auto_orient: bool,
            database_url: str | None = None) -> Iterator[TestClient]:
    """A service with every folder (caches included) and, unless told, its catalog under
    `root`."""
    environ = local_settings(root) | {"AUTO_ORIENT_ORIGINAL": "1" if auto_orient else "0"}
    if database_url:
        environ["DATABASE_URL"] = database_url
    settings_ = make_settings(**environ)
    with TestClient(create_app(settings_), raise_server_exceptions=False) as client:
        yield client


def make_record(client: TestClient, plan: Planned, index: int) -> dict[str, Any]:
    image = plan.image.data()
    path = plan.path(index)
    if plan.route == "post":
        response = client.post("/images", headers=ADMIN, files={
            "image": ("upload", image, "application/octet-stream")}, data={
            "data": json.dumps(plan.data), "path": path, "time": plan.time.isoformat()})
        assert response.status_code == 201, response.text
        record = response.json()
        assert record["time"] == plan.time.astimezone(UTC).isoformat()
        assert record["file"] == path
    else:
        if plan.route == "put":
            response = client.put(f"/images/{quote(path)}", headers=ADMIN, content=image)
            assert response.status_code == 201, response.text
            record_id = response.json()["id"]
        else:
            response = client.post("/upload", files={"file": ("x", image, "image/jpeg")})
            assert response.status_code == 200, response.text
            key = response.json()["filename"]
            found = client.get("/images", headers=ADMIN,
                               params={"file": key, "status": "incoming"})
            assert found.status_code == 200, found.text
            [record_id] = [r["id"] for r in found.json()["items"] if r["file"] == key]
        response = client.put(f"/images/{record_id}", headers=ADMIN, json=plan.data)
        assert response.status_code == 200, response.text
        record = response.json()
    assert record["data"] == plan.data
    return record


def listing(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/images", headers=ADMIN,
                          params={"limit": "1000", "sort": "id", "status": "incoming,active"})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def original(client: TestClient, record_id: int) -> bytes:
    response = client.get(f"/images/{record_id}/image", headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.content


def round_trip(make_settings: Callable[..., Settings], root: Path, plans: list[Planned],
               auto_orient: bool, source_url: str | None = None,
               target_url: str | None = None) -> None:
    with service(make_settings, root / "source", auto_orient, source_url) as source:
        made = [make_record(source, plan, i) for i, plan in enumerate(plans)]
        for plan, record in zip(plans, made, strict=True):
            if plan.deleted:
                response = source.delete(f"/images/{record['id']}", headers=ADMIN)
                assert response.status_code == 200, response.text
        kept = listing(source)
        assert [r["id"] for r in kept] == [r["id"] for r, p in zip(made, plans, strict=True)
                                           if not p.deleted]
        originals = {r["id"]: original(source, r["id"]) for r in kept}
        export = source.get("/export", headers=ADMIN)
        assert export.status_code == 200, export.text
        assert export.headers["content-type"] == "application/zip"

    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
        assert archive.read("manifest.csv")
    assert sorted(names) == sorted(["manifest.json", "manifest.csv", *(r["file"] for r in kept)])
    assert [entry["id"] for entry in manifest] == [r["id"] for r in kept]

    with service(make_settings, root / "target", auto_orient, target_url) as target:
        assert listing(target) == []
        response = target.post("/import", headers=ADMIN, files={
            "archive": ("export.zip", export.content, "application/zip")})
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["created"], report["updated"], report["failed"]) == (len(kept), 0, 0), \
            report
        imported = listing(target)
        assert [{k: r[k] for k in COMPARED} for r in imported] == \
            [{k: r[k] for k in COMPARED} for r in kept]
        for record in imported:
            data = original(target, record["id"])
            assert data == originals[record["id"]], record["file"]
            assert hashlib.sha256(data).hexdigest() == record["sha256"]
            assert len(data) == record["bytes"]
        # new ids continue after the imported ones
        response = target.post("/images", headers=ADMIN, files={
            "image": ("x", imagegen.photo_png(8, 8), "image/png")})
        assert response.status_code == 201, response.text
        assert response.json()["id"] > max((r["id"] for r in kept), default=0)


# ---------------------------------------------------------------------------- tests


@EXAMPLES
@given(plans=st.lists(planned(DATA), min_size=1, max_size=4), auto_orient=st.booleans())
def test_export_then_import_into_an_empty_service_reproduces_every_record(
        make_settings: Callable[..., Settings], tmp_path: Path, plans: list[Planned],
        auto_orient: bool) -> None:
    note(f"plans={plans!r} auto_orient={auto_orient}")
    for plan in plans:
        event(f"route {plan.route}, {'deleted' if plan.deleted else 'kept'}")
        event(f"image {plan.image.kind}")
    round_trip(make_settings, tmp_path / uuid.uuid4().hex, plans, auto_orient)


def test_export_then_import_on_postgresql(make_settings: Callable[..., Settings],
                                          tmp_path: Path, postgres_server_url: str) -> None:
    """A few examples with both catalogs on PostgreSQL (JSONB data, explicit ids and the id
    sequence after an import)."""

    @settings(EXAMPLES, max_examples=3)
    @given(plans=st.lists(planned(DATA), min_size=2, max_size=4))
    def check(plans: list[Planned]) -> None:
        note(f"plans={plans!r}")
        with FreshPostgresDatabase(postgres_server_url) as source_url, \
                FreshPostgresDatabase(postgres_server_url) as target_url:
            round_trip(make_settings, tmp_path / uuid.uuid4().hex, plans, False,
                       source_url, target_url)

    check()


def test_export_of_a_far_future_time_is_a_valid_zip(make_settings: Callable[..., Settings],
                                                    tmp_path: Path) -> None:
    """POST /images accepts any ISO time; a zip entry's DOS date ends in 2107."""
    plan = Planned("post", Image("png", 8, 8, 0), {"k": 1}, ["far"], "future",
                   datetime(2200, 1, 1, tzinfo=UTC), False)

    round_trip(make_settings, tmp_path, [plan], False)


def test_export_asked_for_tombstones_is_a_valid_zip(make_settings: Callable[..., Settings],
                                                    tmp_path: Path) -> None:
    """?status=deleted selects records whose files are gone: the zip must still be whole."""
    with service(make_settings, tmp_path, False) as client:
        record = make_record(client, Planned("post", Image("png", 8, 8, 0), {}, ["gone"], "x",
                                             datetime(2024, 1, 1, tzinfo=UTC), False), 0)
        assert client.delete(f"/images/{record['id']}", headers=ADMIN).status_code == 200

        for status in ("deleted", "active,deleted"):
            response = client.get("/export", headers=ADMIN, params={"status": status})

            assert response.status_code == 200
            with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
                assert archive.testzip() is None
                assert "manifest.json" in archive.namelist()


AWKWARD_DATA = [
    pytest.param({"k": "a\x00b"}, id="NUL-in-a-value"),
    pytest.param({"k\x00": 1}, id="NUL-in-a-key"),
    pytest.param({"k": "a\ud800b"}, id="lone-surrogate-in-a-value"),
    pytest.param({"\udfff": 1}, id="lone-surrogate-in-a-key"),
]
"""Valid JSON ("\\u0000", "\\ud800") that not every layer takes: PostgreSQL's JSONB refuses
NUL, and a lone surrogate cannot be encoded as UTF-8 (SQLite text, zip entry names, JSON
responses)."""


@pytest.mark.parametrize("data", AWKWARD_DATA)
def test_awkward_json_strings_in_data_are_kept_or_refused(
        make_settings: Callable[..., Settings], tmp_path: Path, catalog_url: str,
        data: dict[str, Any]) -> None:
    """A 400 is fine, a 500 is not; data that was accepted survives export and import."""
    with service(make_settings, tmp_path / "probe", False, catalog_url) as client:
        response = client.post("/images", headers=ADMIN, files={
            "image": ("x", imagegen.photo_png(8, 8), "image/png")},
            data={"data": json.dumps(data)})
        assert response.status_code in (201, 400), response.text
        if response.status_code == 400:
            return
        assert response.json()["data"] == data
        response = client.delete(f"/images/{response.json()['id']}", headers=ADMIN)
        assert response.status_code == 200, response.text

    plan = Planned("post", Image("png", 8, 8, 0), data, ["awkward"], "x",
                   datetime(2024, 1, 1, tzinfo=UTC), False)
    if catalog_url.startswith("sqlite"):
        round_trip(make_settings, tmp_path / "round-trip", [plan], False)
        return
    with FreshPostgresDatabase(catalog_url) as source, \
            FreshPostgresDatabase(catalog_url) as target:
        round_trip(make_settings, tmp_path / "round-trip", [plan], False, source, target)


def test_manifest_csv_is_readable_whatever_the_data(make_settings: Callable[..., Settings],
                                                    tmp_path: Path) -> None:
    """One row per record with a CSV reader (RFC 4180), whatever the keys and values hold."""
    awkward = ["cr\rin", "lf\nin", "crlf\r\nin", 'quote"in', "comma,in", "", " lead", "é"]
    data = [{text: text} for text in awkward] + [{"nested": {text: [text]}} for text in awkward]
    with service(make_settings, tmp_path, False) as client:
        made = [make_record(client, Planned("post", Image("png", 8, 8, 0), d, ["csv"], "x",
                                            datetime(2024, 1, 1, tzinfo=UTC), False), i)
                for i, d in enumerate(data)]
        export = client.get("/export", headers=ADMIN)

    assert export.status_code == 200
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        text = archive.read("manifest.csv").decode()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [int(row["id"]) for row in rows] == [r["id"] for r in made]
    assert [row["file"] for row in rows] == [r["file"] for r in made]
    for row, record in zip(rows, made, strict=True):
        for key, value in record["data"].items():
            if isinstance(value, str):
                assert row[f"data.{key}"] == value
