"""The imagehost CLI in subprocesses: run, start in the background, kill by PID, wait."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tests.kit.environ import clean_environ

__all__ = ["clean_environ"]
CLI_TIMEOUT = 120


def imagehost_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "imagehost.cli", *args]


command = imagehost_command


def run_cli(args: Iterable[str], environ: dict[str, str], cwd: Path,
            timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), env=environ, cwd=cwd, text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """For assertion messages: exit status and the ends of both outputs."""
    return (f"exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}\n"
            f"--- stderr\n{result.stderr[-3000:]}")


def start_cli(args: Iterable[str], environ: dict[str, str], cwd: Path,
              log: Path) -> subprocess.Popen[bytes]:
    """The CLI in the background, both outputs into `log`, in a session of its own."""
    with log.open("ab") as out:
        return subprocess.Popen(command(*args), env=environ, cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def kill(process: subprocess.Popen[Any] | None, sig: int = signal.SIGKILL,
         timeout: float = 20) -> None:
    """Signal one process we started (by its PID) and reap it; a no-op once it has exited."""
    if process is None or process.poll() is not None:
        return
    try:
        process.send_signal(sig)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass




def wait_for(condition: Callable[[], Any], timeout: float, what: str,
             interval: float = 0.1) -> Any:
    """Poll until `condition()` is truthy (and return it); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
