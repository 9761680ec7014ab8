"""The architecture page names only paths that exist, and the pages that teach extending the harness run as written:
a dataset of another format (docs/adding-a-dataset.md) and a metric (docs/adding-a-metric.md) from packages of
their own, with the commands the pages give. (The method page has tests/test_plugins.py.)"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.launch import REPO, env, launch, run_folder

FILES = re.compile(r"```(?:python|yaml|toml)\n# file: (\S+)\n(.*?)```", re.S)
PATH = re.compile(r"`([\w./-]+/[\w./-]*|[\w-]+\.(?:py|md|yaml))`")


def test_every_path_the_architecture_page_names_exists():
    """A path with a folder is from the repository's root; a bare file name, from the folder its line names first."""
    text = (REPO / "docs" / "architecture.md").read_text()
    named, missing = 0, []
    for line in text.splitlines():
        folder = next((m for m in PATH.findall(line) if m.endswith("/")), "")
        for m in PATH.findall(line):
            if "<" in m:
                continue
            named += 1
            where = [REPO / m, REPO / "docs" / m, REPO / folder / m]
            if not any(w.exists() for w in where):
                missing.append(m)
    assert named > 60 and not missing, missing
    folders = {p.name for p in (REPO / "harness").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert all(f"`harness/{f}/`" in text for f in folders), "every layer's folder is in the table"


def _write_page(page: str, into: Path) -> list[str]:
    found = FILES.findall((REPO / "docs" / page).read_text())
    for name, text in found:
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        (into / name).write_text(text)
    return [name for name, _ in found]


def _shapes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """8x8 grey images of three drawn shapes (a bar, a ring, a cross) with noise: a real, if small, dataset."""
    rng = np.random.default_rng(seed)
    base = np.zeros((3, 8, 8), np.float64)
    base[0, 3:5, 1:7] = 1
    base[1, 1:7, 1:7], base[1, 2:6, 2:6] = 1, 0
    base[2, 3:5, :], base[2, :, 3:5] = 1, 1
    labels = np.arange(n) % 3
    images = base[labels] * rng.uniform(0.6, 1.0, (n, 1, 1)) + rng.normal(0, 0.1, (n, 8, 8))
    return (images.clip(0, 1) * 255).astype(np.uint8), labels


def test_the_dataset_page_builds_and_trains_a_new_format(tmp_path):
    assert set(_write_page("adding-a-dataset.md", tmp_path)) == {
        "toydata/reader.py", "toydata/__init__.py", "toydata/shapes.yaml", "toydata/shapes-codegan.yaml"}  # fmt: skip
    images, labels = _shapes(150)
    np.savez(tmp_path / "shapes.npz", images=images, labels=labels)
    extra = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
             "CODEGAN_DATA": str(tmp_path / "data")}  # fmt: skip
    build = [str(Path(sys.executable).parent / "codegan-data"), "build", "toydata/shapes.yaml", "--plugin", "toydata"]
    proc = subprocess.run(build, cwd=tmp_path, env=env(**extra), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads((tmp_path / "data" / "shapes" / "manifest.json").read_text())
    assert {k: v["count"] for k, v in manifest["splits"].items()} == {"train": 120, "test": 30}
    run = [
        "--plugin",
        "toydata",
        "--config",
        "toydata/shapes-codegan.yaml",
        "train.steps=4",
        "log.wandb=disabled",
        "log.progress=false",
        f"log.root={tmp_path / 'runs'}",
        "eval.kmeans_seeds=1",
        "eval.fid_samples=64",
    ]
    proc = subprocess.run([sys.executable, "-m", "harness.run", *run], cwd=tmp_path, env=env(**extra),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((run_folder(tmp_path / "runs") / "summary.json").read_text())
    assert summary["dataset"] == "shapes" and 0 <= summary["metrics"]["eval/acc"] <= 1
    assert summary["metrics"]["eval/fid_domain"] >= 0  # scored by a classifier trained on the new split


def test_the_metric_page_adds_a_metric_every_evaluation_reports(tmp_path, digits_shards):
    assert set(_write_page("adding-a-metric.md", tmp_path)) == {"meanshift/__init__.py", "meanshift/metric.py"}
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    args = ["--plugin", "meanshift", f"data.root={digits_shards.parent}", f"log.root={tmp_path / 'runs'}",
            "log.wandb=disabled", "log.progress=false", "train.steps=2", "eval.kmeans_seeds=1",
            "eval.fid_samples=64", "eval.pixel_baseline=false"]  # fmt: skip
    proc = launch(args, PYTHONPATH=path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "MEANSHIFT_DOMAIN" in proc.stdout
    metrics = json.loads((run_folder(tmp_path / "runs") / "summary.json").read_text())["metrics"]
    assert metrics["eval/meanshift_domain"] >= 0 and "eval/fid_domain" in metrics
