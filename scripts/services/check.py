"""Self-check for the development services started by scripts/services/all.sh.

Proves that Swift (through its S3 API and natively) and PostgreSQL work the way
imagehost uses them. Prints one PASS/FAIL line per check (INFO lines record
observed behaviour that is not a requirement) and exits non-zero on failure.

    eval "$(scripts/services/all.sh start)"
    .venv/bin/python scripts/services/check.py

Needs: boto3, python-swiftclient, psycopg[binary], httpx.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import boto3
import httpx
import psycopg
from botocore.config import Config
from botocore.exceptions import ClientError
from swiftclient import client as swift_client
from swiftclient.utils import generate_temp_url

S3_ENDPOINT = os.environ.get("SWIFT_S3_ENDPOINT", "http://127.0.0.1:18080")
S3_KEY = os.environ.get("SWIFT_S3_ACCESS_KEY_ID", "test:tester")
S3_SECRET = os.environ.get("SWIFT_S3_SECRET_KEY", "testing")
OS_AUTH_URL = os.environ.get("OS_AUTH_URL", "http://127.0.0.1:18080/auth/v1.0")
OS_USERNAME = os.environ.get("OS_USERNAME", "test:tester")
OS_PASSWORD = os.environ.get("OS_PASSWORD", "testing")
DATABASE_URL = os.environ.get(
    "DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:15432/imagehost"
)

RUN = uuid.uuid4().hex[:8]
failures: list[str] = []
passes = 0


def check(name: str, fn: Callable[[], str | None]) -> None:
    """Run one check; fn raises (AssertionError or other) on failure."""
    global passes
    try:
        detail = fn()
    except Exception as exc:  # report every failure the same way
        failures.append(name)
        print(f"FAIL {name}: {type(exc).__name__}: {exc}")
        if os.environ.get("CHECK_VERBOSE"):
            traceback.print_exc()
        return
    passes += 1
    print(f"PASS {name}" + (f" ({detail})" if detail else ""))


def info(msg: str) -> None:
    print(f"INFO {msg}")


def add_content_md5(request, **_kwargs) -> None:
    """botocore event hook: Swift's s3api requires Content-MD5 on DeleteObjects.

    boto3 >= 1.36 sends a CRC32 checksum instead, which Swift 2.30 rejects with
    "Missing required header for this request: Content-MD5".
    """
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    request.headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()


def make_s3():
    # Path-style: no wildcard DNS for bucket hosts. s3v4: otherwise presigned
    # URLs are SigV2.
    return boto3.client(
        "s3",
        endpoint_url=S3_ENDPOINT,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )


def main() -> int:
    s3 = make_s3()
    s3.meta.events.register("before-sign.s3.DeleteObjects", add_content_md5)
    http = httpx.Client(timeout=10)
    swift = swift_client.Connection(
        authurl=OS_AUTH_URL, user=OS_USERNAME, key=OS_PASSWORD, auth_version="1"
    )
    storage_url, _token = swift.get_auth()
    # e.g. http://127.0.0.1:18080/v1/AUTH_test
    account_path = urlsplit(storage_url).path
    proxy = S3_ENDPOINT.rstrip("/")

    bucket = f"check-{RUN}"  # public-read bucket
    private_bucket = f"check-{RUN}-private"
    container = f"check-{RUN}-swift"
    body = b"hello imagehost\n"

    # --- S3 API ----------------------------------------------------------
    def create_buckets():
        s3.create_bucket(Bucket=bucket, ACL="public-read")
        s3.create_bucket(Bucket=private_bucket)
        names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
        assert {bucket, private_bucket} <= names, names

    check("s3 create bucket", create_buckets)

    def put_and_head():
        s3.put_object(
            Bucket=bucket,
            Key="pub.txt",
            Body=body,
            ContentType="text/plain; charset=utf-8",
            CacheControl="public, max-age=3600",
            ACL="public-read",
        )
        head = s3.head_object(Bucket=bucket, Key="pub.txt")
        assert head["ContentType"] == "text/plain; charset=utf-8", head["ContentType"]
        assert head.get("CacheControl") == "public, max-age=3600", head.get("CacheControl")
        assert head["ContentLength"] == len(body)
        s3.put_object(Bucket=private_bucket, Key="priv.txt", Body=body)
        return f"ContentType={head['ContentType']!r} CacheControl={head['CacheControl']!r}"

    check("s3 put object with ContentType/CacheControl/ACL, head shows them", put_and_head)

    # Anonymous reads. Swift's s3api (without s3_acl) maps a *bucket* canned
    # ACL to the container read ACL (.r:*,.rlistings); object ACLs are
    # accepted but ignored, and unsigned requests are not S3 requests at all,
    # so anonymous reads only work on the Swift URL of a public container.
    pub_url = f"{proxy}{account_path}/{bucket}/pub.txt"
    priv_url = f"{proxy}{account_path}/{private_bucket}/priv.txt"

    def anon_public():
        r = http.get(pub_url)
        assert r.status_code == 200 and r.content == body, r.status_code
        assert r.headers.get("cache-control") == "public, max-age=3600", r.headers
        return f"GET {account_path}/<bucket>/<key> -> 200, Cache-Control kept"

    check("anonymous GET, object in public-read bucket (Swift URL)", anon_public)

    def anon_private():
        r = http.get(priv_url)
        assert r.status_code in (401, 403), r.status_code
        return f"-> {r.status_code}"

    check("anonymous GET, object in private bucket denied (Swift URL)", anon_private)

    def anon_via_swift_acl():
        # The same can be done natively: container read ACL ".r:*".
        swift.post_container(private_bucket, {"X-Container-Read": ".r:*"})
        ok = http.get(priv_url).status_code
        listing = http.get(f"{proxy}{account_path}/{private_bucket}").status_code
        swift.post_container(private_bucket, {"X-Container-Read": ""})
        again = http.get(priv_url).status_code
        assert ok == 200 and again in (401, 403), (ok, again)
        return f".r:* -> GET 200, listing {listing} (needs .rlistings); ACL removed -> {again}"

    check("anonymous GET after Swift X-Container-Read .r:* (and revoked)", anon_via_swift_acl)

    def anon_put_bucket_acl():
        s3.put_bucket_acl(Bucket=private_bucket, ACL="public-read")
        ok = http.get(priv_url).status_code
        s3.put_bucket_acl(Bucket=private_bucket, ACL="private")
        again = http.get(priv_url).status_code
        assert ok == 200 and again in (401, 403), (ok, again)
        return f"public-read -> 200, private -> {again}"

    check("anonymous GET after s3 put_bucket_acl public-read (and private)", anon_put_bucket_acl)

    # Observed behaviour worth knowing (not a requirement):
    grants = s3.get_object_acl(Bucket=bucket, Key="pub.txt")["Grants"]
    info(
        "object ACL public-read is ignored by s3api (no per-object ACLs): "
        f"get_object_acl grants={[g['Permission'] for g in grants]}"
    )
    info(
        "anonymous GET on the S3 path-style URL /<bucket>/<key> -> "
        f"{http.get(f'{proxy}/{bucket}/pub.txt').status_code} "
        "(unsigned requests bypass s3api; Swift rejects the non-/v1 path)"
    )

    def presigned():
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": private_bucket, "Key": "priv.txt"}, ExpiresIn=300
        )
        assert "X-Amz-Signature=" in url, "not a SigV4 URL: " + url
        r = http.get(url)
        assert r.status_code == 200 and r.content == body, r.status_code
        sig = url.split("X-Amz-Signature=")[1][:64]
        bad_sig = ("0" if sig[0] != "0" else "1") + sig[1:]
        tampered = url.replace(sig, bad_sig)
        assert http.get(tampered).status_code == 403, "tampered signature accepted"
        other_key = url.replace("priv.txt", "pub.txt")
        assert http.get(other_key).status_code == 403, "signature valid for another key"
        expiring = s3.generate_presigned_url(
            "get_object", Params={"Bucket": private_bucket, "Key": "priv.txt"}, ExpiresIn=1
        )
        time.sleep(2.1)
        r = http.get(expiring)
        assert r.status_code == 403, f"expired URL -> {r.status_code}"
        return "200; tampered 403; expired 403"

    check("s3 presigned GET (SigV4) over plain HTTP, tampered/expired -> 403", presigned)

    def multipart():
        key = "multi.bin"
        part1 = os.urandom(5 * 1024 * 1024)  # s3api's minimum non-last part size
        part2 = os.urandom(123_456)
        mpu = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/x-test")
        uid = mpu["UploadId"]
        parts = []
        for n, data in enumerate((part1, part2), start=1):
            etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=data)[
                "ETag"
            ]
            parts.append({"PartNumber": n, "ETag": etag})
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": parts}
        )
        got = s3.get_object(Bucket=bucket, Key=key)
        data = got["Body"].read()
        assert data == part1 + part2, "content mismatch"
        assert got["ContentType"] == "application/x-test", got["ContentType"]
        return f"{len(data)} bytes, ETag {got['ETag']}"

    check("s3 multipart upload", multipart)

    def copy_replace():
        s3.copy_object(
            Bucket=bucket,
            Key="copy.txt",
            CopySource={"Bucket": bucket, "Key": "pub.txt"},
            MetadataDirective="REPLACE",
            ContentType="application/octet-stream",
            CacheControl="no-cache",
            Metadata={"variant": "thumb"},
        )
        head = s3.head_object(Bucket=bucket, Key="copy.txt")
        assert head["ContentType"] == "application/octet-stream", head["ContentType"]
        assert head.get("CacheControl") == "no-cache", head.get("CacheControl")
        assert head["Metadata"] == {"variant": "thumb"}, head["Metadata"]
        assert s3.get_object(Bucket=bucket, Key="copy.txt")["Body"].read() == body
        return "ContentType, CacheControl and Metadata replaced"

    check("s3 server-side copy with MetadataDirective=REPLACE", copy_replace)

    def delete_objects_without_hook():
        # Documents why the hook exists; a pass here just means boto3/Swift
        # changed.
        plain = make_s3()
        s3.put_object(Bucket=bucket, Key="nohook.txt", Body=b"x")
        try:
            plain.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "nohook.txt"}]})
            return "worked without the hook"
        except ClientError as exc:
            return f"fails without the hook: {exc.response['Error'].get('Message')}"

    info("delete_objects " + delete_objects_without_hook())

    def delete_objects():
        keys = ["pub.txt", "copy.txt", "multi.bin", "nohook.txt"]
        resp = s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": False}
        )
        assert not resp.get("Errors"), resp.get("Errors")
        assert sorted(d["Key"] for d in resp["Deleted"]) == sorted(keys), resp["Deleted"]
        left = s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
        assert left == 0, f"{left} objects left"
        return f"{len(keys)} deleted"

    check("s3 delete_objects with Content-MD5 hook", delete_objects)

    # --- native Swift ----------------------------------------------------
    def swift_put_get():
        swift.put_container(container)
        swift.put_object(container, "native.txt", body, content_type="text/plain")
        headers, data = swift.get_object(container, "native.txt")
        assert data == body and headers["content-type"] == "text/plain", headers
        return f"storage URL {storage_url}"

    check("swift put/get via swiftclient", swift_put_get)

    def tempurl():
        key = f"tempurl-{RUN}"
        swift.post_container(container, {"X-Container-Meta-Temp-URL-Key": key})
        path = f"{account_path}/{container}/native.txt"
        signed = generate_temp_url(path, 300, key, "GET")
        r = http.get(f"{proxy}{signed}&inline")
        assert r.status_code == 200 and r.content == body, r.status_code
        disposition = r.headers.get("content-disposition", "")
        assert "attachment" not in disposition, disposition
        sig = signed.split("temp_url_sig=")[1].split("&")[0]
        bad = signed.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
        status = http.get(f"{proxy}{bad}&inline").status_code
        assert status == 401, f"tampered TempURL -> {status}"
        return f"200 ({disposition or 'no Content-Disposition'}); tampered 401"

    check("swift TempURL (container key) fetch, tampered -> 401", tempurl)

    # --- PostgreSQL ------------------------------------------------------
    def postgres():
        dsn = DATABASE_URL.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            one = conn.execute("SELECT 1").fetchone()
            version = conn.execute("SHOW server_version").fetchone()
        assert one == (1,), one
        return f"server {version[0]}"

    check("postgresql connect + SELECT 1", postgres)

    # --- cleanup (best effort) ---------------------------------------------
    for b in (bucket, private_bucket):
        try:
            for obj in s3.list_objects_v2(Bucket=b).get("Contents", []):
                s3.delete_object(Bucket=b, Key=obj["Key"])
            s3.delete_bucket(Bucket=b)
        except Exception as exc:
            info(f"cleanup of bucket {b} failed: {exc}")
    try:
        for obj in swift.get_container(container)[1]:
            swift.delete_object(container, obj["name"])
        swift.delete_container(container)
    except Exception as exc:
        info(f"cleanup of container {container} failed: {exc}")

    print(
        f"summary: {passes} checks ok, {len(failures)} failing"
        + (f": {failures}" if failures else "")
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
