"""Settings: defaults < YAML file < environment, validated into one typed object.

Environment names are the upper-case field names (the c2corg names are kept). The environment
and the YAML path are passed in explicitly, so nothing here reads process state behind the
caller's back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from imagehost.errors import ConfigError
from imagehost.imaging.limits import ImageLimits
from imagehost.imaging.variants import (
    DEFAULT_RESIZING_CONFIG,
    VariantConfigError,
    VariantSpec,
    parse_resizing_config,
    parse_variant_entries,
)

CONFIG_FILE_VARIABLE = "IMAGEHOST_CONFIG"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """Seconds from `90`, `90s`, `10m`, `2h`, `7d`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration (examples: 90s, 10m, 2h, 7d)")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


class Settings(BaseModel):
    """Every option of imagehost. The description of each is its documentation."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    storage_backend: Literal["local"] = Field(
        "local", description="Where images live: local folders.")
    temp_folder: Path = Field(
        Path("var/temp"), description="c2corg compatibility: created at start; uploads are "
                                       "processed in memory, so nothing is written there.")
    incoming_folder: Path = Field(
        Path("var/incoming"), description="Local store for uploaded, unpublished images.")
    active_folder: Path = Field(
        Path("var/active"), description="Local store for published images (served at /active).")
    database_url: str = Field(
        "sqlite:///var/imagehost.db",
        description="Catalog database (SQLAlchemy URL); a relative SQLite path is relative "
                    "to the working directory.")
    api_secret_key: str | None = Field(
        None, description="Shared secret for /publish, /delete, /recrop and /rotate. "
                          "Unset: those endpoints refuse every request.")
    route_prefix: str = Field("/", description="Path prefix for every route, e.g. /images.")
    resizing_config: tuple[VariantSpec, ...] = Field(
        default_factory=lambda: parse_resizing_config(DEFAULT_RESIZING_CONFIG),
        description="Variants made at upload: JSON list of c2corg entries "
                    "({suffix, convert: [ImageMagick args]}) or native entries "
                    "({suffix, width, height, fit, enlarge, gravity, quality, format}).")
    auto_orient_original: bool = Field(
        False, description="1: rotate JPEG originals by their EXIF orientation.")
    cache_control: str = Field(
        "public, max-age=3600", description="Cache-Control of published images.")
    allowed_origins: tuple[str, ...] = Field(
        ("*",), description="CORS origins: * or a comma-separated list.")
    max_upload_bytes: int = Field(30_000_000, ge=1, description="Largest accepted upload.")
    max_pixels: int = Field(
        50_000_000, ge=1, description="Largest accepted width x height (x frames), "
                                      "checked from the header before decoding.")
    max_frames: int = Field(500, ge=1, description="Most frames of an animated image.")
    max_svg_side: int = Field(10_000, ge=1, description="Largest declared SVG width or height.")
    expire_after: float = Field(
        7200.0, gt=0, description="Age after which unpublished uploads are removed (e.g. 2h).")
    expire_interval: float = Field(
        600.0, ge=0, description="How often the server sweeps incoming (e.g. 10m; 0 disables).")
    render_threads: int = Field(
        default_factory=lambda: os.cpu_count() or 2, ge=1,
        description="Image work threads (default: the core count).")
    render_queue: int = Field(
        16, ge=0, description="Requests allowed to wait for a thread; beyond it 503.")
    vips_concurrency: int = Field(1, ge=0, description="Threads libvips uses per image.")

    @field_validator("resizing_config", mode="before")
    @classmethod
    def _parse_variants(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_resizing_config(value)
        if isinstance(value, list):
            return parse_variant_entries(value)
        return value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("auto_orient_original", mode="before")
    @classmethod
    def _parse_flag(cls, value: Any) -> Any:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError("expected 1 or 0 (or true/false)")
        return value

    @field_validator("expire_after", "expire_interval", mode="before")
    @classmethod
    def _parse_duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @field_validator("route_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @property
    def prefix(self) -> str:
        """ROUTE_PREFIX as routers take it: `/` gives ``, `/images/` gives `/images`."""
        return self.route_prefix.rstrip("/")

    @property
    def limits(self) -> ImageLimits:
        return ImageLimits(self.max_upload_bytes, self.max_pixels, self.max_frames,
                           self.max_svg_side)


def env_name(field: str) -> str:
    return field.upper()


def load_settings(environ: Mapping[str, str] | None = None,
                  config_file: Path | None = None) -> Settings:
    """Build Settings from defaults, then the YAML file, then the environment."""
    environ = os.environ if environ is None else environ
    path = config_file or (Path(environ[CONFIG_FILE_VARIABLE])
                           if environ.get(CONFIG_FILE_VARIABLE) else None)
    values: dict[str, Any] = dict(read_yaml(path)) if path else {}
    from_env = {name: environ[env_name(name)] for name in Settings.model_fields
                if env_name(name) in environ}
    values.update(from_env)
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, values, from_env)) from None
    except VariantConfigError as exc:
        raise ConfigError(_one_line("resizing_config", values, from_env, str(exc))) from None


def read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(
            f"{CONFIG_FILE_VARIABLE}={path}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{CONFIG_FILE_VARIABLE}={path}: invalid YAML ({exc})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{CONFIG_FILE_VARIABLE}={path}: expected a mapping of option: value")
    unknown = sorted(set(loaded) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"{path}: unknown options {', '.join(unknown)}; allowed: "
                          f"{', '.join(Settings.model_fields)}")
    return loaded


def _describe(exc: ValidationError, values: Mapping[str, Any], from_env: Mapping[str, Any]) -> str:
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "?"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "literal_error":
        message = f"allowed values: {error['ctx']['expected']}"
    return _one_line(field, values, from_env, message)


def _one_line(field: str, values: Mapping[str, Any], from_env: Mapping[str, Any],
              message: str) -> str:
    source = env_name(field) if field in from_env else f"{field} (config file)"
    return f"{source}={values.get(field)!r}: {message}"
