"""Interrupted jobs: a local `imagehost migrate` killed with SIGKILL mid-job and resumed with
`imagehost jobs resume`, and a Celery worker killed with SIGKILL mid-job while two
`imagehost worker` processes share the PostgreSQL catalog, the stores and a Redis broker.

Either way, the active store and the catalog must end up as a clean run leaves them (same
keys, same original bytes, same variant sizes), no item done before the kill is done again,
and `jobs show` counts every item once.

The v5 source is a slow HTTP server (V5_BASE_URL), so that a run of 60 small images lasts
long enough to be killed in the middle; it logs every GET, which tells what was fetched after
the kill."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.jobs import (
    FileServer,
    V5Set,
    build_v5_set,
    catalog_images,
    describe,
    describe_images,
    fill_v5_database,
    item_counts,
    job_items,
    job_started,
    kill,
    local_environ,
    local_files,
    run_cli,
    show_job,
    start_cli,
    summary_of,
    wait_for,
    write_tree,
)
from tests.kit.servers import FreshPostgresDatabase

ITEMS = 60
KILL_AFTER = 12
"""Finished items before the SIGKILL (of 60)."""
STALL = 15.0
"""Seconds without any item finishing after which a distributed job counts as stuck (a
killed worker's batches must be back in work within that time)."""


@pytest.fixture(scope="module")
def v5(v5_database: str) -> V5Set:
    """56 good JPEGs, 2 missing, 2 corrupt: 60 items, 4 of them failing."""
    data = build_v5_set(56, missing=2, corrupt=2, second=1_450_000_000)
    fill_v5_database(v5_database, data.rows)
    assert len(data.listed) == ITEMS
    return data


@pytest.fixture(scope="module")
def source(v5: V5Set, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("v5-source")
    write_tree(root, v5.source)
    return root


@dataclass(frozen=True)
class Outcome:
    """What a run leaves: every active object described, and the catalog rows."""

    objects: dict[str, tuple[str, int, int, int]]
    catalog: dict[str, tuple[Any, ...]]


def outcome(root: Path, catalog_url: str) -> Outcome:
    rows = {key: (row["status"], row["format"], row["width"], row["height"], row["bytes"],
                  row["sha256"]) for key, row in catalog_images(catalog_url).items()}
    return Outcome(describe_images(local_files(root / "active")), rows)


def assert_same(run: Outcome, clean: Outcome, v5: V5Set) -> None:
    assert set(run.objects) == set(clean.objects), (
        f"missing: {sorted(set(clean.objects) - set(run.objects))}, "
        f"extra: {sorted(set(run.objects) - set(clean.objects))}")
    for key, (digest, width, height, size) in clean.objects.items():
        if key in v5.good:
            assert run.objects[key][0] == digest, f"{key}: original bytes differ"
        else:
            assert run.objects[key][1:] == (width, height, size), f"{key}: variant differs"
    assert run.catalog == clean.catalog


@pytest.fixture(scope="module")
def clean(v5: V5Set, v5_database: str, source: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """An uninterrupted local run from a fast source."""
    root = tmp_path_factory.mktemp("clean-run")
    catalog = f"sqlite:///{root / 'catalog.db'}"
    with FileServer(source, root / "requests.log") as server:
        environ = local_environ(root, catalog, V5_DATABASE_URL=v5_database,
                                V5_BASE_URL=server.url)
        result = run_cli(["migrate", "-j", "2"], environ, root)
    assert result.returncode == 1, describe(result)
    counts = summary_of(result)
    assert (counts.items, counts.done, counts.failed, counts.pending) == (ITEMS, 56, 4, 0)
    made = outcome(root, catalog)
    assert set(made.objects) == v5.expected_active()
    return made


def finished_items(catalog: str, job: int) -> dict[str, tuple[str, int]]:
    """key -> (state, attempts) of the items no longer pending."""
    return {key: (state, attempts) for _, key, state, attempts, _ in job_items(catalog, job)
            if state != "pending"}


def finished_count(catalog: str, job: int | None) -> int:
    counts = item_counts(catalog, job)
    return sum(n for state, n in counts.items() if state != "pending")


def test_local_run_killed_mid_job_resumes_without_redoing_done_items(
        v5: V5Set, v5_database: str, source: Path, clean: Outcome, postgres_url: str,
        tmp_path: Path) -> None:
    log = tmp_path / "migrate.log"
    process: subprocess.Popen[bytes] | None = None
    with FileServer(source, tmp_path / "requests.log", delay=0.08) as server:
        environ = local_environ(tmp_path, postgres_url, V5_DATABASE_URL=v5_database,
                                V5_BASE_URL=server.url)
        try:
            process = start_cli(["migrate", "-j", "1", "-p", "10"], environ, tmp_path, log)
            job = wait_for(lambda: job_started(log, "migrate") or process.poll() is not None,
                           60, "the job to start")
            assert process.poll() is None, log.read_text()
            wait_for(lambda: finished_count(postgres_url, job) >= KILL_AFTER
                     or process.poll() is not None, 60, f"{KILL_AFTER} finished items")
            kill(process, signal.SIGKILL)
            assert process.returncode == -signal.SIGKILL, "the run ended before the kill"
        finally:
            kill(process)
        before = finished_items(postgres_url, job)
        fetched = server.requests()
        fetched_before = len(fetched)
        in_flight = set(fetched) - set(before)  # fetched, not recorded: the item being done
        assert KILL_AFTER <= len(before) < ITEMS - 10, "killed mid-job"
        assert re.search(rf"migrate #{job}: 10 / 60 \(16\.7%\), \d+ failed, [\d.]+ items/s",
                         log.read_text()), f"no progress line every 10 items:\n{log.read_text()}"
        shown = show_job(job, environ, tmp_path)
        assert shown["pending"] == ITEMS - len(before) and shown["listed"] is True, shown

        resumed = run_cli(["jobs", "resume", str(job), "-j", "2"], environ, tmp_path)

        fetched_after = server.requests()[fetched_before:]
    assert resumed.returncode == 1, describe(resumed)  # the 4 failing items
    counts = summary_of(resumed)
    assert (counts.job, counts.items, counts.done + counts.skipped, counts.failed,
            counts.pending) == (job, ITEMS, 56, 4, 0), describe(resumed)
    after = finished_items(postgres_url, job)
    assert {key: after[key] for key in before} == before, "items done before the kill changed"
    assert all(attempts == 1 for _, attempts in after.values()), \
        f"processed twice: {sorted(k for k, (_, a) in after.items() if a != 1)}"
    # the item in flight may have stored everything before the kill: resume then skips it
    skipped = {key for key, (state, _) in after.items() if state == "skipped"}
    assert len(in_flight) <= 1 and skipped <= in_flight, (in_flight, skipped)
    again = set(fetched_after) & set(before)
    assert not again, f"resume fetched items already done: {sorted(again)}"
    # ... or, if the kill came between the store and the catalog, records it without a fetch
    not_fetched_again = set(v5.listed) - set(fetched_after) - set(before)
    assert not_fetched_again <= in_flight, (not_fetched_again, in_flight)
    assert_same(outcome(tmp_path, postgres_url), clean, v5)
    shown = show_job(job, environ, tmp_path)
    assert (shown["state"], shown["done"] + shown["skipped"], shown["failed"],
            shown["pending"]) == ("failed", 56, 4, 0), shown
    assert {f["key"] for f in shown["failures"]} == set(v5.failing)


# --- Celery ---------------------------------------------------------------------------------


@dataclass
class Scenario:
    """What happened when a worker was killed mid-job (run once per module)."""

    job: int = 0
    killed_with: set[str] = field(default_factory=set)
    """Keys still pending when the worker died."""
    before: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Items finished when the worker died."""
    finished_alone: bool = False
    coordinator: str = ""
    stalled_at: dict[str, int] = field(default_factory=dict)
    resumed: subprocess.CompletedProcess[str] | None = None
    items: list[tuple[int, str, str, int, str | None]] = field(default_factory=list)
    shown: dict[str, Any] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)
    result: Outcome | None = None


def start_worker(name: str, broker: str, environ: dict[str, str],
                 root: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log = root / f"worker-{name}.log"
    process = start_cli(["worker", "--broker", broker, "-j", "2"], environ, root, log)
    return process, log


def wait_ready(process: subprocess.Popen[bytes], log: Path) -> None:
    wait_for(lambda: process.poll() is not None or " ready." in log.read_text(errors="replace"),
             60, f"{log.name} to be ready")
    assert process.poll() is None, log.read_text()


def busy(log: Path) -> bool:
    """The worker has received a batch it has not finished."""
    text = log.read_text(errors="replace")
    return text.count("] received") > text.count("] succeeded in")


def logs(root: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2500:]}"
                     for p in sorted(root.glob("*.log")) if p.name != "requests.log")


@pytest.fixture(scope="module")
def celery_scenario(v5: V5Set, v5_database: str, source: Path, redis_url: str,
                    postgres_server_url: str,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """Workers A and B (2 threads each) and a coordinator (`migrate --broker`); after 12
    finished items, a worker in the middle of a batch (A, else B) is SIGKILLed and worker C
    starts. If the job then makes no progress for STALL s, the coordinator is interrupted
    (SIGINT) and `jobs resume --broker` finishes the job on the live workers."""
    root = tmp_path_factory.mktemp("celery")
    found = Scenario()
    processes: list[subprocess.Popen[Any]] = []
    with FreshPostgresDatabase(postgres_server_url) as catalog, \
            FileServer(source, root / "requests.log", delay=0.1) as server:
        environ = local_environ(root, catalog, V5_DATABASE_URL=v5_database,
                                V5_BASE_URL=server.url)
        try:
            worker_a, log_a = start_worker("a", redis_url, environ, root)
            processes.append(worker_a)
            worker_b, log_b = start_worker("b", redis_url, environ, root)
            processes.append(worker_b)
            wait_ready(worker_a, log_a)
            wait_ready(worker_b, log_b)
            coordinator = start_cli(["migrate", "--broker", redis_url, "-p", "10"], environ,
                                    root, root / "coordinator.log")
            processes.append(coordinator)
            job = wait_for(lambda: job_started(root / "coordinator.log", "migrate")
                           or coordinator.poll() is not None, 60, "the job to start")
            assert coordinator.poll() is None, logs(root)
            found.job = job
            wait_for(lambda: finished_count(catalog, job) >= KILL_AFTER
                     or coordinator.poll() is not None, 90, f"{KILL_AFTER} finished items")
            victim = next((w for w, log in ((worker_a, log_a), (worker_b, log_b))
                           if busy(log)), None)
            assert victim is not None, f"no worker is in the middle of a batch\n{logs(root)}"
            kill(victim, signal.SIGKILL)
            found.before = finished_items(catalog, job)
            found.killed_with = set(v5.listed) - set(found.before)
            fetched_at_kill = len(server.requests())
            assert KILL_AFTER <= len(found.before) < ITEMS - 10, "killed mid-job"

            worker_c, log_c = start_worker("c", redis_url, environ, root)
            processes.append(worker_c)
            wait_ready(worker_c, log_c)
            last, last_change = -1, time.monotonic()
            deadline = time.monotonic() + 120
            while coordinator.poll() is None and time.monotonic() < deadline:
                now = finished_count(catalog, job)
                if now != last:
                    last, last_change = now, time.monotonic()
                elif time.monotonic() - last_change > STALL:
                    break
                time.sleep(0.3)
            found.finished_alone = coordinator.poll() is not None
            found.coordinator = (root / "coordinator.log").read_text(errors="replace")[-3000:]
            if not found.finished_alone:
                found.stalled_at = item_counts(catalog, job)
                kill(coordinator, signal.SIGINT)  # marks the job interrupted
                found.resumed = run_cli(["jobs", "resume", str(job), "--broker", redis_url],
                                        environ, root, timeout=150)
            found.items = job_items(catalog, job)
            found.shown = show_job(job, environ, root)
            found.fetched = server.requests()[fetched_at_kill:]
            found.result = outcome(root, catalog)
            yield found
        finally:
            for process in processes:
                kill(process)
            print(logs(root))


def test_celery_worker_killed_mid_job_loses_nothing_and_repeats_nothing(
        celery_scenario: Scenario, clean: Outcome, v5: V5Set) -> None:
    found = celery_scenario
    if found.resumed is not None:
        assert found.resumed.returncode == 1, describe(found.resumed)  # the 4 failures
    states = {key: state for _, key, state, _, _ in found.items}
    assert len(found.items) == ITEMS and set(states) == set(v5.listed)
    assert {k for k, s in states.items() if s == "failed"} == set(v5.failing)
    assert {k for k, s in states.items() if s in ("done", "skipped")} == set(v5.good)
    # items the killed worker had stored but not recorded are skipped when run again
    skipped = {k for k, s in states.items() if s == "skipped"}
    assert len(skipped) <= 2 and skipped <= found.killed_with, skipped
    assert {key: (state, attempts) for _, key, state, attempts, _ in found.items
            if key in found.before} == found.before, "items done before the kill changed"
    twice = sorted(key for _, key, _, attempts, _ in found.items if attempts != 1)
    assert not twice, f"items processed more than once: {twice}"
    refetched = set(found.fetched) - found.killed_with
    assert not refetched, f"items done before the kill were fetched again: {sorted(refetched)}"
    assert (found.shown["state"], found.shown["items"],
            found.shown["done"] + found.shown["skipped"], found.shown["failed"],
            found.shown["pending"]) == ("failed", ITEMS, 56, 4, 0), found.shown
    assert found.result is not None
    assert_same(found.result, clean, v5)


def test_celery_coordinator_finishes_by_itself_after_a_worker_is_killed(
        celery_scenario: Scenario) -> None:
    """Late acknowledgement is the promise: the batches the killed worker held go back to
    the queue and a live worker finishes them, without anyone running `jobs resume`."""
    found = celery_scenario
    assert found.finished_alone, (
        f"after a worker was SIGKILLed, the coordinator made no progress for {STALL:.0f} s "
        f"with items {found.stalled_at} (the killed worker's batches were never redelivered); "
        f"coordinator log:\n{found.coordinator}")
    assert re.search(rf"^job {found.job}: migrate: items 60, done \d+, skipped \d+, "
                     r"failed 4, pending 0$", found.coordinator, re.MULTILINE), found.coordinator


def test_celery_coordinator_logs_progress_while_workers_run(celery_scenario: Scenario) -> None:
    """Off a terminal, a job logs a progress line every -p items, distributed or not."""
    found = celery_scenario
    partial = [int(n) for n in re.findall(rf"migrate #{found.job}: (\d+) / 60 ",
                                          found.coordinator)]
    assert any(0 < n < ITEMS for n in partial), (
        f"the coordinator (-p 10) logged no progress line while the workers ran; its log:\n"
        f"{found.coordinator}")
