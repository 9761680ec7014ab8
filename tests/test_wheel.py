"""The wheel installs into a fresh virtual environment and runs from any folder: cards and presets ship in it."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.launch import REPO

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_the_wheel_lists_every_package_of_the_tree():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    tree = {
        ".".join(p.parent.relative_to(REPO).parts)
        for top in ("harness", "codegan", "baselines", "sweeps", "scripts")
        for p in (REPO / top).rglob("__init__.py")
    }
    data = {"harness.cards", "codegan.configs", "baselines.configs"}  # folders of YAML files the wheel ships
    assert listed == tree | data, "pyproject.toml's [tool.setuptools] packages: " + str(listed ^ (tree | data))


def test_the_wheel_runs_a_preset_by_name_from_another_folder(tmp_path):
    dist, venv, elsewhere = tmp_path / "dist", tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update({"CODEGAN_DATA": str(tmp_path / "data"), "CODEGAN_CACHE": str(tmp_path / "cache")})
    env["WANDB_SILENT"] = "true"
    src = tmp_path / "src"  # a copy: an in-tree build would leave build/ and egg-info in the checkout
    skip = shutil.ignore_patterns(".venv", ".git", "build", "*.egg-info", "__pycache__", ".pytest_cache", "bench")

    def ignore(folder: str, names: list[str]) -> set[str]:  # built shards stay behind; the cards travel
        built = {n for n in names if Path(folder) == REPO / "datasets" and n not in ("cards", "README.md")}
        runs = {"runs"} & set(names) if Path(folder) == REPO else set()  # run folders, not the harness.runs package
        return set(skip(folder, names)) | built | runs

    shutil.copytree(REPO, src, ignore=ignore)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(src)],
         tmp_path, env)  # fmt: skip
    (wheel,) = dist.glob("codegan_bench-*.whl")
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    py = venv / "bin" / "python"
    _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp_path, env)
    # the dependencies come from this environment's site-packages, added as a plain path (its .pth files,
    # among them the editable install of the checkout, are not processed there)
    site = Path(sysconfig.get_paths()["purelib"])
    target = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path,
                       env).stdout.strip())  # fmt: skip
    (target / "codegan_deps.pth").write_text(f"{site}\n")

    where = _run([str(py), "-c", "import harness; print(harness.__file__)"], elsewhere, env).stdout
    assert where.startswith(str(venv)), where
    cards = _run([str(venv / "bin" / "codegan-data"), "list"], elsewhere, env).stdout
    assert "fashion-mnist" in cards and "digits" in cards
    helptext = _run([str(venv / "bin" / "codegan-run"), "--config", "fashion-mnist", "--help"], elsewhere, env).stdout
    assert "codegan.beta_c = 100.0" in helptext
    scorer = _run([str(venv / "bin" / "codegan-score"), "--help"], elsewhere, env).stdout
    assert "--input1" in scorer and "--feature-extractor" in scorer
    run = [str(venv / "bin" / "codegan-run"), "--config", "infogan/digits", "train.steps=3", "train.log_every=1",
           "log.root=runs", "log.wandb=disabled", "log.progress=false", "eval.quality=[]", "eval.kmeans_seeds=1",
           "eval.kmeans_n_init=1"]  # fmt: skip
    out = _run(run, elsewhere, env).stdout
    assert "class features + k-means: ACC" in out
    (summary,) = (elsewhere / "runs").glob("infogan-digits-*/summary.json")
    assert (tmp_path / "data" / "digits" / "manifest.json").is_file()  # shards built in $CODEGAN_DATA
    assert summary.is_file()
