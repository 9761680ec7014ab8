"""Dataset cards: one YAML per dataset naming its classes, image shape, splits and sources."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.core.errors import MAX_YAML_BYTES
from harness.core.errors import DataError as DataError  # the data modules import it from here
from harness.core.places import at_home, data_home

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the repository, or site-packages when installed
# datasets/cards of a source checkout; installed, the same files are the package data harness/cards, so names work
# from any folder
CARDS_DIR = next(
    (d for d in (PACKAGE_ROOT / "datasets" / "cards", PACKAGE_ROOT / "harness" / "cards") if d.is_dir()),
    PACKAGE_ROOT / "datasets" / "cards",
)


@dataclass(frozen=True)
class Card:
    name: str
    classes: int
    shape: tuple[int, int, int]  # C, H, W
    sources: list[dict[str, Any]]
    expected: dict[str, int]
    shard_size: int = 1000
    shuffle_seed: int = 0
    split: dict[str, Any] = field(default_factory=dict)
    class_names: list[str] = field(default_factory=list)
    fetch: str = ""  # how to get the source files, shown when none can be read
    path: str = ""
    sha256: str = ""


def card_path(name_or_path: str) -> Path:
    """A card file from a dataset name (``datasets/cards/<name>.yaml``) or an explicit path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        return p
    return CARDS_DIR / f"{name_or_path}.yaml"


def available_cards() -> list[str]:
    return sorted(p.stem for p in CARDS_DIR.glob("*.yaml"))


def load_card(name_or_path: str) -> Card:
    path = card_path(name_or_path)
    if not path.is_file():
        raise DataError(
            f"no dataset card '{name_or_path}' (looked for {path}); known datasets: {', '.join(available_cards())}"
        )
    if path.stat().st_size > MAX_YAML_BYTES:
        raise DataError(f"{path}: {path.stat().st_size} bytes, more than a dataset card may hold ({MAX_YAML_BYTES})")
    text = path.read_text()
    raw = yaml.safe_load(text) or {}
    missing = [k for k in ("name", "classes", "shape", "sources", "expected") if k not in raw]
    if missing:
        raise DataError(f"{path}: missing card keys {missing}")
    known = set(Card.__dataclass_fields__) - {"path", "sha256"}
    unknown = set(raw) - known
    if unknown:
        raise DataError(f"{path}: unknown card keys {sorted(unknown)} (allowed: {sorted(known)})")
    shape = tuple(int(v) for v in raw["shape"])
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise DataError(f"{path}: shape must be [channels (1 or 3), height, width], got {raw['shape']}")
    return Card(**{**raw, "shape": shape, "path": str(path), "sha256": hashlib.sha256(text.encode()).hexdigest()})


def data_root(root: str = "") -> Path:
    """Where built shards live: the explicit root, else ``$CODEGAN_DATA``, else ``<home>/datasets``
    (:mod:`harness.core.places`; relative roots are taken from the home folder)."""
    return at_home(root) if root else data_home()
