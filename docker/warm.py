"""Write the bytecode of what imagehost runs, and only that (the image's build runs it after
`pip install --no-compile`): every imagehost module, the CLI's help, and a server started
until it answers /ping, so that uvicorn's and the app's start-up imports are compiled too.
Compiling all of site-packages instead would add some 30 MB of bytecode that never runs;
what is not compiled here is compiled in memory if it is ever imported."""

import importlib
import os
import pkgutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import imagehost


def import_everything() -> None:
    for module in pkgutil.walk_packages(imagehost.__path__, "imagehost."):
        if module.name.startswith("imagehost.catalog.migrations"):
            continue  # alembic's scripts, run (and compiled) by alembic itself
        try:
            importlib.import_module(module.name)
        except ImportError as exc:  # an extra that is not in this image
            print(f"warm: skipped {module.name}: {exc}", file=sys.stderr)


def serve_once(imagehost_bin: str) -> None:
    with tempfile.TemporaryDirectory() as root, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        environ = {**os.environ, "DATABASE_URL": f"sqlite:///{root}/catalog.db",
                   **{name: f"{root}/{name.lower()}" for name in (
                       "TEMP_FOLDER", "INCOMING_FOLDER", "ACTIVE_FOLDER", "CACHE_FOLDER",
                       "DISK_CACHE_FOLDER")}}
        server = subprocess.Popen([imagehost_bin, "serve", "--port", str(port)], env=environ,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                        return
                except OSError:
                    time.sleep(0.2)
            sys.exit(f"warm: imagehost serve did not answer (exit {server.poll()})")
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    bin_dir = os.path.dirname(sys.executable)
    import_everything()
    subprocess.run([os.path.join(bin_dir, "imagehost"), "--help"], check=True,
                   stdout=subprocess.DEVNULL)
    serve_once(os.path.join(bin_dir, "imagehost"))


if __name__ == "__main__":
    main()
