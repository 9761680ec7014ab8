"""Which sweep a set of run folders belongs to: its W&B group for the summaries made from them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SPEC_COPY = "sweep.yaml"  # the copy of its sweep file every sweep folder holds


def sweep_folder(root: Path) -> Path | None:
    """The sweep folder ``root`` is, or whose ``runs/`` it is; None for other folders."""
    for folder in (root, root.parent):
        if (folder / SPEC_COPY).is_file():
            return folder
    return None


def sweep_group(roots: Iterable[Path]) -> str:
    """The W&B group of the sweep every root belongs to (its trials' group: the sweep's name); empty when the roots
    are not all of one sweep."""
    found = {sweep_folder(Path(r).resolve()) for r in roots}
    if len(found) != 1 or None in found:
        return ""
    (folder,) = found
    import yaml

    try:
        name = (yaml.safe_load((folder / SPEC_COPY).read_text()) or {}).get("name")
    except (OSError, yaml.YAMLError):
        return ""
    return str(name) if name else ""
