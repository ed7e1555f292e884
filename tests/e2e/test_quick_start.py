"""The README's quick start works as pasted: its shell lines run against a real server (on a
free port instead of 8080, with this interpreter instead of .venv/bin/python)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pyvips

from tests.kit.serve import Launch, server_environ, serving

README = Path(__file__).resolve().parents[2] / "README.md"


def quick_start_commands() -> str:
    section = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert any("make run" in block for block in blocks)
    pasted = [block for block in blocks if "curl" in block]
    assert len(pasted) == 1, blocks
    return pasted[0]


def test_the_quick_start_works_as_pasted(tmp_path: Path) -> None:
    commands = quick_start_commands()
    secret = re.search(r"API_SECRET_KEY=(\S+) make run", README.read_text())
    assert secret is not None
    root = tmp_path / "server"
    with serving(Launch(root, server_environ(root, API_SECRET_KEY=secret[1]))) as [served]:
        script = (commands.replace("http://127.0.0.1:8080", served.url)
                  .replace(".venv/bin/python", sys.executable))
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                                capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert '{"success":true}' in result.stdout
    thumbnail = pyvips.Image.new_from_file(str(tmp_path / "thumbnail.jpg"))
    assert (thumbnail.width, thumbnail.height) == (200, 200)
    assert thumbnail.get("vips-loader") == "jpegload"
