"""Rate limits behind a proxy, over real HTTP against `imagehost serve`: the client address is the
one a trusted proxy (FORWARDED_ALLOW_IPS, loopback by default) forwards in X-Forwarded-For,
and the connecting address otherwise. The second server takes the setting from its YAML file,
so only imagehost passing it to uvicorn can make the difference."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests import imagegen
from tests.kit.serve import Launch, server_environ, serving

JPEG = imagegen.photo_jpeg(40, 30)


def upload(url: str, forwarded_for: str) -> int:
    return httpx.post(f"{url}/upload", files={"file": ("a.jpg", JPEG, "image/jpeg")},
                      headers={"X-Forwarded-For": forwarded_for}, timeout=30).status_code


def test_a_trusted_proxys_forwarded_address_is_the_client(tmp_path: Path) -> None:
    trusting = tmp_path / "trusting"
    distrusting = tmp_path / "distrusting"
    distrusting.mkdir()
    config = distrusting / "imagehost.yaml"
    config.write_text("forwarded_allow_ips: [10.1.2.3]\n")
    launches = (Launch(trusting, server_environ(trusting, RATE_LIMIT_UPLOADS="1/h")),
                Launch(distrusting, server_environ(distrusting, RATE_LIMIT_UPLOADS="1/h"),
                       args=("--config", str(config))))

    with serving(*launches) as [behind_proxy, direct]:
        assert upload(behind_proxy.url, "203.0.113.1") == 200
        assert upload(behind_proxy.url, "203.0.113.1") == 429
        assert upload(behind_proxy.url, "203.0.113.2") == 200     # another client

        assert upload(direct.url, "203.0.113.1") == 200
        assert upload(direct.url, "203.0.113.2") == 429           # the header is not trusted
