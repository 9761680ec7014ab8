"""The plugins a sweep ran with, kept in its folder (``plugins.json``), so its analysis needs no ``--plugin``."""

from __future__ import annotations

import json
from pathlib import Path

from harness.config.registry import plugin_modules, use_plugin
from harness.core.atomic import atomic_write_text
from harness.core.errors import ConfigError

PLUGINS_FILE = "plugins.json"


def remember_plugins(folder: Path) -> None:
    """Write the ``--plugin`` modules of this process (with those an earlier start of the sweep recorded)."""
    mods = list(dict.fromkeys([*recorded_plugins(folder), *plugin_modules()]))
    atomic_write_text(folder / PLUGINS_FILE, json.dumps({"plugins": mods}, indent=1))


def recorded_plugins(folder: Path) -> list[str]:
    """The modules ``plugins.json`` names; none when there is no such file."""
    path = folder / PLUGINS_FILE
    if not path.is_file():
        return []
    try:
        mods = json.loads(path.read_text()).get("plugins", [])
    except (ValueError, AttributeError):
        raise ConfigError(f'{path}: not a plugins file (expected {{"plugins": [module, ...]}})') from None
    if not isinstance(mods, list) or not all(isinstance(m, str) and m for m in mods):
        raise ConfigError(f"{path}: plugins must be a list of module names, got {mods!r}")
    return mods


def load_recorded_plugins(folder: Path) -> list[str]:
    """Load the plugins the sweep ran with (as ``--plugin`` would) and say so once; the modules loaded."""
    mods = [m for m in recorded_plugins(folder) if m not in plugin_modules()]
    for module in mods:
        use_plugin(module)
    if mods:
        print(f"plugins of this sweep (from {folder / PLUGINS_FILE}): {', '.join(mods)}")
    return mods
