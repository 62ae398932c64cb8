"""The node home: one folder holding the config (TOML), the SQLite database and the keys.

Everything a node knows lives under its home, so a backup or a move is one folder.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import tomli_w

from .errors import HomeError

CONFIG_NAME = "config.toml"
DATABASE_NAME = "tafuta.db"
KEYS_DIR = "keys"
DEFAULT_HOME = "~/.tafuta"


@dataclass(frozen=True)
class Home:
    """Paths and settings of one node home."""

    path: Path
    config: dict

    @property
    def name(self) -> str:
        return self.config["node"]["name"]

    @property
    def url(self) -> str:
        return self.config["node"].get("url", "")

    @property
    def database_path(self) -> Path:
        return self.path / DATABASE_NAME

    @property
    def keys_path(self) -> Path:
        return self.path / KEYS_DIR

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_NAME


def resolve_home_path(value: str | os.PathLike | None) -> Path:
    return Path(os.path.expanduser(str(value or DEFAULT_HOME))).absolute()


def create_home(path: Path, name: str, url: str = "", now: datetime | None = None) -> Home:
    """Create a new node home; refuses to touch a folder that already holds a node."""
    name = name.strip()
    if not name:
        raise HomeError("the node name must not be empty")
    if any(ch in name for ch in "\r\n\t"):
        raise HomeError("the node name must be a single line")
    if url and not url.startswith(("http://", "https://")):
        raise HomeError(f"the URL {url!r} must start with http:// or https://")
    if (path / CONFIG_NAME).exists() or (path / DATABASE_NAME).exists():
        raise HomeError(f"{path} already holds a Tafuta node; refusing to overwrite it")
    if path.exists() and not path.is_dir():
        raise HomeError(f"{path} exists and is not a folder")
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    config = {"node": {"name": name, "url": url, "created": when}}
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        (path / KEYS_DIR).mkdir(exist_ok=True, mode=0o700)
        tmp = path / (CONFIG_NAME + ".tmp")
        tmp.write_bytes(tomli_w.dumps(config).encode("utf-8"))
        os.replace(tmp, path / CONFIG_NAME)
    except OSError as err:
        raise HomeError(f"cannot create the node home {path}: {err.strerror}") from err
    return Home(path=path, config=config)


def open_home(path: Path) -> Home:
    """Open an existing home, with a hint when there is none."""
    config_path = path / CONFIG_NAME
    if not config_path.exists():
        raise HomeError(
            f"no Tafuta node at {path}; create one with 'tafuta --home {path} init --name NAME'"
        )
    try:
        config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise HomeError(f"cannot read {config_path}: {err}") from err
    if not isinstance(config.get("node"), dict) or not config["node"].get("name"):
        raise HomeError(f"{config_path} has no [node] name; is this a Tafuta home?")
    return Home(path=path, config=config)
