"""Presets by name or path: ``fashion-mnist`` (the default method's, CoDeGAN), ``infogan/fashion-mnist``,
``codegan/configs/x.yaml``.

Every method's presets are the ``<dataset>.yaml`` files of the folder its registry entry names (``presets``:
``codegan/configs``, ``baselines/configs/infogan``, a plugin's own), named ``<method>/<dataset>``; the default
method's are also named by ``<dataset>`` alone. They ship inside the packages, so a name works from any folder
and from an installed wheel; a path (absolute, or relative to the current folder) works too.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.config.registry import entries
from harness.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_METHOD = "codegan"  # whose presets short names stand for (the config's default method)
# a baseline preset's path before each method had a folder of its own (baselines/configs/<method>-<dataset>.yaml)
_OLD_BASELINE = re.compile(r"(?:^|/)baselines/configs/([a-z0-9-]+)\.yaml$")


def preset_folders() -> dict[str, Path]:
    """method -> the folder of its presets (``<dataset>.yaml``), for every method whose entry names one."""
    from importlib.resources import files

    out = {}
    for name, e in entries().items():
        if e.presets:
            package, _, rest = e.presets.partition("/")
            out[name] = Path(str(files(package))) / rest
    return out


def preset_names() -> list[str]:
    """Every preset's short name: ``<dataset>`` for the default method's, ``<method>/<dataset>`` for the others'."""
    names = []
    for method, folder in preset_folders().items():
        stems = sorted(p.stem for p in folder.glob("*.yaml"))
        names += stems if method == DEFAULT_METHOD else [f"{method}/{s}" for s in stems]
    return names


def _candidates(name: str) -> list[Path]:
    folders = preset_folders()
    head, _, tail = name.partition("/")
    if not tail:
        return [folders[DEFAULT_METHOD] / f"{name}.yaml"] if DEFAULT_METHOD in folders else []
    return [folders[head] / f"{tail}.yaml"] if head in folders else []


def _old_baseline_path(text: str) -> Path | None:
    """The preset an old ``baselines/configs/<method>-<dataset>.yaml`` path names now (those files moved into one
    folder per method; the old paths keep working for one release)."""
    match = _OLD_BASELINE.search(text.replace("\\", "/"))
    if match is None:
        return None
    for method in sorted(preset_folders(), key=len, reverse=True):
        if match.group(1).startswith(method + "-"):
            found = _candidates(f"{method}/{match.group(1)[len(method) + 1 :]}")
            return found[0] if found and found[0].is_file() else None
    return None


def preset_path(name_or_path: str | Path) -> Path:
    """The preset file a name or path stands for; ConfigError naming the known presets otherwise."""
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return p
    text = str(name_or_path)
    if p.suffix not in (".yaml", ".yml"):
        for candidate in _candidates(text):
            if candidate.is_file():
                return candidate
    if not p.is_absolute() and p.suffix in (".yaml", ".yml") and (ROOT / p).is_file():
        return ROOT / p  # a repository-relative path, from another folder
    old = _old_baseline_path(text)
    if old is not None:
        return old
    head = text.partition("/")[0]
    hint = ""
    if "/" in text and p.suffix not in (".yaml", ".yml") and head not in preset_folders():
        hint = f" ('{head}' is no method with presets here: did you forget --plugin {head}?)"
    raise ConfigError(f"config file or preset not found: {text}{hint} (presets: {', '.join(preset_names())})")
