"""Record list and filter latency at 1 000 000 records on SQLite and PostgreSQL, before and
after the listing index, the per-status counts and the indexes of INDEXED_KEYS.

A fresh database per backend (SQLite: a file in a temporary directory; PostgreSQL: a dedicated
database `bench_records` created on the server of DATABASE_URL and dropped afterwards) is
migrated with the service's own migrations and filled with generated records straight into
the table (SQLite: executemany of the columns' own bind values; PostgreSQL: COPY), not through
uploads. Every query then goes through the service's code path,
`RecordCatalog.page(parse_query(pairs))` with the statuses a reader of `GET /images` sees
(incoming and active), once as a warm-up and `--repeat` times timed; the table gives the
median and p95 in milliseconds and the result counts, and the results are compared across
variants.

Variants, on each backend:
  * before: no index on (status, created_at, id) (dropped after migrating), every total
    counted (the bench-only `CountingCatalog`, as the catalog did before `image_counts`), no
    index on data keys (PostgreSQL keeps its GIN index on data);
  * after: the schema as migrated, then `imagehost index --apply`'s code path
    (`DataIndexes.create`) for INDEXED_KEYS = site, temp, plot.zone (SQLite: expression
    indexes; PostgreSQL: the keys' trigger-kept columns, filled, and their indexes), which
    also runs ANALYZE (PostgreSQL: VACUUM ANALYZE).

Run: `.venv/bin/python bench/records.py --help` (PostgreSQL: DATABASE_URL must name a server,
e.g. `set -a && . /tmp/services.env && set +a`; without it PostgreSQL is skipped).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from imagehost.catalog.data_indexes import DataIndexes
from imagehost.catalog.database import create_catalog_engine, migrate
from imagehost.catalog.filters import RecordFilter, encode_cursor, parse_query
from imagehost.catalog.models import ImageRecord
from imagehost.catalog.records import RecordCatalog

RECORDS = 1_000_000
REPEAT = 20
REPEAT_BEFORE = 5
SEED = 2024
BATCH = 20_000
LIMIT = 100
TARGET_MS = 50.0
PG_DATABASE = "bench_records"
BACKENDS = ("sqlite", "postgresql", "all")
INDEXED_KEYS = ("site", "temp", "plot.zone")
LISTING_INDEX = "ix_images_status_created_at"
LIVE = ("status", "incoming,active")
"""What GET /images adds for a reader who names no status."""

SITES = tuple(f"site-{n}" for n in range(1, 201))
CAMERAS = tuple(f"cam{k}" for k in range(1, 9))
ZONES = tuple(f"z{k}" for k in range(10))
TAGS = ("snow", "rock", "ice", "forest", "meadow", "lake", "ridge", "fog", "sun", "night")
SIZES = ((6000, 4000), (4000, 6000), (4000, 3000), (3000, 4000))
START = datetime(2024, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)

EQUALITY = "data.site=site-17"
RANGE = "data.temp__gt=39"
TARGETS = (EQUALITY, RANGE, "data.site__gt=site-98")
"""The first pages the 50 ms target is about: equality and ranges on indexed keys."""

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Outcome:
    """What a query returned: the total, the rows on the page, and the page itself (ids, or
    keys / values) to compare variants."""

    total: int
    rows: int
    fingerprint: tuple[Any, ...]


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p95_ms: float
    outcome: Outcome
    count_ms: float | None = None
    """Median time of page()'s `SELECT count(*)` statement (part of median_ms); None when
    the total was read from image_counts."""


@dataclass
class Variant:
    name: str
    timings: dict[str, Timing] = field(default_factory=dict)


@dataclass(frozen=True)
class Query:
    name: str
    run: Callable[[RecordCatalog], Outcome]


# --- data ------------------------------------------------------------------------------------


def generate_records(count: int, seed: int) -> Iterator[dict[str, Any]]:
    """Deterministic records: 200 sites x 8 cameras, uploads spread over 2024 in id order."""
    rng = random.Random(seed)
    step = YEAR / count
    for i in range(1, count + 1):
        site, camera = rng.choice(SITES), rng.choice(CAMERAS)
        created = START + step * i + timedelta(seconds=rng.randrange(60))
        roll = rng.random()
        status = "active" if roll < 0.94 else "incoming" if roll < 0.97 else "deleted"
        width, height = rng.choice(SIZES)
        yield {
            "key": f"plots/{site}/{camera}/{i}.jpg",
            "status": status,
            "format": "jpeg",
            "width": width,
            "height": height,
            "bytes": rng.randrange(1_000_000, 9_000_000),
            "sha256": f"{rng.getrandbits(256):064x}",
            "variants": ["BI", "MI", "SI"] if status == "active" else [],
            "data": {
                "site": site,
                "camera": camera,
                "temp": round(rng.uniform(-10, 40), 1),
                "count": rng.randrange(500),
                "ok": rng.random() < 0.85,
                "tags": rng.sample(TAGS, rng.randrange(4)),
                "plot": {"id": rng.randrange(1, 5000), "zone": rng.choice(ZONES)},
            },
            "created_at": created,
            "published_at": created + timedelta(hours=1)
            if status == "active" and rng.random() < 0.6 else None,
            "deleted_at": created + timedelta(days=1) if status == "deleted" else None,
        }


COLUMNS = ("key", "status", "format", "width", "height", "bytes", "sha256", "variants", "data",
           "created_at", "published_at", "deleted_at")


def load(engine: Engine, count: int, seed: int) -> float:
    """Insert the records straight into the table; returns seconds. SQLite: executemany in
    batches, each value through its column's bind processing (the stored form the service
    writes); PostgreSQL: one COPY."""
    started = time.perf_counter()
    records = generate_records(count, seed)
    names = ", ".join(COLUMNS)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cursor.copy(f"COPY images ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for record in records:
                    copy.write_row([json.dumps(record[c], ensure_ascii=False)
                                    if c in ("variants", "data") else record[c]
                                    for c in COLUMNS])
        else:
            table = ImageRecord.__table__
            bind = {c: table.c[c].type.bind_processor(engine.dialect) for c in COLUMNS}
            statement = f"INSERT INTO images ({names}) VALUES ({', '.join('?' * len(COLUMNS))})"
            batch: list[tuple[Any, ...]] = []
            for record in records:
                batch.append(tuple(bind[c](record[c]) if bind[c] else record[c]
                                   for c in COLUMNS))
                if len(batch) == BATCH:
                    cursor.executemany(statement, batch)
                    batch = []
            if batch:
                cursor.executemany(statement, batch)
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


# --- queries ---------------------------------------------------------------------------------


def page_query(name: str, pairs: Pairs) -> Query:
    def run(catalog: RecordCatalog) -> Outcome:
        page = catalog.page(parse_query((*pairs, LIVE, ("limit", str(LIMIT)))))
        return Outcome(page.total, len(page.records), tuple(r.id for r in page.records))

    return Query(name, run)


def pairs_of(name: str) -> Pairs:
    return tuple((k, v) for k, _, v in (part.partition("=") for part in name.split("&")))


def keys_query(catalog: RecordCatalog) -> Outcome:
    keys = catalog.data_keys(RecordFilter())
    return Outcome(len(keys), len(keys), tuple(keys))


def values_query(catalog: RecordCatalog) -> Outcome:
    values = catalog.data_values(("site",), RecordFilter())
    return Outcome(len(values), len(values), tuple(values))


@dataclass(frozen=True)
class Cursors:
    middle: str
    """The next_cursor after half the live records in the default order."""
    second: str | None
    """The next_cursor after the first page of EQUALITY (None: a single page)."""


def find_cursors(engine: Engine, catalog: RecordCatalog, records: int) -> Cursors:
    """The cursor page() returns after half the live records, read off the table directly
    (the check that its page equals the skip page proves it), and the cursor after the first
    page of EQUALITY."""
    with Session(engine) as session:
        created, record_id = session.execute(
            select(ImageRecord.created_at, ImageRecord.id)
            .where(ImageRecord.status.in_(LIVE[1].split(",")))
            .order_by(ImageRecord.created_at, ImageRecord.id)
            .offset(records // 2 - 1).limit(1)).one()
    middle = encode_cursor([created.isoformat(), record_id])
    first = catalog.page(parse_query((*pairs_of(EQUALITY), LIVE, ("limit", str(LIMIT)))))
    return Cursors(middle, encode_cursor(first.next_cursor) if first.next_cursor else None)


def queries(records: int, cursors: Cursors, extended: bool) -> tuple[list[Query], list[Query]]:
    """The selective queries (each reads a few thousand records at most), then the broad
    ones (each reads a large part of the table, which evicts the rest from a small cache):
    the two groups are timed apart."""
    middle = records // 2
    selective = [
        page_query("list (first page)", ()),
        page_query(f"list, cursor page after {middle}", (("cursor", cursors.middle),)),
        page_query("gallery: sort=-id", (("sort", "-id"),)),
        page_query("sort=-time", (("sort", "-time"),)),
        page_query(EQUALITY, pairs_of(EQUALITY)),
    ]
    if cursors.second:
        selective.append(page_query(f"{EQUALITY}, cursor page 2",
                                    (*pairs_of(EQUALITY), ("cursor", cursors.second))))
    selective += [page_query(name, pairs_of(name)) for name in (
        RANGE, "data.site__gt=site-98", "data.site__in=site-1,site-2")]
    broad = [page_query(f"list, skip={middle}", (("skip", str(middle)),))]
    names = ["data.temp__gt=35", "data.plot.zone=z3", "data.camera=cam3"]
    if extended:
        names += ["file=plots/site-3/", r"regex=cam7/1[0-9]{3}\.jpg$", "sort=-data.temp"]
    broad += [page_query(name, pairs_of(name)) for name in names]
    if extended:
        broad += [Query("data_keys()", keys_query), Query("data_values(site)", values_query)]
    return selective, broad


class CountingCatalog(RecordCatalog):
    """Bench-only: the catalog as it was before image_counts, counting every total."""

    def _total(self, session: Session, record_filter: RecordFilter,
               clauses: list[ColumnElement[bool]]) -> int:
        return session.scalar(select(func.count()).select_from(ImageRecord)
                              .where(*clauses)) or 0


class CountTimer:
    """Times page()'s `SELECT count(*)` statement, from the cursor's execute to its end (both
    drivers compute the aggregate in execute)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.started: float | None = None
        self.last_ms: float | None = None

    def __enter__(self) -> CountTimer:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("SELECT count(*)"):
            self.started = time.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("SELECT count(*)") and self.started is not None:
            self.last_ms = (time.perf_counter() - self.started) * 1e3
            self.started = None


def measure(listed: Sequence[Query], catalog: RecordCatalog, repeat: int) -> dict[str, Timing]:
    """One warm-up call of each query, then `repeat` rounds of one timed call of each, so that
    changing load on the machine spreads over the queries alike."""
    outcomes = {query.name: query.run(catalog) for query in listed}
    samples: dict[str, list[float]] = {query.name: [] for query in listed}
    counts: dict[str, list[float]] = {query.name: [] for query in listed}
    with CountTimer(catalog.engine) as timer:
        for _ in range(repeat):
            for query in listed:
                timer.last_ms = None
                started = time.perf_counter()
                query.run(catalog)
                samples[query.name].append((time.perf_counter() - started) * 1e3)
                if timer.last_ms is not None:
                    counts[query.name].append(timer.last_ms)
    return {name: Timing(statistics.median(samples[name]), percentile95(samples[name]),
                         outcomes[name], statistics.median(counts[name])
                         if len(counts[name]) == repeat else None)
            for name in outcomes}


def percentile95(samples: Sequence[float]) -> float:
    """Linear interpolation between the sorted samples (with few samples, close to the max)."""
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


# --- plans -----------------------------------------------------------------------------------


def statements_of(engine: Engine, work: Callable[[], object]) -> list[tuple[str, Any]]:
    """The SQL statements (with their DBAPI parameters) that `work` sends about images."""
    seen: list[tuple[str, Any]] = []

    def listener(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                 _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        work()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return [(s, p) for s, p in seen if "images" in s]


def explain(engine: Engine, statement: str, parameters: Any) -> list[str]:
    """EXPLAIN QUERY PLAN (SQLite) or EXPLAIN ANALYZE (PostgreSQL) of one statement."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                              parameters).all()
            depth: dict[int, int] = {0: -1}
            lines = []
            for node, parent, _, detail in rows:
                depth[node] = depth.get(parent, -1) + 1
                lines.append("  " * depth[node] + str(detail))
            return lines
        return [str(line) for line in connection.exec_driver_sql(
            "EXPLAIN (ANALYZE) " + statement, parameters).scalars()]


def describe_plans(title: str, engine: Engine, catalog: RecordCatalog, query: Query) -> str:
    """The plan of every statement `query` sends (for page(): the total, then the page)."""
    parts = [title]
    for number, (statement, parameters) in enumerate(
            statements_of(engine, lambda: query.run(catalog)), 1):
        parts.append(f"  statement {number}:")
        parts += [f"    {line}" for line in explain(engine, statement, parameters)]
    return "\n".join(parts)


# --- backends --------------------------------------------------------------------------------


def prepare(engine: Engine, args: argparse.Namespace) -> str:
    """Migrate and load; returns a log line."""
    migrate(engine)
    seconds = load(engine, args.records, args.seed)
    line = f"loaded {args.records} records in {seconds:.1f} s ({args.records / seconds:,.0f}/s)"
    if engine.dialect.name == "postgresql":
        started = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE images")
        line += f", VACUUM ANALYZE {time.perf_counter() - started:.1f} s"
    return line


def run_variants(engine: Engine, label: str, args: argparse.Namespace,
                 report: Report) -> None:
    """Before, then after, on one loaded database."""
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP INDEX {LISTING_INDEX}")
    before_catalog = CountingCatalog(engine)
    cursors = find_cursors(engine, before_catalog, args.records)
    groups = queries(args.records, cursors, args.extended)
    by_name = {q.name: q for group in groups for q in group}
    before = Variant(f"{label}, before")
    print(f"  [{before.name}] {len(by_name)} queries x (1 + {args.repeat_before}) ...",
          flush=True)
    for group in groups:
        before.timings.update(measure(group, before_catalog, args.repeat_before))
    report.variants.append(before)
    for name in (EQUALITY, RANGE):
        report.plans.append(describe_plans(f"{before.name}, {name}:", engine, before_catalog,
                                           by_name[name]))

    started = time.perf_counter()
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE INDEX {LISTING_INDEX} ON images (status, created_at, id)")
    built = DataIndexes(engine).create(INDEXED_KEYS, lambda _: None)
    report.setup.append(
        f"{label}: the listing index and {len(built)} indexes for "
        f"{', '.join(INDEXED_KEYS)} (with ANALYZE) built in {time.perf_counter() - started:.1f} s")
    catalog = RecordCatalog(engine)
    after = Variant(f"{label}, after")
    print(f"  [{after.name}] {len(by_name)} queries x (1 + {args.repeat}) ...", flush=True)
    for group in groups:
        after.timings.update(measure(group, catalog, args.repeat))
    report.variants.append(after)
    alone = Variant(f"{label}, after, each alone")
    for name in ("list (first page)", *TARGETS):
        alone.timings.update(measure([by_name[name]], catalog, args.repeat))
    report.alone.append(alone)
    for name in (EQUALITY, RANGE):
        report.plans.append(describe_plans(f"{after.name}, {name}:", engine, catalog,
                                           by_name[name]))


def run_sqlite(args: argparse.Namespace, report: Report) -> None:
    with tempfile.TemporaryDirectory(prefix="imagehost-bench-records-") as tmp:
        engine = create_catalog_engine(f"sqlite:///{Path(tmp) / 'records.db'}")
        try:
            print("[sqlite] migrate + load ...", flush=True)
            line = prepare(engine, args)
            report.setup.append(f"sqlite {sqlite3.sqlite_version}: {line}")
            run_variants(engine, "sqlite", args, report)
        finally:
            engine.dispose()


def run_postgresql(args: argparse.Namespace, report: Report) -> None:
    url = os.environ.get("DATABASE_URL")
    if not url:
        report.skipped.append("postgresql: skipped, DATABASE_URL is not set")
        return
    if make_url(url).get_backend_name() != "postgresql":
        report.skipped.append(f"postgresql: skipped, DATABASE_URL is not PostgreSQL "
                              f"({make_url(url).drivername})")
        return
    server_url = make_url(url).set(drivername="postgresql+psycopg")
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    bench_url = server_url.set(database=PG_DATABASE).render_as_string(hide_password=False)
    try:
        with admin.connect() as connection:
            version = connection.scalar(text("SHOW server_version"))
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            connection.exec_driver_sql(f"CREATE DATABASE {PG_DATABASE}")
        engine = create_catalog_engine(bench_url)
        try:
            print("[postgresql] migrate + load ...", flush=True)
            line = prepare(engine, args)
            report.setup.append(f"postgresql {version}: {line}")
            run_variants(engine, "postgresql", args, report)
        finally:
            engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        admin.dispose()


# --- report ----------------------------------------------------------------------------------


@dataclass
class Report:
    setup: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    variants: list[Variant] = field(default_factory=list)
    alone: list[Variant] = field(default_factory=list)
    """The target queries timed each in rounds of its own (its rows stay in cache)."""
    plans: list[str] = field(default_factory=list)
    load_at_start: float = field(default_factory=lambda: os.getloadavg()[0])


def print_table(variants: Sequence[Variant], args: argparse.Namespace | None) -> None:
    names = list(dict.fromkeys(n for v in variants for n in v.timings))
    print("| query | total | rows |" + "".join(f" {v.name} median | p95 |" for v in variants))
    print("|---|---:|---:|" + "---:|---:|" * len(variants))
    for name in names:
        timings = [v.timings.get(name) for v in variants]
        first = next(t for t in timings if t)
        cells = "".join(f" {t.median_ms:.1f} | {t.p95_ms:.1f} |" if t else " - | - |"
                        for t in timings)
        print(f"| `{name}` | {first.outcome.total} | {first.outcome.rows} |{cells}")
    if args is None:
        return
    print(f"(ms; limit {LIMIT}, statuses incoming and active as GET /images lists them; median "
          f"and p95 of {args.repeat_before} (before) or {args.repeat} (after) timed calls after "
          "one warm-up, the rows up to `list, skip` timed in rounds apart from the broad ones "
          "below them; total = the count page() returns; rows = records on the page)")


def print_count_table(variants: Sequence[Variant]) -> None:
    """How much of each page() call is its `SELECT count(*)` (the total)."""
    names = list(dict.fromkeys(n for v in variants for n in v.timings))
    print("| query |" + "".join(f" {v.name} |" for v in variants))
    print("|---|" + "---:|" * len(variants))
    for name in names:
        cells = ""
        for v in variants:
            t = v.timings.get(name)
            if t is None:
                cells += " - |"
            elif t.count_ms is None:
                cells += " read |"
            else:
                cells += f" {t.count_ms:.1f} ({t.count_ms / t.median_ms:.0%}) |"
        print(f"| `{name}` |{cells}")
    print("(median ms of the `SELECT count(*)` page() runs for the total, and its share of the "
          "call; `read`: the total came from image_counts)")


def check_outcomes(variants: Sequence[Variant], records: int) -> list[str]:
    """Every variant must return the same totals and pages; the cursor page must be the skip
    page."""
    problems = []
    for name in dict.fromkeys(n for v in variants for n in v.timings):
        seen = {v.name: v.timings[name].outcome for v in variants if name in v.timings}
        if len(set(seen.values())) > 1:
            problems.append(f"{name}: results differ between " + ", ".join(
                f"{v} (total {o.total}, first ids {o.fingerprint[:3]})" for v, o in seen.items()))
    middle = records // 2
    for v in variants:
        skip = v.timings.get(f"list, skip={middle}")
        cursor = v.timings.get(f"list, cursor page after {middle}")
        if skip and cursor and skip.outcome.fingerprint != cursor.outcome.fingerprint:
            problems.append(f"{v.name}: the cursor page is not the skip={middle} page")
    return problems


def print_targets(variants: Sequence[Variant]) -> None:
    for variant in variants:
        if ", after" not in variant.name:
            continue
        cells = [(name, variant.timings[name].p95_ms) for name in TARGETS
                 if name in variant.timings]
        verdict = "all under" if all(p95 < TARGET_MS for _, p95 in cells) else "NOT all under"
        print(f"  {variant.name}: " + ", ".join(f"{n} p95 {p:.1f} ms" for n, p in cells)
              + f": {verdict} {TARGET_MS:.0f} ms")


def print_report(report: Report, args: argparse.Namespace) -> bool:
    print(f"\nRecords benchmark: {args.records} records (seed {args.seed}); machine: "
          f"{os.cpu_count()} cores, 1-min load average {report.load_at_start:.2f} at the start, "
          f"{os.getloadavg()[0]:.2f} at the end (above 0: other work competing with it)")
    for line in report.setup + report.skipped:
        print(f"  {line}")
    if report.variants:
        print()
        print_table(report.variants, args)
        print("\nOf which the total:")
        print_count_table(report.variants)
        print("\nThe same queries after, each timed in rounds of its own (the records it reads "
              "stay in the database's cache):")
        print_table(report.alone, None)
        print(f"\nTarget: the first page of an equality or range filter on an indexed data key "
              f"under {TARGET_MS:.0f} ms (p95):")
        print_targets([*report.variants, *report.alone])
    problems = check_outcomes([*report.variants, *report.alone], args.records)
    print("\nChecks: " + ("all variants return the same totals and pages; the cursor page "
                          "equals the skip page" if not problems else "FAILED"))
    for problem in problems:
        print(f"  {problem}")
    print("\nPlans (statement 1: the total, statement 2: the page):")
    for plan in report.plans:
        print(f"\n{plan}")
    return not problems


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark record listing and filtering (RecordCatalog.page through "
                    "parse_query) on generated records, on SQLite and on PostgreSQL "
                    "(DATABASE_URL), before and after the listing index, the per-status "
                    "counts and the indexes of INDEXED_KEYS; prints markdown tables "
                    "of median / p95 latency with result counts, then the query plans.")
    parser.add_argument("--records", type=int, default=RECORDS,
                        help=f"records to generate (default {RECORDS})")
    parser.add_argument("--repeat", type=int, default=REPEAT,
                        help=f"timed calls per query after, after a warm-up (default {REPEAT})")
    parser.add_argument("--repeat-before", type=int, default=REPEAT_BEFORE,
                        help=f"timed calls per query before (default {REPEAT_BEFORE})")
    parser.add_argument("--backend", choices=BACKENDS, default="all",
                        help="sqlite, postgresql (needs DATABASE_URL) or all (default)")
    parser.add_argument("--seed", type=int, default=SEED,
                        help=f"seed of the generated records (default {SEED})")
    parser.add_argument("--extended", action="store_true",
                        help="also time the key prefix, a regex, a sort on a data key, "
                             "data_keys() and data_values() (full scans: slow at 1M)")
    args = parser.parse_args(argv)
    if args.records < 1000 or args.repeat < 1 or args.repeat_before < 1:
        parser.error("--records must be at least 1000, --repeat and --repeat-before at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report()
    if args.backend in ("sqlite", "all"):
        run_sqlite(args, report)
    if args.backend in ("postgresql", "all"):
        run_postgresql(args, report)
    ok = print_report(report, args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
