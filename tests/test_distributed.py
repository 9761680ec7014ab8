"""Two real gloo ranks on CPU through ``accelerate launch --multi_gpu``."""

import json
import os

import pytest
import torch

from harness.commands.rescore import main as eval_main
from tests.launch import CPU_DDP, launch, run_folder
from tests.legacy import as_version_1
from tests.wandb_files import offline_runs

pytestmark = pytest.mark.slow


def test_two_ranks_disjoint_data_equal_steps_identical_weights(digits_shards, tmp_path, tmp_path_factory):
    """Both ranks also start G from another run (train.init_from): a rank that did not load it would diverge."""
    from harness.config import build_config
    from harness.training.trainer import train
    from tests.launch import tiny_run

    source_root = tmp_path_factory.mktemp("source")
    train(build_config("digits", tiny_run(digits_shards.parent, source_root, "eval.quality=[]")))
    source = run_folder(source_root)
    steps, batch = 20, 16
    args = [
        f"train.init_from={source}",
        "train.init_nets=[G]",
        f"log.root={tmp_path}",
        f"data.root={digits_shards.parent}",
        f"train.steps={steps}",
        f"train.batch_size={batch}",
        "train.g_batch_size=16",
        "codegan.e_batch_size=32",
        "train.trace=true",
        "train.log_every=10",
        "train.ckpt_every=10",
        "eval.kmeans_seeds=1",
        "eval.pixel_baseline=false",
    ]
    proc = launch(args, accelerate=CPU_DDP, OMP_NUM_THREADS="1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Grad strides do not match" not in proc.stderr  # gradients land in DDP's buckets without a copy
    folder = run_folder(tmp_path)
    ranks = [json.loads((folder / "trace" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["steps"] for r in ranks] == [steps, steps]
    seen = [r["indices"] for r in ranks]
    assert [len(s) for s in seen] == [steps * batch] * 2
    assert all(len(set(s)) == len(s) for s in seen)
    assert not set(seen[0]) & set(seen[1]), "ranks read overlapping samples"
    assert ranks[0]["param_digest"] == ranks[1]["param_digest"], "weights diverged across ranks"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["identity"]["start"] == [{"run_hash": source.name.rsplit("-", 1)[1], "step": 4, "nets": ["G"]}]
    # only the main process wrote: one W&B run, each metric step logged once
    assert len(offline_runs(folder)) == 1
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "train/d_loss" in r] == [10, 20]
    assert [r["step"] for r in rows if "eval/acc" in r] == [20]
    # G's BatchNorm statistics drift apart across ranks between DDP forwards; evaluated with rank 0's (those the
    # checkpoint holds), the in-training FID of two ranks is the re-score of the checkpoint by one process
    assert eval_main([str(folder), "log.wandb=disabled", "log.progress=false"]) == 0
    (record,) = [json.loads(p.read_text()) for p in folder.glob("eval-*.json")]
    assert record["identity"] == summary["identity"] and record["step"] == summary["step"] == steps
    assert record["metrics"]["eval/fid_domain"] == pytest.approx(summary["metrics"]["eval/fid_domain"], rel=1e-6)


def test_the_pretraining_stage_runs_on_two_ranks_from_an_empty_cache(digits_shards, tmp_path):
    """codegan.pretrain=simclr with no cached encoder: both ranks run the stage, rank 0 writes the artifact and
    hands it over; then a checkpoint whose generator states are a GPU's resumes on two ranks with a reseed."""
    from harness.runs import checkpoint

    stage = ["codegan.pretrain=simclr", "pretrain.steps=2", "pretrain.batch_size=32", f"pretrain.seed={os.getpid()}"]
    args = [*_ddp_args(tmp_path, "self", digits_shards.parent), "train.steps=4", "train.ckpt_every=2",
            "train.trace=false", *stage]  # fmt: skip
    cache = tmp_path / "cache"  # nothing cached: the stage must run
    proc = launch(args, accelerate=CPU_DDP, OMP_NUM_THREADS="1", CODEGAN_CACHE=str(cache))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("running the pre-training stage first") == 1
    folders = {p.name.rsplit("-", 1)[0]: p for p in tmp_path.iterdir() if (p / "summary.json").is_file()}
    assert set(folders) == {"self", "self-simclr"} and (folders["self-simclr"] / "encoder.pt").is_file()
    assert json.loads((folders["self"] / "summary.json").read_text())["world_size"] == 2

    run = folders["self"]
    (run / "summary.json").unlink()
    state = checkpoint.load(run / "checkpoints" / "step-00000004.pt")
    state["rng"] = [torch.zeros(16, dtype=torch.uint8)] * 2  # a CUDA generator's state per rank
    torch.save(state, run / "checkpoints" / "step-00000004.pt")
    more = launch([*args, "train.steps=6"], accelerate=CPU_DDP, OMP_NUM_THREADS="1", CODEGAN_CACHE=str(cache))
    assert more.returncode == 0, more.stdout[-3000:] + more.stderr[-3000:]
    assert "running the pre-training stage" not in more.stdout
    assert more.stdout.count("random streams reseeded from seed 0 and step 4, not restored") == 1
    assert json.loads((run / "summary.json").read_text())["step"] == 6


def _ddp_args(log_root, name, data_root):
    return [
        f"log.root={log_root}",
        f"name={name}",
        f"data.root={data_root}",
        "train.steps=30",
        "train.batch_size=16",
        "train.g_batch_size=16",
        "codegan.e_batch_size=32",
        "train.trace=true",
        "train.log_every=10",
        "train.ckpt_every=10",
        "eval.kmeans_seeds=1",
        "eval.kmeans_n_init=1",
        "eval.quality=[]",
        "eval.pixel_baseline=false",
        "log.wandb=disabled",
    ]


def test_a_killed_two_rank_run_resumes_bit_identical_and_refuses_another_world_size(digits_shards, tmp_path):
    import signal
    import subprocess
    import time

    import psutil

    from harness.runs import checkpoint
    from tests.launch import BIN, REPO, cpu_env

    data_root = digits_shards.parent
    ref = launch(_ddp_args(tmp_path / "a", "ref", data_root), accelerate=CPU_DDP, OMP_NUM_THREADS="1")
    assert ref.returncode == 0, ref.stderr[-3000:]
    victim_root = tmp_path / "b"
    cmd = [str(BIN / "accelerate"), "launch", *CPU_DDP, "harness/run.py", *_ddp_args(victim_root, "victim", data_root)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=cpu_env(OMP_NUM_THREADS="1"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.time() + 300
    while not list(victim_root.glob("*/checkpoints/step-00000020.pt")):
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    everyone = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for p in everyone:  # the launcher and both ranks at once (ranks run in sessions of their own)
        p.send_signal(signal.SIGKILL)
    psutil.wait_procs(everyone, timeout=30)
    proc.wait()
    victim = run_folder(victim_root)
    victim = as_version_1(victim)  # as a run killed before the device type joined the run identity
    latest = checkpoint.latest(victim / "checkpoints")
    assert latest.name == "step-00000020.pt" and not (victim / "summary.json").exists()
    latest.write_bytes(latest.read_bytes()[:5000])  # damaged after it was written: both ranks resume from step 10
    killed_at = 10

    one = launch(["--resume", str(victim)])
    assert one.returncode == 2 and "was trained with 2 process(es), this launch has 1" in one.stderr

    # the same launch again finds the version-1 folder by its config and continues it
    resumed = launch(_ddp_args(victim_root, "victim", data_root), accelerate=CPU_DDP, OMP_NUM_THREADS="1")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert run_folder(victim_root) == victim and f"resumed from {victim}" in resumed.stdout
    assert f"cannot load checkpoint {latest}" in resumed.stdout and "(step 10)" in resumed.stdout
    ref_dir = run_folder(tmp_path / "a")
    for rank in (0, 1):
        a = json.loads((ref_dir / "trace" / f"rank{rank}.json").read_text())
        b = json.loads((victim / "trace" / f"rank{rank}.json").read_text())
        assert a["indices"][killed_at * 16 :] == b["indices"], f"rank {rank}: resumed data order differs"
        assert a["param_digest"] == b["param_digest"], f"rank {rank}: weights differ from the uninterrupted run"
