"""Configuration: defaults < YAML < environment, and one-line errors naming the variable."""

from pathlib import Path

import pytest
import yaml

from imagehost.cli import render_config
from imagehost.config import Settings, load_settings
from imagehost.errors import ConfigError


def test_embedded_defaults_need_no_environment() -> None:
    settings = load_settings({})
    assert settings.storage_backend == "local"
    assert settings.incoming_folder == Path("var/incoming")
    assert settings.database_url == "sqlite:///var/imagehost.db"
    assert settings.cache_control == "public, max-age=3600"
    assert settings.allowed_origins == ("*",)
    assert settings.prefix == ""
    assert (settings.max_upload_bytes, settings.max_pixels, settings.max_frames) == (
        30_000_000, 50_000_000, 500)
    assert settings.expire_after == 7200 and settings.expire_interval == 600


def test_c2corg_variables_are_honoured() -> None:
    settings = load_settings({
        "STORAGE_BACKEND": "local", "TEMP_FOLDER": "/tmp/t", "ACTIVE_FOLDER": "/srv/a",
        "ROUTE_PREFIX": "/images/", "AUTO_ORIENT_ORIGINAL": "1", "API_SECRET_KEY": "k",
        "CACHE_CONTROL": "public, max-age=60", "ALLOWED_ORIGINS": "https://a, https://b",
        "RESIZING_CONFIG": '[{"suffix": "XS", "convert": ["-resize", "78x78>"]}]'})
    assert settings.temp_folder == Path("/tmp/t")
    assert settings.active_folder == Path("/srv/a")
    assert settings.prefix == "/images"
    assert settings.auto_orient_original is True
    assert settings.allowed_origins == ("https://a", "https://b")
    assert [spec.suffix for spec in settings.resizing_config] == ["XS"]


def test_environment_overrides_yaml_which_overrides_defaults(tmp_path: Path) -> None:
    path = tmp_path / "imagehost.yaml"
    path.write_text("cache_control: from-yaml\nmax_frames: 7\nexpire_after: 3h\n")
    settings = load_settings({"IMAGEHOST_CONFIG": str(path), "MAX_FRAMES": "9"})
    assert settings.cache_control == "from-yaml"
    assert settings.max_frames == 9
    assert settings.expire_after == 3 * 3600


@pytest.mark.parametrize(("environ", "expected"), [
    ({"STORAGE_BACKEND": "ftp"}, "STORAGE_BACKEND='ftp': allowed values: 'local'"),
    ({"AUTO_ORIENT_ORIGINAL": "yes please"},
     r"AUTO_ORIENT_ORIGINAL='yes please': 'yes please' is not a boolean \(true/false, 1/0, "
     r"yes/no, on/off\)"),
    ({"MAX_PIXELS": "0"}, "MAX_PIXELS='0'"),
    ({"EXPIRE_AFTER": "soon"}, "EXPIRE_AFTER='soon': 'soon' is not a duration"),
    ({"ROUTE_PREFIX": "images"}, "ROUTE_PREFIX='images': must start with /"),
    ({"RESIZING_CONFIG": '[{"suffix": "A", "convert": ["-blur", "3"]}]'},
     "RESIZING_CONFIG=.*unsupported convert arguments -blur 3"),
])
def test_invalid_values_name_the_variable_and_what_is_allowed(
        environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as caught:
        load_settings(environ)
    assert "\n" not in str(caught.value)


def test_yaml_errors_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("colour: red\n")
    with pytest.raises(ConfigError, match="unknown options colour"):
        load_settings({}, path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({}, tmp_path / "missing.yaml")


def test_config_dump_has_every_option_with_a_comment_and_loads_back(tmp_path: Path) -> None:
    settings = load_settings({"MAX_FRAMES": "42", "ROUTE_PREFIX": "/x"})
    text = render_config(settings)
    dumped = yaml.safe_load(text)
    assert set(dumped) == set(Settings.model_fields)
    assert text.count("\n# ") + text.startswith("# ") == len(Settings.model_fields)
    path = tmp_path / "dump.yaml"
    path.write_text(text)
    assert load_settings({}, path) == settings
