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

from .dates import DATE_ORDERS, date_order_for
from .errors import HomeError

CONFIG_NAME = "config.toml"
DATABASE_NAME = "tafuta.db"
KEYS_DIR = "keys"
IDENTITY_NAME = "identity.json"
DEFAULT_GRACE_DAYS = 30  # retired keys still open in-flight messages and verify old audit entries
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

    @property
    def identity_path(self) -> Path:
        """The node's encrypted private keys and its public node document (keys/keystore.py)."""
        return self.keys_path / IDENTITY_NAME

    @property
    def date_order(self) -> str:
        """How this node reads dates like 03/04/2006: [import] date_order in config.toml, else
        the usual order of [node] country (dmy for Kenya and most countries; dmy if unset)."""
        order = self.config.get("import", {}).get("date_order")
        if order is None:
            return date_order_for(self.config["node"].get("country"))
        if order not in DATE_ORDERS:
            raise HomeError(f"{self.config_path}: [import] date_order must be dmy or mdy")
        return order

    @property
    def consent_defaults(self) -> dict[str, str]:
        """The node's consent for records that do not say: [consent] match and contact in
        config.toml, "yes" or "no"; yes when unset."""
        settings = self.config.get("consent", {})
        defaults = {}
        for key in ("match", "contact"):
            value = settings.get(key, "yes")
            if value not in ("yes", "no"):
                raise HomeError(f'{self.config_path}: [consent] {key} must be "yes" or "no"')
            defaults[f"consent_{key}"] = value
        return defaults

    @property
    def retired_key_grace_days(self) -> int:
        """How long retired keys are kept after a rotation: [keys] retired_key_grace_days."""
        value = self.config.get("keys", {}).get("retired_key_grace_days", DEFAULT_GRACE_DAYS)
        if type(value) is not int or value < 0:
            raise HomeError(f"{self.config_path}: retired_key_grace_days must be a whole number")
        return value


def resolve_home_path(value: str | os.PathLike | None) -> Path:
    return Path(os.path.expanduser(str(value or DEFAULT_HOME))).absolute()


def create_home(
    path: Path, name: str, url: str = "", now: datetime | None = None, country: str = ""
) -> Home:
    """Create a new node home; refuses to touch a folder that already holds a node.

    ``country`` (ISO 3166 alpha-2, optional) sets how dates like 03/04/2006 are read.
    """
    name = check_new_home(path, name, url, country)
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    return _write_new_home(path, name, url, when, country.strip().upper())


def check_new_home(path: Path, name: str, url: str = "", country: str = "") -> str:
    """Check that a home can be created here with these values; returns the cleaned name."""
    if country and not (len(country.strip()) == 2 and country.strip().isalpha()):
        raise HomeError(f"the country {country!r} must be a two-letter code such as KE")
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
    return name


def _write_new_home(path: Path, name: str, url: str, when: str, country: str = "") -> Home:
    config = {"node": {"name": name, "url": url, "created": when}}
    if country:
        config["node"]["country"] = country
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
