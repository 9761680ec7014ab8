"""Presets by name or path: ``fashion-mnist`` (CoDeGAN's), ``infogan/fashion-mnist``, ``codegan/configs/x.yaml``.

Presets ship inside the packages (``codegan/configs``, ``baselines/configs``, and a plugin's folder named by its
catalogue entry's ``presets``: ``<method>/<dataset>``), so a name works from any folder and from an installed
wheel; a path (absolute, or relative to the current folder) works too.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
CODEGAN = ROOT / "codegan" / "configs"
BASELINES = ROOT / "baselines" / "configs"


def plugin_presets() -> dict[str, Path]:
    """method -> the folder of its presets (``<dataset>.yaml``), for plugin methods that ship some."""
    from importlib.resources import files

    from harness.catalogue import entries

    out = {}
    for name, e in entries().items():
        if e.presets:
            package, _, rest = e.presets.partition("/")
            out[name] = Path(str(files(package))) / rest
    return out


def preset_names() -> list[str]:
    """Every preset's short name: ``<dataset>`` for CoDeGAN's, ``<method>/<dataset>`` for the baselines' and
    the plugins'."""
    names = sorted(p.stem for p in CODEGAN.glob("*.yaml"))
    for p in sorted(BASELINES.glob("*.yaml")):
        method, dataset = _split_baseline(p.stem)
        names.append(f"{method}/{dataset}")
    for method, folder in plugin_presets().items():
        names += [f"{method}/{p.stem}" for p in sorted(folder.glob("*.yaml"))]
    return names


def _split_baseline(stem: str) -> tuple[str, str]:
    for dataset in sorted((p.stem for p in CODEGAN.glob("*.yaml")), key=len, reverse=True):
        if stem.endswith("-" + dataset):
            return stem[: -len(dataset) - 1], dataset
    return stem, ""


def _candidates(name: str) -> list[Path]:
    head, _, tail = name.partition("/")
    if not tail:
        return [CODEGAN / f"{name}.yaml", BASELINES / f"{name}.yaml"]
    if head == "codegan":
        return [CODEGAN / f"{tail}.yaml"]
    plugin = plugin_presets().get(head)
    return [BASELINES / f"{head}-{tail}.yaml", *([plugin / f"{tail}.yaml"] if plugin else [])]


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
    raise ConfigError(f"config file or preset not found: {text} (presets: {', '.join(preset_names())})")
