"""Settings: defaults < YAML file < environment, validated into one typed object.

Environment names are the upper-case field names (the c2corg names are kept). The environment
and the YAML path are passed in explicitly, so nothing here reads process state behind the
caller's back.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from imagehost.catalog.filters import FilterError, parse_path
from imagehost.errors import ConfigError
from imagehost.imaging.formats import OUTPUT_FORMATS
from imagehost.imaging.limits import ImageLimits
from imagehost.imaging.privacy import MetadataMode
from imagehost.imaging.variants import (
    DEFAULT_RESIZING_CONFIG,
    VariantConfigError,
    VariantSpec,
    parse_resizing_config,
    parse_variant_entries,
)
from imagehost.values import comma_list, parse_bool, parse_duration, parse_rate

CONFIG_FILE_VARIABLE = "IMAGEHOST_CONFIG"
LADDER_MIN_SIDE, LADDER_MAX_SIDE = 16, 16384


def _comma_list(value: Any) -> Any:
    """A comma list from the environment; anything but a string is left to validation."""
    return comma_list(value) if isinstance(value, str) else value


class S3Credentials(BaseModel):
    """One c2corg credential group `<P>_ENDPOINT`, `<P>_ACCESS_KEY_ID`, `<P>_SECRET_KEY`,
    `<P>_DEFAULT_REGION`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: str | None = None
    access_key_id: str | None = None
    secret_key: str | None = None
    region: str | None = None


_CREDENTIAL_SUFFIXES = {"endpoint": "ENDPOINT", "access_key_id": "ACCESS_KEY_ID",
                        "secret_key": "SECRET_KEY", "region": "DEFAULT_REGION"}
SECRET_FIELDS = frozenset({"api_secret_key", "api_keys", "url_signing_key", "os_password",
                           "swift_temp_url_key", "signed_url_key", "s3_credentials"})


class Settings(BaseModel):
    """Every option of imagehost. The description of each is its documentation."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    storage_backend: Literal["local", "s3", "swift"] = Field(
        "local", description="Where images live: local folders, S3 buckets or Swift containers.")
    temp_folder: Path = Field(
        Path("var/temp"), description="c2corg compatibility: created at start; uploads are "
                                       "processed in memory, so nothing is written there.")
    incoming_folder: Path = Field(
        Path("var/incoming"), description="Local store for uploaded, unpublished images.")
    active_folder: Path = Field(
        Path("var/active"), description="Local store for published images (served at /active).")
    cache_folder: Path = Field(
        Path("var/cache"), description="Local store for cached derivatives.")
    incoming_bucket: str | None = Field(
        None, description="s3/swift: bucket (container) for uploaded, unpublished images.")
    active_bucket: str | None = Field(
        None, description="s3/swift: bucket (container) for published images.")
    cache_bucket: str | None = Field(
        None, description="s3/swift: bucket (container) for cached derivatives (optional).")
    incoming_prefix: str | None = Field(
        None, description="s3: credential group of the incoming bucket, e.g. EXO reads "
                          "EXO_ENDPOINT, EXO_ACCESS_KEY_ID, EXO_SECRET_KEY, EXO_DEFAULT_REGION; "
                          "unset: boto3's default credential chain.")
    active_prefix: str | None = Field(
        None, description="s3: credential group of the active bucket (as incoming_prefix).")
    cache_prefix: str | None = Field(
        None, description="s3: credential group of the cache bucket (as incoming_prefix).")
    s3_credentials: dict[str, S3Credentials] = Field(
        default_factory=dict, description="s3: credential groups by name (filled from the "
                                          "<P>_* variables, or given here in YAML).")
    s3_signature_version: Literal["s3v4", "s3"] = Field(
        "s3v4", description="s3: request signature version.")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="s3: bucket addressing; auto is path-style for a custom endpoint.")
    s3_acl: bool = Field(
        True, description="s3: send ACLs (incoming private, active public-read); turn off "
                          "for providers that refuse ACLs and publish through bucket policy.")
    os_auth_url: str | None = Field(
        None, description="swift: auth URL (v1 .../auth/v1.0 or Keystone v3 .../v3).")
    os_username: str | None = Field(None, description="swift: user name.")
    os_password: str | None = Field(None, description="swift: password or key.")
    os_project_name: str | None = Field(None, description="swift: Keystone v3 project.")
    os_user_domain_name: str | None = Field(
        None, description="swift: Keystone v3 user domain (default Default).")
    os_project_domain_name: str | None = Field(
        None, description="swift: Keystone v3 project domain (default Default).")
    os_region_name: str | None = Field(None, description="swift: region.")
    swift_temp_url_key: str | None = Field(
        None, description="swift: TempURL key; set on the containers at start. Unset: the "
                          "containers' existing key is used.")
    store_connect_timeout: float = Field(
        3.0, gt=0, description="s3/swift: seconds to connect before the store counts as down.")
    store_read_timeout: float = Field(
        30.0, gt=0, description="s3/swift: seconds to wait for an answer.")
    store_max_attempts: int = Field(
        3, ge=1, description="s3/swift: attempts per call (bounded retries).")
    store_request_budget: float = Field(
        30.0, gt=0, description="s3/swift: most seconds one store call may take, its retries "
                                "included (e.g. 30s): each attempt's connect and read "
                                "timeouts are cut so that every attempt and the pauses "
                                "between them fit.")
    multipart_threshold: int = Field(
        8 * 1024 * 1024, ge=5 * 1024 * 1024,
        description="s3: objects at least this large go up in multipart.")
    service_url: str | None = Field(
        None, description="Base URL clients use to reach this service, for signed /files URLs "
                          "of the local store. Unset: each request's own scheme, host and "
                          "port (X-Forwarded-Proto and -Host from FORWARDED_ALLOW_IPS).")
    active_public_url: str | None = Field(
        None, description="Public base URL of published objects (e.g. a CDN). Unset: "
                          "<service_url>/active (local store), the bucket URL, or the "
                          "container URL.")
    signed_url_key: str | None = Field(
        None, description="HMAC key for signed /files URLs of the local store. Unset: a "
                          "random key per process (URLs then die with the process; set it "
                          "when running several instances).")
    signed_url_lifetime: float = Field(
        172800.0, gt=0, description="Default lifetime of temporary URLs (e.g. 2d).")
    database_url: str = Field(
        "sqlite:///var/imagehost.db",
        description="Catalog database (SQLAlchemy URL); a relative SQLite path is relative "
                    "to the working directory.")
    indexed_keys: tuple[str, ...] = Field(
        (), description="Data keys filtered often (comma list, dotted for nesting: "
                        "site,plot.zone): `imagehost index --apply` gives each an index, so "
                        "equality, in and comparisons on it use an index on SQLite and "
                        "comparisons do on PostgreSQL (columns kept by a trigger; its GIN "
                        "index serves equality).")
    api_secret_key: str | None = Field(
        None, description="Shared secret for /publish, /delete, /recrop and /rotate. "
                          "Unset: those endpoints refuse every request.")
    api_keys: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description="Bearer keys of the records API with their scopes (read, write, admin), "
                    "as key:scope,scope;key2:scope. API_SECRET_KEY is an admin key too.")
    auth_required: bool = Field(
        True, description="0: callers without a key may read and write the records API (for "
                          "a deployment behind its own gateway, as the storage microservice "
                          "runs); API keys keep their scopes, c2corg routes their secret.")
    public_listing: bool = Field(
        False, description="1: callers without a key may list published images and read "
                           "their records (GET /images, archive=zip, /export, "
                           "GET /images/{id}, /fields); 0: those need the read scope. "
                           "Published images' bytes are public either way.")
    route_prefix: str = Field("/", description="Path prefix for every route, e.g. /images.")
    resizing_config: tuple[VariantSpec, ...] = Field(
        default_factory=lambda: parse_resizing_config(DEFAULT_RESIZING_CONFIG),
        description="Variants made at upload: JSON list of c2corg entries "
                    "({suffix, convert: [ImageMagick args]}) or native entries "
                    "({suffix, width, height, fit, enlarge, gravity, quality, format}).")
    ladder_sides: tuple[int, ...] = Field(
        (1024, 256), description="The ladder: reduced copies of each upload, made from its one "
                                 "decode and stored next to it, that derived images render "
                                 "from instead of the original; a comma list of longest sides "
                                 "(a step is kept only where the original is at least twice "
                                 "as large); empty: no ladder.")
    auto_orient_original: bool = Field(
        False, description="1: rotate JPEG originals by their EXIF orientation.")
    original_metadata: MetadataMode = Field(
        "strip-private",
        description="Metadata of stored originals: strip-private removes GPS, serial numbers, "
                    "owner and author names and maker notes (EXIF and XMP) and keeps "
                    "orientation, ICC profile, capture time and camera model; strip-all keeps "
                    "only the orientation and ICC profile; keep stores the uploaded bytes.")
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
    max_svg_bytes: int = Field(
        5_000_000, ge=1, description="Largest SVG accepted, in bytes, entities expanded; "
                                     "checked before it is parsed.")
    max_svg_elements: int = Field(
        50_000, ge=1, description="Most elements in an SVG, counting the copies its <use> "
                                  "and url(#id) references draw.")
    import_max_bytes: int = Field(
        1_000_000_000, ge=1, description="Largest archive accepted by /import.")
    import_max_entries: int = Field(10_000, ge=1, description="Most entries in an archive.")
    import_max_total_bytes: int = Field(
        2_000_000_000, ge=1, description="Most bytes an archive may expand to.")
    import_max_ratio: float = Field(
        100.0, gt=1, description="Highest compression ratio of an archive entry (zip bombs).")
    url_signing_key: str | None = Field(
        None, description="Set: derived-image requests need sig (HMAC-SHA256 of path and "
                          "canonical parameters, optional expires); unsigned requests may "
                          "only ask for variants and presets.")
    derived_presets: dict[str, str] = Field(
        default_factory=dict, description="Named derivations allowed without a signature, "
                                          "as name:query;name2:query (e.g. thumb:w=200&h=200).")
    derived_max_side: int = Field(
        4096, ge=16, description="Largest width or height of a derived image.")
    derived_quality: dict[str, int] = Field(
        default_factory=lambda: {"jpeg": 82, "webp": 80, "avif": 55, "png": 90, "gif": 100},
        description="Default quality per output format, as format:quality;... (the formats "
                    "not named keep their defaults).")
    avif_effort: int = Field(
        0, ge=0, le=9, description="AVIF encoder effort (0 fastest .. 9 smallest; 0 is about 6x "
                                   "faster than 2 for 3% larger files).")
    full_effort_pixels: int = Field(
        65_536, ge=0, description="Derived images up to this many pixels (256x256) are "
                                  "encoded at full effort: WebP at method 4, JPEG with "
                                  "optimised Huffman tables. Larger ones at WebP method 2 and "
                                  "standard tables: 2.2x and 2x faster to encode for 4% and 2% "
                                  "more bytes (0: fast at every size).")
    thumbnail_size: int = Field(50, ge=8, le=1024, description="Default thumbnail box side.")
    thumbnail_enhancements: tuple[str, ...] = Field(
        ("sharpen",), description="Enhancements applied to thumbnails: sharpen, equalise.")
    expose_gps: bool = Field(False, description="Include GPS position in meta=true answers "
                                                "(originals keep one only with "
                                                "original_metadata keep).")
    derived_cache_control: str = Field(
        "public, max-age=31536000, immutable",
        description="Cache-Control of derived images (their ETag changes with the original).")
    memory_cache_bytes: int = Field(
        256 * 1024 * 1024, ge=0, description="In-process cache of derived images (0: off).")
    record_cache_seconds: float = Field(
        1.0, ge=0, description="How long a published record is kept in process for derived "
                               "images; changes by other processes show after it (0: off).")
    disk_cache_folder: Path = Field(
        Path("var/derived"), description="Local disk cache of derived images (survives "
                                         "restarts).")
    disk_cache_bytes: int = Field(
        2 * 1024 * 1024 * 1024, ge=0, description="Size bound of the disk cache (0: off), "
                                                  "kept by every process and instance "
                                                  "sharing the folder.")
    cache_store_max_bytes: int = Field(
        10 * 1024 * 1024 * 1024, ge=0,
        description="Size bound of the derived images in the cache store, kept across "
                    "instances through the catalog; the least recently used go first "
                    "(0: unbounded).")
    cache_store_max_age: float = Field(
        0.0, ge=0, description="Derived images unused in the cache store for this long are "
                               "removed by expire (e.g. 30d; 0: no age limit).")
    archive_max_images: int = Field(
        500, ge=1, description="Most images in one archive=zip answer.")
    archive_max_bytes: int = Field(
        500 * 1024 * 1024, ge=1, description="Largest archive=zip answer.")
    v5_database_url: str | None = Field(
        None, description="migrate: SQLAlchemy URL of the v5 database (app_images_archives).")
    v5_order: Literal["ASC", "DESC"] = Field(
        "ASC", description="migrate: order of v5 images by archive id.")
    v5_bucket: str | None = Field(None, description="migrate: bucket holding v5 originals.")
    v5_prefix: str | None = Field(
        None, description="migrate: credential group of the v5 bucket (as INCOMING_PREFIX).")
    v5_base_url: str | None = Field(
        None, description="migrate: base URL of v5 originals (<url>/<key>), instead of a "
                          "bucket.")
    broker_url: str | None = Field(
        None, description="Celery broker (redis://...) for distributed jobs and workers.")
    expire_after: float = Field(
        7200.0, gt=0, description="Age after which unpublished uploads are removed (e.g. 2h).")
    expire_interval: float = Field(
        600.0, ge=0, description="How often the server sweeps incoming (e.g. 10m; 0 disables).")
    abandoned_write_age: float = Field(
        600.0, gt=0, description="Age after which what an interrupted write left (temporary "
                                 "files, incomplete multipart uploads, objects of an upload "
                                 "that never got its row) is removed, at start and by "
                                 "expire (e.g. 10m).")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        "info", description="Log level (debug also shows the traceback of a start-up error).")
    access_log: bool = Field(
        True, description="One log line per request (0 behind a proxy that logs them).")
    log_format: Literal["text", "json"] = Field(
        "text", description="text, or json: one JSON object per line (time, level, message, "
                            "request id, method, path, status, duration, record id).")
    otel_exporter_otlp_endpoint: str | None = Field(
        None, description="OpenTelemetry collector (OTLP/HTTP, e.g. http://127.0.0.1:4318): "
                          "spans of requests, decode, render, store and catalog calls go "
                          "there (needs the otel extra); unset: no tracing.")
    render_threads: int = Field(
        default_factory=lambda: (os.cpu_count() or 1) + 1, ge=1,
        description="Image work threads (default: the core count + 1; while one waits for a "
                    "store read, the others keep the cores busy).")
    render_queue: int = Field(
        16, ge=0, description="Requests allowed to wait for a thread; beyond it 503.")
    vips_concurrency: int = Field(1, ge=0, description="Threads libvips uses per image.")
    rate_limit_uploads: str = Field(
        "", description="Uploads per client (API key, else address) and period, as N/period "
                        "(60/m, 1000/h); empty or 0: no limit. Per process.")
    rate_limit_renders: str = Field(
        "", description="Derived-image renders per client (API key, else address) and "
                        "period, as N/period (120/m); cache hits and 304s are never "
                        "counted; empty or 0: no limit. Per process.")
    forwarded_allow_ips: tuple[str, ...] = Field(
        ("127.0.0.1", "::1"), description="Proxies trusted for X-Forwarded-For, -Proto and "
                                          "-Host: addresses or CIDR networks, "
                                          "comma-separated, or *; the client address of rate "
                                          "limits and logs is the one they forward.")

    @field_validator("resizing_config", mode="before")
    @classmethod
    def _parse_variants(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_resizing_config(value)
        if isinstance(value, list):
            return parse_variant_entries(value)
        return value

    @field_validator("derived_presets", "derived_quality", mode="before")
    @classmethod
    def _parse_pairs(cls, value: Any) -> Any:
        if isinstance(value, str):
            pairs = (part.partition(":") for part in value.split(";") if part.strip())
            return {name.strip(): rest.strip() for name, _, rest in pairs}
        return value

    @field_validator("derived_quality")
    @classmethod
    def _complete_qualities(cls, value: dict[str, int]) -> dict[str, int]:
        defaults = cls.model_fields["derived_quality"].get_default(call_default_factory=True)
        unknown = sorted(set(value) - set(defaults))
        if unknown:
            raise ValueError(f"unknown formats {', '.join(unknown)}; allowed: "
                             f"{', '.join(OUTPUT_FORMATS)}")
        if any(not 1 <= quality <= 100 for quality in value.values()):
            raise ValueError("qualities are 1..100")
        return {**defaults, **value}

    @field_validator("ladder_sides", mode="before")
    @classmethod
    def _parse_ladder(cls, value: Any) -> Any:
        value = _comma_list(value)
        if isinstance(value, tuple | list):
            try:
                value = [int(side) for side in value]
            except (TypeError, ValueError):
                raise ValueError("a comma list of sides in pixels, e.g. 1024,256") from None
            if any(not LADDER_MIN_SIDE <= side <= LADDER_MAX_SIDE for side in value):
                raise ValueError(f"each side is {LADDER_MIN_SIDE}..{LADDER_MAX_SIDE} px")
            value = tuple(sorted(set(value), reverse=True))
        return value

    @field_validator("thumbnail_enhancements", mode="before")
    @classmethod
    def _split_enhancements(cls, value: Any) -> Any:
        value = _comma_list(value)
        bad = sorted(set(value) - {"sharpen", "equalise"})
        if bad:
            raise ValueError(f"unknown enhancements {', '.join(bad)}; allowed: sharpen, "
                             "equalise")
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_api_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            keys: dict[str, tuple[str, ...]] = {}
            for entry in filter(None, (part.strip() for part in value.split(";"))):
                key, _, scopes = entry.partition(":")
                keys[key.strip()] = comma_list(scopes)
            value = keys
        if isinstance(value, dict):
            for key, scopes in value.items():
                bad = sorted(set(scopes) - {"read", "write", "admin"})
                if len(key) < 8 or bad or not scopes:
                    raise ValueError("expected key:scope,... with keys of 8+ characters and "
                                     "scopes among read, write, admin")
        return value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        return _comma_list(value)

    @field_validator("indexed_keys", mode="before")
    @classmethod
    def _parse_indexed_keys(cls, value: Any) -> Any:
        keys = _comma_list(value)
        if not isinstance(keys, list | tuple):
            return keys
        try:
            paths = [parse_path(str(key).removeprefix("data."), "INDEXED_KEYS") for key in keys]
        except FilterError:
            raise ValueError("keys are letters, digits, _ or -, joined by dots (site,plot.zone)"
                             ) from None
        return tuple(dict.fromkeys(".".join(path) for path in paths))

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        proxies = _comma_list(value)
        for proxy in proxies if isinstance(proxies, list | tuple) else ():
            if proxy != "*":
                try:
                    ipaddress.ip_network(proxy, strict=False)
                except ValueError:
                    raise ValueError(f"{proxy!r} is not an address, a CIDR network or *"
                                     ) from None
        return proxies

    @field_validator("rate_limit_uploads", "rate_limit_renders", mode="before")
    @classmethod
    def _check_rate(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            parse_rate(value)
            return value.strip()
        return value

    @field_validator("auto_orient_original", "s3_acl", "expose_gps", "auth_required",
                     "public_listing",
                     "access_log", mode="before")
    @classmethod
    def _parse_flag(cls, value: Any, info: ValidationInfo) -> Any:
        """An empty value is the default (AUTH_REQUIRED= must not open the API)."""
        if isinstance(value, str):
            if not value.strip():
                return cls.model_fields[str(info.field_name)].default
            return parse_bool(value)
        return value

    @field_validator("expire_after", "expire_interval", "signed_url_lifetime",
                     "store_request_budget", "cache_store_max_age", "abandoned_write_age",
                     mode="before")
    @classmethod
    def _parse_duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @field_validator("v5_order", mode="before")
    @classmethod
    def _upper_order(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("route_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @model_validator(mode="after")
    def _check_backend(self) -> Settings:
        if self.storage_backend in ("s3", "swift"):
            for name in ("incoming_bucket", "active_bucket"):
                if not getattr(self, name):
                    raise ValueError(f"{env_name(name)} is required with "
                                     f"STORAGE_BACKEND={self.storage_backend}")
        if self.storage_backend == "swift":
            for name in ("os_auth_url", "os_username", "os_password"):
                if not getattr(self, name):
                    raise ValueError(f"{env_name(name)} is required with STORAGE_BACKEND=swift")
        return self

    def credentials(self, group: str | None) -> S3Credentials:
        return self.s3_credentials.get(group or "", S3Credentials())

    @property
    def prefix(self) -> str:
        """ROUTE_PREFIX as routers take it: `/` gives ``, `/images/` gives `/images`."""
        return self.route_prefix.rstrip("/")

    def scopes_of(self, key: str) -> frozenset[str]:
        """The scopes a bearer key grants (admin implies write and read, write implies read)."""
        if self.api_secret_key and hmac.compare_digest(key.encode(), self.api_secret_key.encode()):
            granted: set[str] = {"admin"}
        else:
            granted = set()
            for known, scopes in self.api_keys.items():
                if hmac.compare_digest(key.encode(), known.encode()):
                    granted = set(scopes)
        if "admin" in granted:
            granted |= {"write"}
        if "write" in granted:
            granted |= {"read"}
        return frozenset(granted)

    @property
    def limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels,
                           max_frames=self.max_frames, max_svg_side=self.max_svg_side,
                           max_svg_bytes=self.max_svg_bytes,
                           max_svg_elements=self.max_svg_elements)


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
    groups = _credential_groups(values, environ)
    if groups:
        values["s3_credentials"] = {**values.get("s3_credentials", {}), **groups}
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, values, from_env)) from None
    except VariantConfigError as exc:
        raise ConfigError(_one_line("resizing_config", values, from_env, str(exc))) from None


def _credential_groups(values: Mapping[str, Any],
                       environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """c2corg's scheme: INCOMING_PREFIX=EXO names the variables EXO_ENDPOINT and so on."""
    groups: dict[str, dict[str, str]] = {}
    for role in ("incoming_prefix", "active_prefix", "cache_prefix", "v5_prefix"):
        group = values.get(role)
        if not group:
            continue
        found = {field: environ[f"{group}_{suffix}"]
                 for field, suffix in _CREDENTIAL_SUFFIXES.items()
                 if environ.get(f"{group}_{suffix}")}
        if found:
            groups[group] = found
    return groups


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
    message = error["msg"].removeprefix("Value error, ")
    if not error["loc"]:
        return message
    field = str(error["loc"][0])
    if error["type"] == "literal_error":
        message = f"allowed values: {error['ctx']['expected']}"
    return _one_line(field, values, from_env, message)


def _one_line(field: str, values: Mapping[str, Any], from_env: Mapping[str, Any],
              message: str) -> str:
    source = env_name(field) if field in from_env else f"{field} (config file)"
    return f"{source}={values.get(field)!r}: {message}"
