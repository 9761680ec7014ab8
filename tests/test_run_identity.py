"""The device type in the run identity (identity version 2): folders named before it are still found, resumed and
reported complete; a generator state from another device type is reseeded in one line; re-scoring needs no
training RNG; a checkpoint of another device type is refused on resume."""

from __future__ import annotations

import json

import pytest
import torch

from harness.commands.rescore import main as eval_main
from harness.commands.train import main as run_main
from harness.config import build_config
from harness.runs import checkpoint
from harness.runs.identity import IDENTITY_VERSION, run_hash
from harness.runs.identity_versions import locate, v1_hash
from harness.training.trainer import train
from tests.launch import run_folder, tiny_run
from tests.legacy import as_version_1

pytestmark = pytest.mark.usefixtures("one_thread")
FAST = ("eval.quality=[]", "eval.pixel_baseline=false", "train.ckpt_every=2")
CUDA_STATE = 16  # bytes of a CUDA generator's state (seed and offset); a CPU generator's has 5056


def test_the_identity_has_a_version_and_the_device_type():
    cfg = build_config("digits")
    assert IDENTITY_VERSION == 2
    assert run_hash(cfg, 1, "no", "cpu") != run_hash(cfg, 1, "no", "cuda") != v1_hash(cfg, 1, "no", "cpu")
    # version 1 is frozen: the folder names runs had (the README's main job, the Fashion-MNIST study's preset)
    assert v1_hash(cfg, 1, "no", "cpu") == "0d92392e"
    assert v1_hash(build_config("fashion-mnist"), 1, "no", "cpu") == "ef158002"
    assert v1_hash(cfg, 1, "no", "cuda") is None  # version 1 never ran on a GPU
    assert v1_hash(build_config("digits", ["train.deterministic=true"]), 1, "no", "cpu") is None


def test_a_folder_named_by_version_1_is_found_resumed_and_reported_complete(digits_shards, tmp_path, capsys):
    overrides = tiny_run(digits_shards.parent, tmp_path, *FAST, "train.steps=2")
    train(build_config("digits", overrides))
    old = as_version_1(run_folder(tmp_path))
    old_hash = old.name.rsplit("-", 1)[1]
    capsys.readouterr()

    train(build_config("digits", overrides))  # the same config, world size and precision, on a CPU
    assert f"run {old} is already complete at step 2" in capsys.readouterr().out
    assert run_folder(tmp_path) == old
    assert run_main(["--print-config", *overrides]) == 0  # --print-config names the folder this launch continues
    printed = capsys.readouterr().out
    assert f"# run folder: {old} (complete at step 2)" in printed and f"# run hash:   {old_hash} (" in printed

    cfg = build_config("digits", [*overrides, "train.steps=4"])
    assert locate(cfg, 1, "no", "cpu") == (old, old_hash, 1)
    assert locate(cfg, 1, "no", "cuda")[0] != old  # a GPU launch is another run
    train(cfg)
    assert f"resumed from {old / 'checkpoints' / 'step-00000002.pt'} (step 2)" in capsys.readouterr().out
    assert run_folder(tmp_path) == old
    summary = json.loads((old / "summary.json").read_text())
    assert summary["status"] == "complete" and summary["step"] == 4 and summary["run_hash"] == old_hash
    info = json.loads((old / "run.json").read_text())
    assert info == {"run_hash": old_hash, "identity_version": 1, "world_size": 1, "mixed_precision": "no",
                    "device": "cpu"}  # fmt: skip
    assert checkpoint.load(old / "checkpoints" / "step-00000004.pt")["run_hash"] == old_hash
    assert run_main(["--resume", str(old), "train.steps=4"]) == 0  # and by its folder
    assert "already complete" in capsys.readouterr().out


def _foreign_rng(path, world: int = 1):
    """The checkpoint's generator states as a CUDA generator's would be (another size)."""
    state = checkpoint.load(path)
    state["rng"] = [torch.zeros(CUDA_STATE, dtype=torch.uint8) for _ in range(world)]
    torch.save(state, path)


def test_a_generator_state_of_another_device_type_is_reseeded_in_one_line(digits_shards, tmp_path, capsys):
    overrides = tiny_run(digits_shards.parent, tmp_path / "runs", *FAST, "train.steps=2")
    train(build_config("digits", overrides))
    folder = run_folder(tmp_path / "runs")
    ckpt = folder / "checkpoints" / "step-00000002.pt"
    _foreign_rng(ckpt)
    capsys.readouterr()

    assert eval_main([str(ckpt), "log.wandb=disabled", "log.progress=false", *FAST[:2]]) == 0  # needs no RNG
    assert "reseeded" not in capsys.readouterr().out

    train(build_config("digits", [*overrides, "train.steps=4"]))  # continue the run itself
    line = f"{ckpt}: random streams reseeded from seed 0 and step 2, not restored (its generator state (16 bytes)"
    out = capsys.readouterr().out
    assert line in out and "is not a cpu generator's (5056 bytes): made on another device type)" in out
    assert json.loads((folder / "summary.json").read_text())["step"] == 4

    clone = build_config("digits", tiny_run(digits_shards.parent, tmp_path / "clone", *FAST, "train.lr_g=3e-4"))
    train(clone, init_from=ckpt)  # a PBT clone started from a checkpoint made on another device type
    assert line in capsys.readouterr().out


def test_a_checkpoint_of_another_device_type_is_refused_on_resume_and_re_scored(digits_shards, tmp_path, capsys):
    """A run trained on a GPU, brought to this CPU: --resume names the device; codegan-eval scores it here."""
    overrides = tiny_run(digits_shards.parent, tmp_path, *FAST, "train.steps=2")
    train(build_config("digits", overrides))
    folder = run_folder(tmp_path)
    cuda_hash = run_hash(build_config(folder / "config.yaml"), 1, "no", "cuda")
    info = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**info, "run_hash": cuda_hash, "device": "cuda"}))
    ckpt = folder / "checkpoints" / "step-00000002.pt"
    state = checkpoint.load(ckpt)
    state.update(run_hash=cuda_hash, device="cuda")
    torch.save(state, ckpt)
    _foreign_rng(ckpt)
    capsys.readouterr()

    assert run_main(["--resume", str(folder), "train.steps=4"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"config error: {folder} was trained on cuda, this launch runs on cpu: resume it on cuda")
    assert eval_main([str(folder), "log.wandb=disabled", "log.progress=false", *FAST[:2]]) == 0
    (record,) = [json.loads(p.read_text()) for p in folder.glob("eval-*.json")]
    assert record["run_hash"] == cuda_hash and record["identity"]["device"] == "cuda"


def test_keys_added_late_name_a_new_folder_only_when_set():
    """A key added after runs were first hashed (ClusterGAN's weights, once left out of its identity; CoDeGAN's MAML
    keys; train.init_from) renames no existing folder at its default and tells runs apart when set."""
    for preset, key, value in (("clustergan/digits", "baselines.cluster_beta_n", 3.0),
                               ("digits", "codegan.maml_way", 3), ("digits", "train.init_from", "runs/x")):  # fmt: skip
        default = run_hash(build_config(preset), 1, "no")
        assert run_hash(build_config(preset, values={key: value}), 1, "no") != default, key
    assert run_hash(build_config("clustergan/digits"), 1, "no") == "0e4b8869"  # as named before the keys counted
    assert run_hash(build_config("digits"), 1, "no") == "6f10e1ba"  # the README's main job
