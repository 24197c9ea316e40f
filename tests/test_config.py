"""The data directory and its PIXSEEK_HOME override."""

from __future__ import annotations

from pathlib import Path

import platformdirs
import pytest

from pixseek import config


def test_pixseek_home_overrides_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXSEEK_HOME", str(tmp_path / "home"))
    assert config.data_dir() == tmp_path / "home"
    assert config.default_db_dir() == tmp_path / "home" / "default"


def test_data_dir_is_not_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXSEEK_HOME", str(tmp_path / "home"))
    config.default_db_dir()
    assert not (tmp_path / "home").exists()


def test_pixseek_home_expands_the_user_and_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("USERPROFILE", str(tmp_path))
    monkeypatch.setenv("PIXSEEK_HOME", "~/px")
    assert config.data_dir() == tmp_path / "px"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIXSEEK_HOME", "rel")
    assert config.data_dir() == tmp_path / "rel"


@pytest.mark.parametrize("value", [None, "", "  "])
def test_without_override_the_platform_data_dir_is_used(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("PIXSEEK_HOME", raising=False)
    else:
        monkeypatch.setenv("PIXSEEK_HOME", value)
    expected = Path(platformdirs.user_data_dir("pixseek", appauthor=False))
    assert config.data_dir() == expected
    assert config.data_dir().name == "pixseek"
    assert config.default_db_dir() == expected / "default"


def test_defaults() -> None:
    assert config.APP_NAME == "pixseek"
    assert config.DEFAULT_MODEL == "ViT-B-32"
    assert config.DEFAULT_PRETRAINED == "laion2b_s34b_b79k"
