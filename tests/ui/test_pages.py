"""The web page in a real browser (Debian's Chromium through Playwright) against `imagehost
serve` in a subprocess: sign in, upload, find, edit, share, delete, the c2corg view, the jobs
page during a running resize, endless scrolling through thousands of records, keyboard use
and contrast. Every page is screenshotted at 390 and 1280 px into the test's folder."""

from __future__ import annotations

import base64
import json
import re
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pyvips
from playwright.sync_api import BrowserContext, Page, expect
from sqlalchemy import create_engine, insert

from imagehost.catalog.models import ImageRecord, ImageStatus
from imagehost.service.url_signing import sign
from tests import imagegen
from tests.kit.cli import kill, start_cli, wait_for
from tests.kit.serve import Launch, Served, server_environ, serving
from tests.ui.conftest import keep_screenshot

EDITOR = "ui-editor-key"
READER = "ui-reader-key"
SIGNING_KEY = "ui-url-signing-key"
WIDTHS = (390, 1280)
SEEDED = 3000
CONTRAST_CHECK = """() => {
  const parse = (value) => {
    const m = value.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[\\s,/]+/).filter(Boolean).map(Number);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const blend = (top, base) => ({ r: top.r * top.a + base.r * (1 - top.a),
    g: top.g * top.a + base.g * (1 - top.a), b: top.b * top.a + base.b * (1 - top.a), a: 1 });
  const luminance = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (element) => {
    const layers = [];
    for (let e = element; e; e = e.parentElement) {
      const colour = parse(getComputedStyle(e).backgroundColor);
      if (colour && colour.a > 0) { layers.push(colour); if (colour.a >= 1) break; }
    }
    const white = { r: 255, g: 255, b: 255, a: 1 };
    return layers.reverse().reduce((base, top) => blend(top, base), white);
  };
  const failures = [];
  let checked = 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const element = node.parentElement;
    if (!node.textContent.trim() || !element
        || element.closest("svg, option, .visually-hidden, dialog:not([open])")) continue;
    const style = getComputedStyle(element);
    if (!element.getClientRects().length || style.visibility === "hidden") continue;
    const back = background(element);
    const text = blend(parse(style.color), back);
    const [light, dark] = [luminance(text), luminance(back)].sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (Number(style.fontWeight) >= 700 && size >= 18.66);
    checked += 1;
    if (ratio < (large ? 3 : 4.5)) {
      failures.push(`${node.textContent.trim().slice(0, 40)}: ${ratio.toFixed(2)}`);
    }
  }
  return { checked, failures };
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The server every test but the scrolling one uses, with signed derived URLs."""
    root = tmp_path_factory.mktemp("ui-site")
    environ = server_environ(root, API_KEYS=f"{EDITOR}:admin;{READER}:read",
                             URL_SIGNING_KEY=SIGNING_KEY)
    with serving(Launch(root, environ)) as [served]:
        yield served


def api(site: Served, key: str = EDITOR) -> httpx.Client:
    return httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {key}"},
                        timeout=30)


def open_page(browser: BrowserContext, url: str,
              key: str | None = None) -> tuple[Page, list[str]]:
    """A new tab on `url` (signed in with `key` through the form when given), and the list
    its uncaught script errors go to."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    if key:
        page.get_by_role("textbox", name="API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page, errors


def screenshots(page: Page, name: str, folder: Path) -> None:
    """`name`-390.png and `name`-1280.png of the whole page, images that are in view loaded."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_function("() => [...document.images].filter((i) => "
                               "i.getBoundingClientRect().top < innerHeight)"
                               ".every((i) => i.complete)")
        path = folder / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        keep_screenshot(path)
    page.set_viewport_size({"width": 1280, "height": 900})


def assert_contrast(page: Page) -> None:
    report = page.evaluate(CONTRAST_CHECK)
    assert report["checked"] > 5
    assert report["failures"] == []


def tab_through(page: Page, count: int) -> list[str]:
    """The names of the next `count` elements the Tab key reaches; each shows its focus."""
    names = []
    for _ in range(count):
        page.keyboard.press("Tab")
        name, outline, width = page.evaluate(
            "() => { const e = document.activeElement; const s = getComputedStyle(e);"
            " return [(e.labels && e.labels[0] ? e.labels[0].textContent : e.textContent)"
            ".trim(), s.outlineStyle, parseFloat(s.outlineWidth)]; }")
        assert outline == "solid" and width >= 2, (name, outline, width)
        names.append(name)
    return names


def tile_images(page: Page) -> list[dict[str, object]]:
    return page.eval_on_selector_all(
        "#gallery-grid img",
        "imgs => imgs.map((i) => ({alt: i.alt, loaded: i.complete && i.naturalWidth > 0}))")


def wait_for_loaded_tiles(page: Page, count: int) -> None:
    page.wait_for_function(
        "(count) => { const imgs = [...document.querySelectorAll('#gallery-grid img')];"
        " return imgs.length === count && imgs.every((i) => i.complete && i.naturalWidth > 0); }",
        arg=count)


def test_an_editor_uploads_finds_edits_shares_and_deletes(browser: BrowserContext, site: Served,
                                                          tmp_path: Path) -> None:
    files = {"harbour.jpg": imagegen.photo_jpeg(800, 600), "plan.png": imagegen.photo_png(300, 400),
             "dune.webp": imagegen.still_webp(500, 300),
             "huge.png": imagegen.png_pixel_bomb(20000, 20000)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    page, errors = open_page(browser, f"{site.url}/")
    assert page.url == f"{site.url}/ui/"
    page.get_by_role("textbox", name="API key").fill("not-a-key-at-all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-error")).to_have_text("This API key is not known to the server.")
    page.get_by_role("textbox", name="API key").fill(EDITOR)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#scopes")).to_have_text("Signed in (admin, read, write)")

    # Three files by the file input, with data for the batch: three thumbnails that loaded.
    page.get_by_label("Data for this batch").fill('{"album": "coast"}')
    page.get_by_label("Upload images").set_input_files(
        [str(tmp_path / name) for name in ("harbour.jpg", "plan.png", "dune.webp")])
    wait_for_loaded_tiles(page, 3)
    assert all(image["loaded"] for image in tile_images(page))
    expect(page.locator(".uploads .result.ok")).to_have_count(3)
    with api(site) as client:
        listed = client.get("/images", params={"sort": "time"}).json()["items"]
    assert [r["data"] for r in listed] == [{"album": "coast"}] * 3
    assert sorted(image["alt"] for image in tile_images(page)) == sorted(r["file"] for r in listed)
    # Each tile's placeholder is its record's dominant colour.
    placeholders = dict(page.evaluate("""() => [...document.querySelectorAll(
        "#gallery-grid .tile")].map((tile) => [tile.querySelector("img").alt,
        getComputedStyle(tile.querySelector(".thumb")).backgroundColor])"""))
    assert placeholders == {r["file"]: "rgb({}, {}, {})".format(
        *(int(r["color"][i:i + 2], 16) for i in (1, 3, 5))) for r in listed}
    srcset = page.locator("#gallery-grid img").first.get_attribute("srcset") or ""
    assert srcset.count("sig=") == 3 and "format=auto" in srcset
    # One refused file: its own error, and nothing stored.
    page.get_by_label("Upload images").set_input_files(str(tmp_path / "huge.png"))
    refusal = page.locator(".uploads .result.error")
    expect(refusal).to_contain_text("huge.png refused:")
    expect(refusal).to_contain_text(re.compile("pixel", re.IGNORECASE))
    with api(site) as client:
        assert client.get("/images").json()["total"] == 3
    screenshots(page, "gallery", tmp_path)

    # Find: the filter language, and a bad filter's message next to the box.
    page.get_by_label("Filter").fill("data.album=coast & .png")
    page.get_by_role("button", name="Apply").click()
    wait_for_loaded_tiles(page, 1)
    assert tile_images(page)[0]["alt"].endswith(".png")
    page.get_by_label("Filter").fill("data.album__near=coast")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#filter-error")).to_contain_text("data.album__near")
    expect(page.get_by_label("Filter")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Filter").fill("")
    page.get_by_label("Sort").select_option("file")
    wait_for_loaded_tiles(page, 3)

    # Detail: facts, then the data edited and saved as a merge patch.
    plan = next(r for r in listed if r["file"].endswith(".png"))
    page.get_by_role("link", name=re.compile(re.escape(plan["file"]))).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(plan["file"])
    expect(page.locator(".facts")).to_contain_text("300 \N{MULTIPLICATION SIGN} 400 px")
    expect(page.locator(".facts")).to_contain_text("#")  # the dominant colour
    page.wait_for_function("() => document.getElementById('preview-image').naturalWidth > 0")
    metadata = page.get_by_label("Metadata", exact=True)
    expect(metadata).to_have_value(json.dumps({"album": "coast"}, indent=2))
    metadata.fill('{"album": "coast", oops}')
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#metadata-message")).to_contain_text("Not valid JSON")
    metadata.fill('{"caption": "Plan of the harbour", "rating": 4, "place": {"x": 1}}')
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#metadata-message")).to_have_text("Saved.")
    with api(site, READER) as client:
        saved = client.get(f"/images/{plan['id']}").json()["data"]
    assert saved == {"caption": "Plan of the harbour", "rating": 4, "place": {"x": 1}}
    screenshots(page, "detail", tmp_path)

    # Share: a signed derived URL that fetches, and a temporary link.
    page.get_by_label("Width").fill("120")
    page.get_by_label("Format").select_option("webp")
    url_box = page.get_by_label("Image URL")
    expect(url_box).to_have_value(re.compile(r"w=120.*sig="))
    built = url_box.input_value()
    assert parse_qs(urlsplit(built).query)["format"] == ["webp"]
    answer = httpx.get(built, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/webp"
    assert pyvips.Image.new_from_buffer(answer.content, "").width == 120
    assert httpx.get(built.replace("w=120", "w=121"), timeout=30).status_code == 403
    page.get_by_role("button", name="Temporary link").click()
    temporary = page.get_by_label("Temporary URL")
    expect(temporary).to_have_value(re.compile(r"/files/"))
    parts = urlsplit(temporary.input_value())  # SERVICE_URL's host: fetch it from this server
    fetched = httpx.get(f"{site.url}{parts.path}?{parts.query}", timeout=30)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/webp"

    # Delete, confirmed: gone from the API and from the gallery.
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Gallery")
    wait_for_loaded_tiles(page, 2)
    with api(site, READER) as client:
        assert client.get(f"/images/{plan['id']}").status_code == 404

    # Drag and drop: two files dropped on the panel at once.
    dropped = page.evaluate_handle(
        """(images) => { const transfer = new DataTransfer();
        images.forEach(([name, b64]) => transfer.items.add(new File(
            [Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, {type: "image/png"})));
        return transfer; }""",
        [[f"drop{n}.png", base64.b64encode(imagegen.photo_png(40 + n, 30)).decode()]
         for n in range(2)])
    page.dispatch_event("#upload-drop", "drop", {"dataTransfer": dropped})
    wait_for_loaded_tiles(page, 4)
    expect(page.locator(".uploads li", has_text="drop1.png")).to_contain_text("Uploaded as")
    assert_contrast(page)
    assert errors == []


def test_the_c2corg_view_publishes_and_deletes_waiting_uploads(
        browser: BrowserContext, site: Served, tmp_path: Path) -> None:
    keys = []
    for width in (640, 320):
        answer = httpx.post(f"{site.url}/upload", timeout=30,
                            files={"file": ("x.jpg", imagegen.photo_jpeg(width, 480))})
        keys.append(answer.json()["filename"])
    reader, _ = open_page(browser, f"{site.url}/ui/#/c2corg", READER)
    expect(reader.locator(f'tr[data-key="{keys[0]}"]')).to_be_visible()
    expect(reader.get_by_role("button", name="Publish")).to_have_count(0)
    reader.close()

    page, errors = open_page(browser, f"{site.url}/ui/#/c2corg", EDITOR)
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    page.wait_for_function("() => [...document.querySelectorAll('tbody img')]"
                           ".every((i) => i.complete && i.naturalWidth > 0)")
    assert_contrast(page)
    screenshots(page, "c2corg", tmp_path)
    page.get_by_role("button", name=f"Publish {keys[0]}").click()
    expect(rows).to_have_count(1)
    page.get_by_role("button", name=f"Delete {keys[1]}").click()
    page.get_by_role("button", name="Yes, delete").click()
    expect(rows).to_have_count(0)
    expect(page.locator(".count")).to_have_text("0 uploads waiting.")
    with api(site) as client:
        records = client.get("/images", params={"file": keys[0][:3], "status": "active,deleted",
                                                "select": "file,status"}).json()["items"]
    assert {r["file"]: r["status"] for r in records if r["file"] in keys} == {
        keys[0]: "active", keys[1]: "deleted"}
    assert (site.root / "active" / keys[0]).exists()
    assert not (site.root / "incoming" / keys[1]).exists()
    assert errors == []


def test_the_jobs_page_follows_a_running_resize(browser: BrowserContext, site: Served,
                                                tmp_path: Path) -> None:
    original = imagegen.photo_jpeg(1200, 900)
    keys = [f"1700000{n:03d}_{n:010d}.jpg" for n in range(40)]
    for key in keys:
        (site.root / "active" / key).write_bytes(original)
    environ = server_environ(site.root, API_KEYS=f"{EDITOR}:admin;{READER}:read",
                             URL_SIGNING_KEY=SIGNING_KEY)
    with api(site) as client:  # one derived image rendered, then served from cache
        uploaded = client.post("/images", files={"image": ("j.jpg", original, "image/jpeg")})
        assert uploaded.status_code == 201, uploaded.text
        path = f"/images/{uploaded.json()['id']}/image"
        for _ in range(2):
            derived = client.get(f"{path}?{sign(SIGNING_KEY, path, [('w', '64')])}")
            assert derived.status_code == 200, derived.text
    resize = start_cli(["resize", "--from-store", "-j", "1", "--local"], environ, site.root,
                       tmp_path / "resize.log")
    try:
        with api(site, READER) as client:
            job = wait_for(lambda: next((j for j in client.get("/ui/api/jobs").json()["jobs"]
                                         if j["kind"] == "resize"), None), 60, "the resize job")
            resize.send_signal(signal.SIGSTOP)  # held mid-run while the page looks at it
            job = client.get("/ui/api/jobs").json()["jobs"][0]
        assert job["state"] == "running", (tmp_path / "resize.log").read_text()
        page, errors = open_page(browser, f"{site.url}/ui/#/jobs", READER)
        row = page.locator(f'tr[data-job="{job["id"]}"]')
        expect(row).to_have_attribute("data-state", "running")
        bar = page.get_by_role("progressbar", name=f"Job {job['id']} progress")
        expect(bar).to_be_visible()
        expect(page.locator("#health-status")).to_have_text("ok")
        expect(page.locator(".chart rect")).to_have_count(30)
        expect(page.locator("#cache-ratio")).to_contain_text("Hit ratio")
        assert_contrast(page)
        screenshots(page, "jobs", tmp_path)
        resize.send_signal(signal.SIGCONT)
        expect(row).to_have_attribute("data-state", "done", timeout=60_000)
        total = int(bar.get_attribute("max") or 0)
        assert total >= len(keys) and bar.get_attribute("value") == str(total)
        assert resize.wait(timeout=60) == 0
        expect(page.locator(".cards table.data").first).to_contain_text("active")
        assert errors == []
    finally:
        if resize.poll() is None:
            resize.send_signal(signal.SIGCONT)
        kill(resize)


def test_an_anonymous_visitor_is_asked_to_sign_in_and_the_keyboard_reaches_everything(
        browser: BrowserContext, site: Served, tmp_path: Path) -> None:
    page, errors = open_page(browser, f"{site.url}/ui/")
    expect(page.get_by_text("Sign in to see the gallery.")).to_be_visible()
    expect(page.get_by_role("link", name="c2corg uploads")).to_be_hidden()
    assert_contrast(page)
    screenshots(page, "sign-in", tmp_path)
    names = tab_through(page, 6)
    for wanted in ("Skip to content", "Gallery", "Jobs and health", "API key", "Sign in"):
        assert wanted in names, names
    page.get_by_role("textbox", name="API key").focus()
    page.keyboard.type(READER)
    page.keyboard.press("Enter")
    expect(page.locator("#scopes")).to_have_text("Signed in (read)")
    expect(page.get_by_label("Upload images")).to_have_count(0)  # the read scope cannot write
    expect(page.locator("#gallery-count")).to_be_visible()
    names = tab_through(page, 4)  # from "Sign out", where signing in left the focus
    assert names == ["Filter", "Sort", "Apply", "Filter help"], names
    assert errors == []


@pytest.fixture(scope="module")
def seeded_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, int]]:
    """A server without URL signing whose catalog holds SEEDED rows written straight into
    the catalog (their files do not exist: only paging is tested), then one real image."""
    root = tmp_path_factory.mktemp("ui-seeded")
    environ = server_environ(root, API_KEYS=f"{READER}:read;{EDITOR}:admin")
    with serving(Launch(root, environ)) as [served]:
        start = datetime(2020, 1, 1, tzinfo=UTC)
        rows = [{"key": f"seeded/{n:05d}.jpg", "status": ImageStatus.ACTIVE.value,
                 "format": "jpeg", "width": 640, "height": 480, "bytes": 1000 + n,
                 "sha256": f"{n:064x}", "variants": [], "data": {"n": n},
                 "created_at": start + timedelta(minutes=n), "published_at": start}
                for n in range(SEEDED)]
        engine = create_engine(environ["DATABASE_URL"])
        with engine.begin() as connection:
            connection.execute(insert(ImageRecord), rows)
        engine.dispose()
        with api(served) as client:
            real = client.post("/images", files={"image": ("x.jpg", imagegen.photo_jpeg(400, 300))},
                               data={"path": "real/one.jpg"}).json()
        yield served, real["id"]


def test_the_gallery_scrolls_by_cursor_through_thousands_of_records(
        browser: BrowserContext, seeded_site: tuple[Served, int], tmp_path: Path) -> None:
    served, real_id = seeded_site
    page = browser.new_page()
    listings: list[str] = []
    page.on("response", lambda response: listings.append(response.url)
            if urlsplit(response.url).path == "/images" and response.ok else None)
    page.goto(f"{served.url}/ui/")
    page.get_by_role("textbox", name="API key").fill(READER)
    page.get_by_role("button", name="Sign in").click()
    tiles = page.locator("#gallery-grid li")
    expect(tiles).to_have_count(60)
    # The newest record is the real one: its unsigned thumbnail loaded.
    first = page.locator("#gallery-grid img").first
    expect(first).to_have_attribute("alt", "real/one.jpg")
    page.wait_for_function("() => document.querySelector('#gallery-grid img').naturalWidth > 0")
    assert "sig=" not in (first.get_attribute("srcset") or "")
    for pages in range(2, 8):
        page.mouse.wheel(0, 20_000)
        expect(tiles).to_have_count(60 * pages)
    expect(page.locator("#gallery-count")).to_have_text(f"Showing 420 of {SEEDED + 1} images")
    ids = page.eval_on_selector_all("#gallery-grid li", "items => items.map((i) => i.dataset.id)")
    expected = [str(real_id)] + [str(n) for n in range(SEEDED, SEEDED - 419, -1)]
    assert ids == expected  # newest first, no gap, no repeat
    queries = [parse_qs(urlsplit(url).query) for url in listings]
    assert len(queries) == 7 and "cursor" not in queries[0]
    cursors = [q["cursor"][0] for q in queries[1:]]
    assert len(set(cursors)) == 6 and all("skip" not in q for q in queries)
    sizes = page.eval_on_selector_all(
        "#gallery-grid .thumb", "ts => [...new Set(ts.slice(0, 120).map((t) => "
        "`${Math.round(t.getBoundingClientRect().width)}x${Math.round(t.getBoundingClientRect().height)}`))]")
    assert len(sizes) == 1 and sizes[0].split("x")[0] == sizes[0].split("x")[1]
