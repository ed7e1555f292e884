"""The imagehost command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from imagehost.config import CONFIG_FILE_VARIABLE, SECRET_FIELDS, Settings, load_settings
from imagehost.errors import ConfigError

app = typer.Typer(help="imagehost: an image backend for the whole life of an image.",
                  no_args_is_help=True, add_completion=False)

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help=f"YAML configuration file (default: ${CONFIG_FILE_VARIABLE}).",
    envvar=CONFIG_FILE_VARIABLE, dir_okay=False)]


def _settings(config: Path | None) -> Settings:
    """Settings from the environment and --config; a ConfigError ends the command with one
    line (see main)."""
    return load_settings(os.environ, config)


def _version(value: bool) -> None:
    if value:
        import imagehost

        typer.echo(f"imagehost {imagehost.__version__}")
        raise typer.Exit()


@app.callback()
def options(
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show the traceback of an error (as LOG_LEVEL=debug does).")] = False,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """imagehost: an image backend for the whole life of an image."""


LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (1-65535).")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    log_level: Annotated[str | None, typer.Option(
        help=f"Log level: {', '.join(LOG_LEVELS)} (default: LOG_LEVEL, info).")] = None,
    access_log: Annotated[bool | None, typer.Option(
        help="Log every request (--no-access-log behind a proxy that logs them; default: "
             "ACCESS_LOG).")] = None,
) -> None:
    """Start the HTTP service."""
    import uvicorn

    from imagehost.logs import logging_config
    from imagehost.runtime import build_context, close_context

    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port}: a port is 1-65535")
    if log_level is not None:
        if log_level.lower() not in LOG_LEVELS:
            raise ConfigError(f"--log-level {log_level!r}: allowed values: "
                              f"{', '.join(LOG_LEVELS)}")
        os.environ["LOG_LEVEL"] = log_level.lower()
    if access_log is not None:
        os.environ["ACCESS_LOG"] = "1" if access_log else "0"
    if config is not None:
        os.environ[CONFIG_FILE_VARIABLE] = str(config.resolve())
    settings = _settings(config)
    _require_extras(settings)
    _check_port(host, port)
    close_context(build_context(settings))  # one-line errors before any worker starts
    if workers > 1:
        _share_between_workers(settings)
    uvicorn.run("imagehost.web.app:create_app_from_environment", factory=True, host=host,
                port=port, workers=workers, log_config=logging_config(settings.log_level,
                                                                      settings.log_format),
                access_log=False, proxy_headers=False)  # the app applies them itself


def _check_port(host: str, port: int) -> None:
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise ConfigError(f"--host {host} --port {port}: cannot listen there "
                          f"({exc.strerror}); stop what uses the port, or choose another "
                          "--port") from None


def _share_between_workers(settings: Settings) -> None:
    """What every worker must agree on: one signing key per server start (a URL one worker
    signs, any other verifies) and one folder for the metrics of all workers."""
    import secrets
    import shutil
    import tempfile

    from imagehost.web.metrics import MULTIPROCESS_FOLDER

    if not settings.signed_url_key:
        os.environ["SIGNED_URL_KEY"] = secrets.token_hex(32)
    folder = tempfile.mkdtemp(prefix="imagehost-metrics-")
    os.environ[MULTIPROCESS_FOLDER] = folder
    import atexit

    atexit.register(shutil.rmtree, folder, True)


@app.command("config")
def show_config(
    config: ConfigOption = None,
    defaults: Annotated[bool, typer.Option("--defaults", help="Print the defaults only.")] = False,
) -> None:
    """Print the effective configuration as YAML, every option with a comment."""
    settings = Settings() if defaults else _settings(config)
    typer.echo(render_config(settings), nl=False)


@app.command()
def expire(
    config: ConfigOption = None,
    older_than: Annotated[str | None, typer.Option(
        help="Age of unpublished uploads to remove, e.g. 2h (default: expire_after).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List, do not delete.")] = False,
) -> None:
    """Remove incoming (never published) images older than an age."""
    from imagehost.runtime import open_context
    from imagehost.service.expiry import expire_incoming
    from imagehost.values import parse_duration

    settings = _settings(config)
    try:
        age = parse_duration(older_than) if older_than else settings.expire_after
    except ValueError as exc:
        typer.echo(f"imagehost: --older-than: {exc}", err=True)
        raise typer.Exit(2) from None
    with open_context(settings) as ctx:
        report = expire_incoming(ctx, older_than=age, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for key in report.objects:
        typer.echo(f"{verb} {key}")
    for leftover in report.interrupted:
        typer.echo(f"{verb} {leftover} (interrupted write)")
    typer.echo(f"{verb} {len(report.objects)} objects and {report.records} records")
    if report.derived:
        typer.echo(f"removed {len(report.derived)} derived images past the cache store's bounds")


@app.command()
def sign(
    url: Annotated[str, typer.Argument(help="Path and query, e.g. '/images/42/image?w=512'.")],
    config: ConfigOption = None,
    expires_in: Annotated[float | None, typer.Option(
        help="Seconds until the URL expires (default: never).")] = None,
) -> None:
    """Sign a derived-image URL with URL_SIGNING_KEY."""
    from urllib.parse import parse_qsl, urlsplit

    from imagehost.service.url_signing import sign as sign_query

    settings = _settings(config)
    if not settings.url_signing_key:
        typer.echo("imagehost: URL_SIGNING_KEY is not set", err=True)
        raise typer.Exit(2)
    parts = urlsplit(url)
    path = parts.path.removeprefix(settings.prefix) or "/"
    query = sign_query(settings.url_signing_key, path, parse_qsl(parts.query), expires_in)
    typer.echo(f"{settings.prefix}{path}?{query}")


@app.command()
def index(
    config: ConfigOption = None,
    apply: Annotated[bool, typer.Option(
        "--apply", help="Create the missing indexes of INDEXED_KEYS (safe while the service "
                        "runs; PostgreSQL fills the keys' columns in batches and builds "
                        "concurrently).")] = False,
    drop: Annotated[str | None, typer.Option(
        "--drop", metavar="KEY", help="Drop the indexes of one data key (and its columns "
                                      "on PostgreSQL).")] = None,
    list_: Annotated[bool, typer.Option(
        "--list", help="Show the data-key indexes against INDEXED_KEYS (the default).")]
    = False,
) -> None:
    """Indexes on the data keys of INDEXED_KEYS, for fast filters on them."""
    from imagehost.errors import BadRequest
    from imagehost.runtime import open_context
    from imagehost.service.data_indexes import (
        apply_indexed_keys,
        drop_indexed_key,
        list_indexed_keys,
    )

    if apply + (drop is not None) + list_ > 1:
        typer.echo("imagehost: index takes one of --apply, --drop KEY, --list", err=True)
        raise typer.Exit(2)
    settings = _settings(config)
    with open_context(settings) as ctx:
        if apply:
            if not settings.indexed_keys:
                typer.echo("INDEXED_KEYS is empty: no index to create")
                return

            def report(built: Any) -> None:
                state = (f"created in {built.seconds:.1f} s" if built.seconds is not None
                         else "already there")
                typer.echo(f"data.{built.key}: {built.name} {state}")

            shown: dict[str, int] = {}

            def progress(keys: str, done: int, total: int) -> None:
                tenth = done * 10 // total
                if tenth > shown.get(keys, 0):
                    shown[keys] = tenth
                    typer.echo(f"columns of {keys}: {done}/{total} ids filled")

            built = apply_indexed_keys(ctx, report, progress)
            created = sum(b.seconds is not None for b in built)
            typer.echo(f"{len(settings.indexed_keys)} keys: {created} indexes created, "
                       f"{len(built) - created} already there; statistics refreshed")
            return
        if drop is not None:
            try:
                names = drop_indexed_key(ctx, drop)
            except BadRequest:
                typer.echo(f"imagehost: --drop {drop!r}: a data key is letters, digits, _ or "
                           "-, joined by dots (site, plot.zone)", err=True)
                raise typer.Exit(2) from None
            typer.echo(f"dropped {', '.join(names)}" if names else f"no index on {drop}")
            return
        listing = list_indexed_keys(ctx)
    for item in listing.present:
        note = "" if item.valid else (" INVALID (an interrupted build, or of the earlier "
                                      "kind; --apply rebuilds it)")
        unlisted = " not in INDEXED_KEYS (--drop removes it)" if item in listing.unlisted else ""
        typer.echo(f"data.{item.key}: {item.name}{note}{unlisted}")
    for key in listing.missing:
        typer.echo(f"data.{key}: missing (imagehost index --apply creates it)")
    if not listing.present and not listing.missing:
        typer.echo("no data-key indexes; INDEXED_KEYS is empty")


s3_app = typer.Typer(help="S3-specific operations.", no_args_is_help=True)
app.add_typer(s3_app, name="s3")


@s3_app.command("lifecycle")
def s3_lifecycle(
    config: ConfigOption = None,
    days: Annotated[int | None, typer.Option(
        help="Install a rule expiring incoming objects after this many days.", min=1)] = None,
) -> None:
    """Show (and with --days, install) the incoming bucket's expiry lifecycle rule.

    Providers without lifecycle rules answer with an error: use `imagehost expire` (the
    server also sweeps incoming every EXPIRE_INTERVAL)."""
    from imagehost.runtime import build_stores_for
    from imagehost.storage.s3 import S3Store

    settings = _settings(config)
    incoming = build_stores_for(settings).incoming
    if not isinstance(incoming, S3Store):
        typer.echo("imagehost: s3 lifecycle needs STORAGE_BACKEND=s3", err=True)
        raise typer.Exit(2)
    try:
        if days is not None:
            incoming.set_expiry_rule(days)
            typer.echo(f"installed: expire objects in {incoming.bucket} after {days} days")
        rules = incoming.expiry_rules()
    except Exception as exc:  # provider errors vary: ClientError, StoreUnavailable, ...
        message = getattr(exc, "message", None) or str(exc)
        typer.echo(f"imagehost: the provider refused lifecycle rules ({message}); "
                   "use `imagehost expire` instead", err=True)
        raise typer.Exit(1) from None
    typer.echo(yaml.safe_dump({"bucket": incoming.bucket, "rules": rules}, sort_keys=False,
                              default_flow_style=False), nl=False)


JobsOption = Annotated[int | None, typer.Option(
    "--jobs", "-j", help="Items processed at once (default: the core count).", min=1)]
LimitOption = Annotated[int | None, typer.Option("--limit", "-l", help="Stop after N items.",
                                                 min=1)]
KeyOption = Annotated[str | None, typer.Option("--key", "-k", help="Process only this key.")]
ProgressOption = Annotated[int, typer.Option(
    "--progress", "-p", help="Log a progress line every N items (off a terminal).", min=1)]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Decide, change nothing.")]
LocalOption = Annotated[bool, typer.Option(
    "--local", help="Run in this process even when BROKER_URL is set.")]
BrokerOption = Annotated[str | None, typer.Option(
    "--broker", help="Run on Celery workers through this broker (redis://...).")]


@app.command()
def migrate(
    config: ConfigOption = None,
    force: Annotated[bool, typer.Option("--force", "-f",
                                        help="Migrate images that are already active.")] = False,
    jobs: JobsOption = None, key: KeyOption = None, limit: LimitOption = None,
    progress: ProgressOption = 100, verbose: VerboseOption = False,
    dry_run: DryRunOption = False, broker: BrokerOption = None, local: LocalOption = False,
) -> None:
    """Move the v5 images (V5_DATABASE_URL listing, V5_BUCKET or V5_BASE_URL originals) into
    the active store and the catalog, with variants."""
    from imagehost.jobs.migrate import MigrateJob

    params = {"force": force, "key": key, "limit": limit}
    _run_job(MigrateJob(), params, config, jobs, progress, verbose, dry_run, broker, local)


@app.command()
def resize(
    config: ConfigOption = None,
    key: KeyOption = None,
    prefix: Annotated[str | None, typer.Option(help="Only keys starting with this.")] = None,
    since: Annotated[str | None, typer.Option(help="Only images published since (ISO).")]
    = None,
    until: Annotated[str | None, typer.Option(help="Only images published until (ISO).")]
    = None,
    only: Annotated[str | None, typer.Option(help="Only these suffixes, e.g. BI,MI.")] = None,
    ladder: Annotated[bool, typer.Option(
        "--ladder", help="Rebuild the ladder (LADDER_SIDES) instead of the variants, which "
                         "stay as they are.")] = False,
    from_store: Annotated[bool, typer.Option(
        "--from-store", help="List originals from the active store, not the catalog.")] = False,
    jobs: JobsOption = None, limit: LimitOption = None, progress: ProgressOption = 100,
    verbose: VerboseOption = False, dry_run: DryRunOption = False,
    broker: BrokerOption = None, local: LocalOption = False,
) -> None:
    """Regenerate the variants of active originals (after a change of RESIZING_CONFIG), or
    with --ladder their ladders (after a change of LADDER_SIDES, or for images stored before
    the ladder)."""
    from imagehost.jobs.resize import ResizeJob

    if ladder and only:
        raise ConfigError("--only names variants; --ladder rebuilds the ladder alone")
    params = {"key": key, "prefix": prefix, "since": since, "until": until, "limit": limit,
              "only": [s.strip() for s in only.split(",")] if only else None,
              "from_store": from_store, "ladder": ladder}
    _run_job(ResizeJob(), params, config, jobs, progress, verbose, dry_run, broker, local)


@app.command("strip-originals")
def strip_originals(
    config: ConfigOption = None,
    key: KeyOption = None,
    prefix: Annotated[str | None, typer.Option(help="Only keys starting with this.")] = None,
    since: Annotated[str | None, typer.Option(help="Only images uploaded since (ISO).")]
    = None,
    until: Annotated[str | None, typer.Option(help="Only images uploaded until (ISO).")]
    = None,
    from_store: Annotated[bool, typer.Option(
        "--from-store", help="List originals from the incoming and active stores, not the "
                             "catalog.")] = False,
    jobs: JobsOption = None, limit: LimitOption = None, progress: ProgressOption = 100,
    verbose: VerboseOption = False, dry_run: DryRunOption = False,
    broker: BrokerOption = None, local: LocalOption = False,
) -> None:
    """Apply ORIGINAL_METADATA to the originals already stored, incoming and active (after
    upgrading, or a change of the setting)."""
    from imagehost.jobs.strip import StripJob

    params = {"key": key, "prefix": prefix, "since": since, "until": until, "limit": limit,
              "from_store": from_store}
    _run_job(StripJob(), params, config, jobs, progress, verbose, dry_run, broker, local)


@app.command()
def transfer(
    to: Annotated[Path, typer.Option(help="YAML configuration of the target stores.",
                                     exists=True, dir_okay=False)],
    config: ConfigOption = None,
    roles: Annotated[str, typer.Option(help="Stores to copy.")] = "incoming,active,cache",
    prefix: Annotated[str | None, typer.Option(help="Only keys starting with this.")] = None,
    switch: Annotated[bool, typer.Option(
        "--switch", help="When every object arrived, point the configuration file (--config) "
                         "at the target stores.")] = False,
    jobs: JobsOption = None, progress: ProgressOption = 100, verbose: VerboseOption = False,
    dry_run: DryRunOption = False, broker: BrokerOption = None, local: LocalOption = False,
) -> None:
    """Copy every object to the stores another configuration describes (local -> S3 ->
    Swift ...), verifying size and checksum and skipping what is already identical."""
    from imagehost.jobs.transfer import TransferJob

    if switch and config is None:
        typer.echo("imagehost: --switch needs --config (the file to point at the target)",
                   err=True)
        raise typer.Exit(2)
    params = {"to": str(to.resolve()), "roles": [r.strip() for r in roles.split(",")],
              "prefix": prefix, "switch": str(config.resolve()) if switch and config else None}
    _run_job(TransferJob(), params, config, jobs, progress, verbose, dry_run, broker, local)


@app.command()
def reindex(
    config: ConfigOption = None,
    prefix: Annotated[str | None, typer.Option(help="Only keys starting with this.")] = None,
    jobs: JobsOption = None, progress: ProgressOption = 100, verbose: VerboseOption = False,
    dry_run: DryRunOption = False, broker: BrokerOption = None, local: LocalOption = False,
) -> None:
    """Rebuild or repair the catalog from what the stores hold (with --dry-run: only report
    the differences)."""
    from imagehost.jobs.reindex import ReindexJob

    _run_job(ReindexJob(), {"prefix": prefix}, config, jobs, progress, verbose, dry_run, broker,
             local)


@app.command()
def worker(
    broker: Annotated[str, typer.Option(help="Celery broker, e.g. redis://127.0.0.1:6379/0.",
                                        envvar="BROKER_URL")],
    config: ConfigOption = None,
    jobs: JobsOption = None,
) -> None:
    """A Celery worker for distributed jobs (started on any number of machines that share the
    catalog and the stores)."""
    from imagehost.jobs.commands import default_concurrency
    from imagehost.jobs.distributed import run_worker

    settings = _settings(config)
    _require_extras(settings)
    if config is not None:
        os.environ[CONFIG_FILE_VARIABLE] = str(config.resolve())
    _logging(False, settings)
    run_worker(broker, jobs or default_concurrency())


jobs_app = typer.Typer(help="Job runs: list, show, resume, retry.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")


@jobs_app.command("list")
def jobs_list(config: ConfigOption = None) -> None:
    """The most recent job runs with their counts."""
    from imagehost.runtime import open_context

    with open_context(_settings(config)) as ctx:
        for job in ctx.jobs.recent():
            counts = ctx.jobs.counts(job.id)
            typer.echo(f"#{job.id:<5} {job.kind:<9} {job.state:<12} "
                       f"{job.started_at:%Y-%m-%d %H:%M}  {counts.finished}/{counts.total} "
                       f"done, {counts.failed} failed")


@jobs_app.command("show")
def jobs_show(job_id: int, config: ConfigOption = None) -> None:
    """One job: parameters, counts, rate, and the failed items with their errors."""
    from imagehost.runtime import open_context

    with open_context(_settings(config)) as ctx:
        job = ctx.jobs.get(job_id)
        if job is None:
            typer.echo(f"imagehost: no job {job_id}", err=True)
            raise typer.Exit(2)
        counts = ctx.jobs.counts(job_id)
        last = ctx.jobs.last_update(job_id) or job.started_at
        failures = ctx.jobs.failures(job_id)
    seconds = max((last - job.started_at).total_seconds(), 1e-6)
    typer.echo(yaml.safe_dump({
        "job": job.id, "kind": job.kind, "state": job.state, "params": job.params,
        "started": job.started_at.isoformat(),
        "finished": job.finished_at.isoformat() if job.finished_at else None,
        "listed": job.listed, "items": counts.total, "done": counts.done,
        "skipped": counts.skipped, "failed": counts.failed, "pending": counts.pending,
        "rate_per_second": round(counts.finished / seconds, 2),
        "failures": [{"key": k, "error": e} for k, e in failures],
    }, sort_keys=False, allow_unicode=True), nl=False)


@jobs_app.command("resume")
def jobs_resume(job_id: int, config: ConfigOption = None, jobs: JobsOption = None,
                progress: ProgressOption = 100, verbose: VerboseOption = False,
                broker: BrokerOption = None, local: LocalOption = False) -> None:
    """Carry on an interrupted job without redoing its done items."""
    _continue_job(job_id, config, jobs, progress, verbose, broker, local, retry=False)


@jobs_app.command("retry")
def jobs_retry(job_id: int, config: ConfigOption = None, jobs: JobsOption = None,
               progress: ProgressOption = 100, verbose: VerboseOption = False,
               broker: BrokerOption = None, local: LocalOption = False) -> None:
    """Run a job's failed items again."""
    _continue_job(job_id, config, jobs, progress, verbose, broker, local, retry=True)


def _run_job(kind: Any, params: dict[str, Any], config: Path | None, jobs: int | None,
             progress: int, verbose: bool, dry_run: bool, broker: str | None,
             local: bool) -> None:
    from imagehost.jobs.commands import default_concurrency, run_new, summary
    from imagehost.jobs.commands import dry_run as plan
    from imagehost.runtime import open_context

    settings = _settings(config)
    _logging(verbose, settings)
    with open_context(settings) as ctx:
        if dry_run:
            counts = plan(kind, params, ctx)
            typer.echo(f"dry run: would process {counts.pending}, skip {counts.skipped}, "
                       f"fail {counts.failed}")
            raise typer.Exit(1 if counts.failed else 0)
        job, counts = run_new(kind, params, ctx, concurrency=jobs or default_concurrency(),
                              every=progress, broker=_broker(broker, local, ctx.settings))
    typer.echo(f"job {job.id}: " + summary(kind.name, counts))
    if params.get("switch") and not counts.failed and not counts.pending:
        _switch_configuration(Path(params["switch"]), Path(params["to"]))
    raise typer.Exit(1 if counts.failed or counts.pending else 0)


def _broker(given: str | None, local: bool, settings: Settings) -> str | None:
    """Where a job runs: --broker, else BROKER_URL (Celery workers), unless --local."""
    if local:
        return None
    broker = given or settings.broker_url
    if broker:
        import celery  # noqa: F401  (missing: main's one-line error, before any job row)
    return broker


def _switch_configuration(config: Path, target: Path) -> None:
    """Merge the target's storage options into the configuration file (kept as .bak)."""
    from imagehost.config import read_yaml

    current = dict(read_yaml(config))
    storage = {k: v for k, v in read_yaml(target).items() if k != "database_url"}
    config.with_suffix(config.suffix + ".bak").write_text(config.read_text())
    config.write_text(yaml.safe_dump({**current, **storage}, sort_keys=False))
    typer.echo(f"switched {config} to the stores of {target} (previous: {config}.bak)")


def _continue_job(job_id: int, config: Path | None, jobs: int | None, progress: int,
                  verbose: bool, broker: str | None, local: bool, *, retry: bool) -> None:
    from imagehost.jobs.commands import default_concurrency, run, summary
    from imagehost.jobs.registry import kind_named
    from imagehost.runtime import open_context

    settings = _settings(config)
    _logging(verbose, settings)
    with open_context(settings) as ctx:
        job = ctx.jobs.get(job_id)
        if job is None:
            typer.echo(f"imagehost: no job {job_id}", err=True)
            raise typer.Exit(2)
        if retry:
            typer.echo(f"retrying {ctx.jobs.retry_failed(job_id)} failed items")
        kind = kind_named(job.kind)
        counts = run(job, kind, ctx, concurrency=jobs or default_concurrency(), every=progress,
                     broker=_broker(broker, local, ctx.settings))
    typer.echo(f"job {job.id}: " + summary(kind.name, counts))
    raise typer.Exit(1 if counts.failed or counts.pending else 0)


def _logging(verbose: bool, settings: Settings) -> None:
    from imagehost.logs import configure_logging

    configure_logging("debug" if verbose else settings.log_level, settings.log_format)


def render_config(settings: Settings) -> str:
    """YAML with a comment per option (the field's description), loadable back as config."""
    lines: list[str] = []
    for name, field in Settings.model_fields.items():
        lines.append(f"# {field.description} (env {name.upper()})")
        value = _plain(getattr(settings, name), name)
        if name in SECRET_FIELDS and value:
            value = "***"
        lines.append(yaml.safe_dump({name: value}, sort_keys=False, width=100).rstrip())
    return "\n".join(lines) + "\n"


def _plain(value: object, name: str) -> object:
    if name == "resizing_config":
        return [spec.source for spec in value]  # type: ignore[attr-defined]
    if name == "s3_credentials":
        return {group: creds.model_dump() for group, creds in value.items()}  # type: ignore[attr-defined]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def main() -> None:
    """The command line. An error an operator can fix ends with one line on stderr naming
    the setting and what to do, and exit status 2; --debug (or LOG_LEVEL=debug) shows the
    traceback too."""
    debug = "--debug" in sys.argv[1:] or os.environ.get("LOG_LEVEL", "").lower() == "debug"
    try:
        app(prog_name="imagehost")
    except ConfigError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        typer.echo(f"imagehost: {exc}", err=True)
        sys.exit(2)
    except ModuleNotFoundError as exc:
        extra = EXTRA_OF_MODULE.get((exc.name or "").partition(".")[0])
        if extra is None:
            raise
        if debug:
            import traceback

            traceback.print_exc()
        typer.echo(f"imagehost: this needs the {extra} extra, which is not installed (no module "
                   f"{exc.name!r}): pip install 'imagehost[{extra}]'", err=True)
        sys.exit(2)


# What the optional extras of pyproject.toml bring (swiftclient imports requests), for the
# one-line error of a runtime install without them.
EXTRA_OF_MODULE = {"swiftclient": "swift", "requests": "swift", "celery": "celery",
                   "kombu": "celery", "redis": "celery", "opentelemetry": "otel"}


def _require_extras(settings: Settings) -> None:
    """A long-running command checks at start for what its stores need, rather than failing
    every request later (a missing module: main's one-line error)."""
    if settings.storage_backend == "swift":
        import swiftclient  # noqa: F401


if __name__ == "__main__":
    main()
    sys.exit(0)
