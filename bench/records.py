"""Record list and filter latency on SQLite and PostgreSQL, with and without a JSON index.

A fresh database per backend (SQLite: a file in a temporary directory; PostgreSQL: a dedicated
database `bench_records` created on the server of DATABASE_URL and dropped afterwards) is
migrated with the service's own migrations and filled with generated records (SQLAlchemy Core
bulk insert, not the HTTP API). Every query then goes through the service's code path,
`RecordCatalog.page(parse_query(pairs))` (or `data_keys` / `data_values`), once as a warm-up
and `--repeat` times timed; the table gives the median and p95 in milliseconds and the result
counts, and the result rows are compared across variants.

Variants:
  * sqlite: the migrated schema (no index on data; SQLite has no general JSON index);
  * sqlite with an expression index on `json_extract(data, '$."site"')`, timed only if
    EXPLAIN QUERY PLAN shows that the SQL the catalog compiles can use it;
  * postgresql with the GIN index `ix_images_data` (migration 0002, `jsonb_path_ops`);
  * postgresql after `DROP INDEX ix_images_data`.

Run: `.venv/bin/python bench/records.py --help` (PostgreSQL: `eval "$(scripts/services/all.sh
start)"` first, which sets DATABASE_URL; without it PostgreSQL is skipped).
"""

from __future__ import annotations

import argparse
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

from sqlalchemy import (
    ColumnElement,
    Engine,
    create_engine,
    event,
    func,
    insert,
    literal_column,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from imagehost.catalog.database import create_catalog_engine, migrate
from imagehost.catalog.filters import (
    MAX_LIMIT,
    RecordFilter,
    encode_cursor,
    parse_query,
)
from imagehost.catalog.models import ImageRecord
from imagehost.catalog.records import RecordCatalog

RECORDS = 100_000
REPEAT = 7
SEED = 2024
BATCH = 5_000
LIMIT = 100
SLOW_MS = 1_000.0
PG_DATABASE = "bench_records"
BACKENDS = ("sqlite", "postgresql", "all")

SITES = tuple(f"site-{n}" for n in range(1, 201))
CAMERAS = tuple(f"cam{k}" for k in range(1, 9))
ZONES = tuple(f"z{k}" for k in range(10))
TAGS = ("snow", "rock", "ice", "forest", "meadow", "lake", "ridge", "fog", "sun", "night")
SIZES = ((6000, 4000), (4000, 6000), (4000, 3000), (3000, 4000))
START = datetime(2024, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)

SITE_INDEX = "ix_bench_site"
SITE_INDEX_SQL = f"""CREATE INDEX {SITE_INDEX} ON images (json_extract(data, '$."site"'))"""
PG_INDEX = "ix_images_data"
EXPLAINED = "data.site=site-17"
"""The query whose plans are shown for every variant (selective equality on one key)."""
SITE_QUERIES = ("data.site=site-17", "data.ok=true&data.site__in=site-1,site-2")
"""The queries an index on data.site could serve."""

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Outcome:
    """What a query returned: the filter's total, the rows on the page, and the page itself
    (ids, or keys / values) to compare variants."""

    total: int
    rows: int
    fingerprint: tuple[Any, ...]


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p95_ms: float
    outcome: Outcome
    count_ms: float | None = None
    """Median time of page()'s `SELECT count(*)` statement (part of median_ms)."""


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


def chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def load(engine: Engine, count: int, seed: int) -> float:
    """Bulk insert (executemany in batches of BATCH); returns seconds."""
    started = time.perf_counter()
    statement = insert(ImageRecord.__table__)
    with engine.begin() as connection:
        for batch in chunks(generate_records(count, seed), BATCH):
            connection.execute(statement, batch)
    return time.perf_counter() - started


# --- queries ---------------------------------------------------------------------------------


def page_query(name: str, pairs: Pairs) -> Query:
    def run(catalog: RecordCatalog) -> Outcome:
        page = catalog.page(parse_query((*pairs, ("limit", str(LIMIT)))))
        return Outcome(page.total, len(page.records), tuple(r.id for r in page.records))

    return Query(name, run)


def keys_query(catalog: RecordCatalog) -> Outcome:
    keys = catalog.data_keys(RecordFilter())
    return Outcome(len(keys), len(keys), tuple(keys))


def values_query(catalog: RecordCatalog) -> Outcome:
    values = catalog.data_values(("site",), RecordFilter())
    return Outcome(len(values), len(values), tuple(values))


def walk_cursor(catalog: RecordCatalog, target: int) -> tuple[str | None, int, float]:
    """Page with the cursor (MAX_LIMIT records a page) past the first `target` records in the
    default order; returns the cursor there, the number of pages and the seconds it took."""
    started = time.perf_counter()
    token: str | None = None
    seen = pages = 0
    while seen < target:
        pairs: list[tuple[str, str]] = [("limit", str(min(MAX_LIMIT, target - seen)))]
        if token:
            pairs.append(("cursor", token))
        page = catalog.page(parse_query(pairs))
        pages += 1
        seen += len(page.records)
        if page.next_cursor is None:
            return None, pages, time.perf_counter() - started
        token = encode_cursor(page.next_cursor)
    return token, pages, time.perf_counter() - started


def queries(records: int, cursor: str | None) -> list[Query]:
    middle = records // 2
    listed = [
        page_query("list (first page)", ()),
        page_query(f"skip={middle}", (("skip", str(middle)),)),
    ]
    if cursor:
        listed.append(page_query(f"cursor after {middle}", (("cursor", cursor),)))
    filters: list[Pairs] = [
        (("data.site", "site-17"),),
        (("data.camera", "cam3"),),
        (("data.temp__gt", "35"),),
        (("data.plot.zone", "z3"),),
        (("data.ok", "true"), ("data.site__in", "site-1,site-2")),
        (("file", "plots/site-3/"),),
        (("regex", r"cam7/1[0-9]{3}\.jpg$"),),
        (("sort", "-data.temp"),),
    ]
    listed += [page_query("&".join(f"{k}={v}" for k, v in pairs), pairs) for pairs in filters]
    listed += [Query("data_keys()", keys_query), Query("data_values(site)", values_query)]
    return listed


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
    changing load on the machine spreads over all queries alike."""
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
    """Linear interpolation between the sorted samples (with 7 samples, close to the max)."""
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def run_variant(variant: Variant, catalog: RecordCatalog, listed: Sequence[Query],
                repeat: int) -> None:
    print(f"  [{variant.name}] {len(listed)} queries x (1 + {repeat}) ...", flush=True)
    variant.timings.update(measure(listed, catalog, repeat))


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


def query_plans(engine: Engine, catalog: RecordCatalog, query: Query) -> list[list[str]]:
    """The plan of every statement `query` sends (for page(): the count, then the page)."""
    return [explain(engine, s, p) for s, p in statements_of(engine, lambda: query.run(catalog))]


def access(plan: Sequence[str]) -> str:
    """How a plan (SQLite EXPLAIN QUERY PLAN or PostgreSQL EXPLAIN) reaches the rows."""
    joined = "\n".join(plan)
    if "SEARCH images" in joined or "Index Cond" in joined or "Recheck Cond" in joined:
        return "index search"
    if "SCAN images USING" in joined or "Index Scan" in joined or "Index Only Scan" in joined:
        return "scan in index order (no index condition)"
    return "full table scan"


def describe_plans(title: str, plans: Sequence[Sequence[str]], index: str | None = None) -> str:
    """Plans as text, each statement introduced by its access path and whether it uses
    `index`; statement 1 of page() is the count, statement 2 the page."""
    parts = [title]
    for number, plan in enumerate(plans, 1):
        used = ""
        if index:
            used = f"; {index} {'USED' if any(index in line for line in plan) else 'not used'}"
        parts.append(f"  statement {number}: {access(plan)}{used}")
        parts += [f"    {line}" for line in plan]
    return "\n".join(parts)


def uses_index(plans: Sequence[Sequence[str]], index: str) -> bool:
    return any(index in line for plan in plans for line in plan)


class SargableCatalog(RecordCatalog):
    """Bench-only prototype, not the service's code: on SQLite, each data equality / `in` on a
    string or number also gets the plain term `json_extract(data, '<literal path>') = value`.
    That term is implied by the catalog's own (kept) condition, so results do not change, but
    an expression index on the same json_extract can serve it."""

    def where(self, record_filter: RecordFilter) -> list[ColumnElement[bool]]:
        clauses = super().where(record_filter)
        for condition in record_filter.data:
            values = condition.value if condition.op == "in" else (condition.value,)
            if condition.op not in ("eq", "in") or not all(
                    isinstance(v, str | int | float) and not isinstance(v, bool)
                    for v in values):  # type: ignore[union-attr]
                continue
            path = "$" + "".join(f'."{segment}"' for segment in condition.path)
            extracted = func.json_extract(ImageRecord.data, literal_column(f"'{path}'"))
            clauses.append(extracted.in_(values))  # type: ignore[arg-type]
        return clauses


# --- backends --------------------------------------------------------------------------------


def prepare(engine: Engine, records: int, seed: int) -> tuple[RecordCatalog, str | None, str]:
    """Migrate, load, then find the cursor after half the records; returns a log line."""
    migrate(engine)
    seconds = load(engine, records, seed)
    line = f"loaded {records} records in {seconds:.1f} s ({records / seconds:,.0f}/s)"
    if engine.dialect.name == "postgresql":
        started = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE images")
        line += f", VACUUM ANALYZE {time.perf_counter() - started:.1f} s"
    catalog = RecordCatalog(engine)
    cursor, pages, walk = walk_cursor(catalog, records // 2)
    line += (f"; cursor walk to record {records // 2}: {pages} pages of <= {MAX_LIMIT} in "
             f"{walk:.1f} s")
    return catalog, cursor, line


def run_sqlite(args: argparse.Namespace, report: Report) -> None:
    with tempfile.TemporaryDirectory(prefix="imagehost-bench-records-") as tmp:
        engine = create_catalog_engine(f"sqlite:///{Path(tmp) / 'records.db'}")
        try:
            print("[sqlite] migrate + load ...", flush=True)
            catalog, cursor, line = prepare(engine, args.records, args.seed)
            report.setup.append(f"sqlite {sqlite3.sqlite_version}: {line}")
            listed = queries(args.records, cursor)
            by_name = {q.name: q for q in listed}
            plain = Variant("sqlite")
            run_variant(plain, catalog, listed, args.repeat)
            report.variants.append(plain)
            report.explain_slow(engine, catalog, plain, listed, args)
            report.plans.append(describe_plans(
                f"sqlite, {EXPLAINED} (EXPLAIN QUERY PLAN):",
                query_plans(engine, catalog, by_name[EXPLAINED])))

            with engine.begin() as connection:
                connection.exec_driver_sql(SITE_INDEX_SQL)
            plans = query_plans(engine, catalog, by_name[EXPLAINED])
            used = uses_index(plans, SITE_INDEX)
            report.plans.append(describe_plans(
                f"sqlite + `{SITE_INDEX_SQL}`, {EXPLAINED} as the catalog compiles it:",
                plans, SITE_INDEX))
            if used:
                indexed = Variant("sqlite + site index")
                run_variant(indexed, catalog, listed, args.repeat)
                report.variants.append(indexed)
                report.explain_slow(engine, catalog, indexed, listed, args)
                return
            report.findings.append(
                f"SQLite: the catalog's SQL for {EXPLAINED} cannot use {SITE_INDEX} (the key is "
                "read through CASE json_type(...) and the JSON path is a bound parameter, so "
                "the expression never matches the index): that variant is not timed.")
            prototype = SargableCatalog(engine)
            plans = query_plans(engine, prototype, by_name[EXPLAINED])
            report.plans.append(describe_plans(
                f"sqlite + {SITE_INDEX}, {EXPLAINED} with the prototype's extra term "
                "json_extract(data, '$.\"site\"') IN (...) (bench-only SargableCatalog):",
                plans, SITE_INDEX))
            if uses_index(plans, SITE_INDEX):
                sargable = Variant("sqlite + site index + sargable term (prototype)")
                run_variant(sargable, prototype, [by_name[n] for n in SITE_QUERIES],
                            args.repeat)
                report.extra.append(sargable)
        finally:
            engine.dispose()


def run_postgresql(args: argparse.Namespace, report: Report) -> None:
    url = os.environ.get("DATABASE_URL")
    if not url:
        report.skipped.append("postgresql: skipped, DATABASE_URL is not set (run "
                              "`eval \"$(scripts/services/all.sh start)\"` first)")
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
            catalog, cursor, line = prepare(engine, args.records, args.seed)
            report.setup.append(f"postgresql {version}: {line}")
            listed = queries(args.records, cursor)
            by_name = {q.name: q for q in listed}
            for name, drop in (("postgresql + GIN", False), ("postgresql, no GIN", True)):
                if drop:
                    with engine.begin() as connection:
                        connection.exec_driver_sql(f"DROP INDEX {PG_INDEX}")
                variant = Variant(name)
                run_variant(variant, catalog, listed, args.repeat)
                report.variants.append(variant)
                report.plans.append(describe_plans(
                    f"{name}, {EXPLAINED} (EXPLAIN ANALYZE):",
                    query_plans(engine, catalog, by_name[EXPLAINED]), PG_INDEX))
                report.explain_slow(engine, catalog, variant, listed, args)
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
    extra: list[Variant] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    load_at_start: float = field(default_factory=lambda: os.getloadavg()[0])

    def explain_slow(self, engine: Engine, catalog: RecordCatalog, variant: Variant,
                     listed: Sequence[Query], args: argparse.Namespace) -> None:
        """Plans of the queries slower than --slow-ms, and of those named by --explain."""
        wanted = set(args.explain or ())
        for query in listed:
            median = variant.timings[query.name].median_ms
            if median > args.slow_ms or query.name in wanted or "all" in wanted:
                self.plans.append(describe_plans(
                    f"{variant.name}, {'SLOW ' if median > args.slow_ms else ''}{query.name} "
                    f"({median:.0f} ms):",
                    query_plans(engine, catalog, query)))


def print_table(variants: Sequence[Variant], repeat: int,
                only: Sequence[str] | None = None) -> None:
    names = list(only or dict.fromkeys(n for v in variants for n in v.timings))
    header = "| query | total | rows |" + "".join(
        f" {v.name} median ms | p95 ms |" for v in variants)
    print(header)
    print("|---|---:|---:|" + "---:|---:|" * len(variants))
    for name in names:
        timings = [v.timings.get(name) for v in variants]
        first = next(t for t in timings if t)
        cells = "".join(f" {t.median_ms:.1f} | {t.p95_ms:.1f} |" if t else " - | - |"
                        for t in timings)
        print(f"| `{name}` | {first.outcome.total} | {first.outcome.rows} |{cells}")
    print(f"(limit {LIMIT}; median and p95 of {repeat} timed calls after one warm-up; total = "
          "the filter's count that page() returns, or the number of keys / values; rows = "
          "records on the page)")


def print_count_table(variants: Sequence[Variant]) -> None:
    """How much of each page() call is its `SELECT count(*)` (the total)."""
    names = [n for n in dict.fromkeys(n for v in variants for n in v.timings)
             if any(v.timings[n].count_ms is not None for v in variants if n in v.timings)]
    print("| query |" + "".join(f" {v.name}: count ms (share) |" for v in variants))
    print("|---|" + "---:|" * len(variants))
    for name in names:
        cells = ""
        for v in variants:
            t = v.timings.get(name)
            cells += (f" {t.count_ms:.1f} ({t.count_ms / t.median_ms:.0%}) |"
                      if t and t.count_ms is not None else " - |")
        print(f"| `{name}` |{cells}")
    print("(median time of the `SELECT count(*)` statement page() runs for the total, and its "
          "share of the median page() call)")


def check_outcomes(variants: Sequence[Variant], records: int) -> list[str]:
    """Every variant must return the same counts and the same page; the cursor page must be
    the skip page."""
    problems = []
    names = dict.fromkeys(n for v in variants for n in v.timings)
    for name in names:
        seen = {v.name: v.timings[name].outcome for v in variants if name in v.timings}
        if len(set(seen.values())) > 1:
            problems.append(f"{name}: results differ between " + ", ".join(
                f"{v} (total {o.total}, first ids {o.fingerprint[:3]})" for v, o in seen.items()))
    middle = records // 2
    for v in variants:
        skip, cursor = v.timings.get(f"skip={middle}"), v.timings.get(f"cursor after {middle}")
        if skip and cursor and skip.outcome.fingerprint != cursor.outcome.fingerprint:
            problems.append(f"{v.name}: the cursor page is not the skip={middle} page")
    return problems


def print_report(report: Report, args: argparse.Namespace) -> bool:
    print(f"\nRecords benchmark: {args.records} records (seed {args.seed}), {args.repeat} "
          f"timed calls per query; machine: {os.cpu_count()} cores, 1-min load average "
          f"{report.load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
          "(above 0: other work competing with the benchmark)")
    for line in report.setup + report.skipped:
        print(f"  {line}")
    if report.variants:
        print()
        print_table(report.variants, args.repeat)
        print("\nOf which the total (`SELECT count(*)` over the whole filter, run on every "
              "page):")
        print_count_table(report.variants)
    if report.extra:
        print("\nPrototype (bench-only, not src): the same queries with a sargable "
              "json_extract term, SQLite with the site expression index:")
        print_table([*[v for v in report.variants if v.name == "sqlite"], *report.extra],
                    args.repeat, SITE_QUERIES)
    problems = check_outcomes([*report.variants, *report.extra], args.records)
    print("\nChecks: " + ("all variants return the same totals and pages; the cursor page "
                          "equals the skip page" if not problems else "FAILED"))
    for problem in problems:
        print(f"  {problem}")
    for finding in report.findings:
        print(f"\n{finding}")
    print("\nPlans:")
    for plan in report.plans:
        print(f"\n{plan}")
    return not problems


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark record listing and filtering (RecordCatalog.page through "
                    "parse_query, data_keys, data_values) on generated records, on SQLite and "
                    "on PostgreSQL (DATABASE_URL; with and without the GIN index on data), and "
                    "print a markdown table of median / p95 latency with result counts, then "
                    "the query plans of a data.site equality.")
    parser.add_argument("--records", type=int, default=RECORDS,
                        help=f"records to generate (default {RECORDS})")
    parser.add_argument("--repeat", type=int, default=REPEAT,
                        help=f"timed calls per query, after a warm-up (default {REPEAT})")
    parser.add_argument("--backend", choices=BACKENDS, default="all",
                        help="sqlite, postgresql (needs DATABASE_URL) or all (default)")
    parser.add_argument("--seed", type=int, default=SEED,
                        help=f"seed of the generated records (default {SEED})")
    parser.add_argument("--slow-ms", type=float, default=SLOW_MS,
                        help=f"show the plans of queries with a median above this "
                             f"(default {SLOW_MS:.0f})")
    parser.add_argument("--explain", action="append", metavar="QUERY",
                        help="also show the plans of this query, named as in the table "
                             "(repeatable; `all` for every query)")
    args = parser.parse_args(argv)
    if args.records < 10 or args.repeat < 1:
        parser.error("--records must be at least 10 and --repeat at least 1")
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
