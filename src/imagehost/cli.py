"""The imagehost command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

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
    try:
        return load_settings(os.environ, config)
    except ConfigError as exc:
        typer.echo(f"imagehost: configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Start the HTTP service."""
    import uvicorn

    _settings(config)
    if config is not None:
        os.environ[CONFIG_FILE_VARIABLE] = str(config.resolve())
    uvicorn.run("imagehost.web.app:create_app_from_environment", factory=True, host=host,
                port=port, workers=workers, log_level=log_level, proxy_headers=True)


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
    from imagehost.config import parse_duration
    from imagehost.service.expiry import expire_incoming
    from imagehost.web.app import build_services

    settings = _settings(config)
    try:
        age = parse_duration(older_than) if older_than else settings.expire_after
    except ValueError as exc:
        typer.echo(f"imagehost: --older-than: {exc}", err=True)
        raise typer.Exit(2) from None
    svc = build_services(settings)
    report = expire_incoming(older_than=age, policy=svc.policy, incoming=svc.stores.incoming,
                             catalog=svc.catalog, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for key in report.objects:
        typer.echo(f"{verb} {key}")
    typer.echo(f"{verb} {len(report.objects)} objects and {report.records} records")


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
    from imagehost.storage.factory import build_stores
    from imagehost.storage.s3 import S3Store

    settings = _settings(config)
    incoming = build_stores(settings).incoming
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
    app(prog_name="imagehost")


if __name__ == "__main__":
    main()
    sys.exit(0)
