"""The c2corg lifecycle against a running imagehost, with the standard library only, so that it
runs with the Python of any image (scripts/docker-test.sh runs it inside the container):

    python3 replay.py BASE_URL SECRET [lifecycle|ping|publish] [--wait SECONDS]

Each mode first waits for /ping (up to --wait seconds, 30 by default). `ping` stops there.
`lifecycle`: upload a PNG, publish it, fetch the original and a variant, a derived image of its
record, delete it, and check that it is gone. `publish`: upload and publish a PNG, and print
its key. Exits non-zero with one line naming the step that failed."""

from __future__ import annotations

import json
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib


def png(width: int, height: int) -> bytes:
    """An RGB gradient, compressed but otherwise plain."""
    rows = b"".join(b"\0" + bytes(v for x in range(width)
                                   for v in (x * 255 // width, y * 255 // height, 128))
                    for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError(f"not a PNG: {data[:16]!r}")
    return struct.unpack(">II", data[16:24])


class Client:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def call(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base + path, data=body, method=method,
                                         headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def form(self, path: str, fields: list[tuple[str, str]]) -> tuple[int, bytes]:
        body = urllib.parse.urlencode(fields).encode()
        return self.call("POST", path, body,
                         {"Content-Type": "application/x-www-form-urlencoded"})

    def upload(self, name: str, data: bytes) -> tuple[int, bytes]:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"{name}\"\r\nContent-Type: image/png\r\n\r\n").encode()
        body += data + f"\r\n--{boundary}--\r\n".encode()
        return self.call("POST", "/upload", body,
                         {"Content-Type": f"multipart/form-data; boundary={boundary}"})


def expect(step: str, got: tuple[int, bytes], status: int) -> bytes:
    if got[0] != status:
        sys.exit(f"replay: {step}: expected {status}, got {got[0]}: {got[1][:300]!r}")
    print(f"replay: {step}: {status}", file=sys.stderr)
    return got[1]


def wait_for_ping(client: Client, seconds: float) -> float:
    start = time.monotonic()
    while True:
        try:
            if client.call("GET", "/ping")[0] == 200:
                return time.monotonic() - start
        except OSError:
            pass
        if time.monotonic() - start > seconds:
            sys.exit(f"replay: no answer on {client.base}/ping after {seconds:.0f} s")
        time.sleep(0.05)


def lifecycle(client: Client, secret: str) -> None:
    key = publish(client, secret)
    stem = key.rsplit(".", 1)[0]
    variant = expect("fetch variant SI", client.call("GET", f"/active/{stem}SI.png"), 200)
    if png_size(variant) != (200, 200):
        sys.exit(f"replay: variant SI is {png_size(variant)}, expected (200, 200)")

    bearer = {"Authorization": f"Bearer {secret}"}
    listing = json.loads(expect("find the record", client.call(
        "GET", f"/images?file={urllib.parse.quote(key)}", headers=bearer), 200))
    record = listing["items"][0]["id"]
    derived = expect("derived image", client.call("GET", f"/images/{record}/image?w=64"), 200)
    if png_size(derived) != (64, 48):
        sys.exit(f"replay: derived image is {png_size(derived)}, expected (64, 48)")

    expect("delete", client.form("/delete", [("secret", secret), ("filenames", key)]), 200)
    expect("deleted original is gone", client.call("GET", f"/active/{key}"), 404)
    expect("deleted variant is gone", client.call("GET", f"/active/{stem}SI.png"), 404)
    print("replay: c2corg lifecycle passed", file=sys.stderr)


def publish(client: Client, secret: str) -> str:
    original = png(640, 480)
    key = json.loads(expect("upload", client.upload("photo.png", original), 200))["filename"]
    expect("unpublished original is not served", client.call("GET", f"/active/{key}"), 404)
    expect("publish", client.form("/publish", [("secret", secret), ("filename", key)]), 200)
    if expect("fetch original", client.call("GET", f"/active/{key}"), 200) != original:
        sys.exit("replay: the published original differs from the upload")
    return key


def main() -> None:
    args = sys.argv[1:]
    wait = 30.0
    if "--wait" in args:
        at = args.index("--wait")
        wait = float(args[at + 1])
        del args[at:at + 2]
    base, secret, mode = [*args, "lifecycle"][:3]
    client = Client(base)
    print(f"replay: first /ping after {wait_for_ping(client, wait):.2f} s", file=sys.stderr)
    if mode == "lifecycle":
        lifecycle(client, secret)
    elif mode == "publish":
        print(publish(client, secret))


if __name__ == "__main__":
    main()
