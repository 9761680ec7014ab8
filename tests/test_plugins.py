"""A method from another package, built from the files docs/adding-a-method.md shows: with ``--plugin`` it trains,
re-scores, ranks and sweeps (in Ray trial workers) like a built-in one; installed into a fresh virtual environment,
its entry point makes it known with no flag. The catalogue and a config are read without importing torch."""

import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.launch import REPO, env, launch, run_folder, tiny_run

DOC = REPO / "docs" / "adding-a-method.md"
FILES = re.compile(r"```(?:python|yaml|toml)\n# file: (\S+)\n(.*?)```", re.S)


@pytest.fixture(scope="module")
def plugin_src(tmp_path_factory) -> Path:
    """The plugin package, written file by file from the page."""
    src = tmp_path_factory.mktemp("toygan-src")
    found = FILES.findall(DOC.read_text())
    assert {name for name, _ in found} == {"toygan/method.py", "toygan/__init__.py", "toygan/configs/digits.yaml",
                                           "pyproject.toml"}  # fmt: skip
    for name, text in found:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    return src


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def test_a_plugin_method_trains_rescores_ranks_and_sweeps(plugin_src, digits_shards, tmp_path):
    path = os.pathsep.join([str(plugin_src), os.environ.get("PYTHONPATH", "")])
    root, data = tmp_path / "runs", digits_shards.parent
    args = ["--config", "toygan/digits", *tiny_run(data, root, "eval.quality=[]", "toygan.weight=2")]
    unknown = launch(args, PYTHONPATH=path)  # without the flag the method is unknown: one line, exit 2
    assert unknown.returncode == 2 and unknown.stderr.strip().splitlines()[-1].startswith("config error:")
    _ok(launch(["--plugin", "toygan", *args], PYTHONPATH=path))
    folder = run_folder(root)
    summary = json.loads((folder / "summary.json").read_text())
    assert 0 <= summary["metrics"]["eval/acc_head"] <= 1  # its own argmax head, scored like InfoGAN's Q
    train = summary["identity"]["train"]
    assert train["toygan.weight"] == 2.0 and train["method"] == "toygan"
    assert not any(k.startswith(("codegan.", "baselines.", "pretrain.")) for k in train)  # only its own keys

    rescore = ["-m", "harness.commands.rescore", "--plugin", "toygan", str(folder), "eval.kmeans_seeds=2"]
    _ok(launch([*rescore, "log.wandb=disabled", "log.progress=false"], module=True, PYTHONPATH=path))
    assert len(list(folder.glob("eval-*.json"))) == 1
    board = ["-m", "scripts.leaderboard", str(root), "--out", str(tmp_path / "lb")]  # no flag: the result names it
    _ok(launch([*board, "--log-wandb", "disabled"], module=True, PYTHONPATH=path))
    assert "| ToyGAN |" in (tmp_path / "lb" / "leaderboard.md").read_text()

    spec = tmp_path / "toy.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "toy", "presets": {"toygan": "toygan/digits"},
        "overrides": {"train.steps": 6, "train.eval_every": 3, "train.ckpt_every": 3, "train.log_every": 3,
                      "eval.quality": [], "eval.kmeans_seeds": 1, "eval.kmeans_n_init": 1,
                      "eval.pixel_baseline": False},
        "space": [{"method": ["toygan"], "toygan.weight": [0.5, 2.0]}],
        "scheduler": {"kind": "none"}, "resources": {"cpu": 1, "gpu": 0}, "max_failures": 0,
        "wandb": {"mode": "disabled"},
    }))  # fmt: skip
    sweep = ["-m", "sweeps.run", "--plugin", "toygan", str(spec), "--out", str(tmp_path / "sweeps")]
    _ok(launch(sweep, module=True, timeout=600, PYTHONPATH=path, CODEGAN_DATA=str(data)))
    df = pd.read_csv(tmp_path / "sweeps" / "toy" / "results.csv")
    assert len(df) == 2 and (df["status"] == "complete").all()  # the trial workers knew the method
    # the sweep folder remembers its plugins: its analysis needs no --plugin
    analyzed = _ok(launch(["-m", "sweeps.analyze", str(tmp_path / "sweeps" / "toy")], module=True, PYTHONPATH=path))
    assert "plugins of this sweep" in analyzed and "toygan" in analyzed


def test_an_installed_plugin_is_known_through_its_entry_point(plugin_src, digits_shards, tmp_path):
    clean = {k: v for k, v in env().items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    dist, venv = tmp_path / "dist", tmp_path / "venv"
    wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist)]
    _ok(subprocess.run([*wheel, str(plugin_src)], cwd=tmp_path, env=clean, capture_output=True, text=True))
    _ok(subprocess.run([sys.executable, "-m", "venv", str(venv)], env=clean, capture_output=True, text=True))
    py = str(venv / "bin" / "python")
    (built,) = dist.glob("toygan-*.whl")
    install = [py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(built)]
    _ok(subprocess.run(install, env=clean, capture_output=True, text=True, timeout=300))
    # the harness and its dependencies come from this checkout and this environment, as plain paths
    site = sysconfig.get_paths()["purelib"]
    query = [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    target = Path(_ok(subprocess.run(query, env=clean, capture_output=True, text=True)).strip())
    (target / "codegan_deps.pth").write_text(f"{REPO}\n{site}\n")

    no_torch = ("import sys; from harness.config.registry import entries; from harness.config import build_config;"
                " cfg = build_config('toygan/digits', ['toygan.weight=3']); e = entries()['toygan'];"
                " print(e.origin, cfg.toygan.weight, 'torch' in sys.modules)")  # fmt: skip
    out = _ok(subprocess.run([py, "-c", no_torch], cwd=tmp_path, env=clean, capture_output=True, text=True))
    assert out.split() == ["entry", "point", "toygan:ENTRY", "3.0", "False"], out
    root = tmp_path / "runs"
    train = [py, "-m", "harness.run", "--config", "toygan/digits", *tiny_run(digits_shards.parent, root)]
    out = _ok(subprocess.run([*train, "eval.quality=[]"], cwd=tmp_path, env=clean, capture_output=True, text=True,
                             timeout=600))  # fmt: skip
    assert "class features + k-means: ACC" in out and "argmax of the code head (head)" in out
