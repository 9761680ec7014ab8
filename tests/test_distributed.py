"""Two real gloo ranks on CPU through ``accelerate launch --multi_gpu``."""

import json

import pytest

from harness.wandb_files import offline_runs
from tests.launch import CPU_DDP, launch, run_folder

pytestmark = pytest.mark.slow


def test_two_ranks_disjoint_data_equal_steps_identical_weights(digits_shards, tmp_path):
    steps, batch = 20, 16
    args = [
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
    # only the main process wrote: one W&B run, each metric step logged once
    assert len(offline_runs(folder)) == 1
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "train/d_loss" in r] == [10, 20]
    assert [r["step"] for r in rows if "eval/acc" in r] == [20]


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

    from harness import checkpoint
    from tests.launch import BIN, REPO, cpu_env

    data_root = digits_shards.parent
    ref = launch(_ddp_args(tmp_path / "a", "ref", data_root), accelerate=CPU_DDP, OMP_NUM_THREADS="1")
    assert ref.returncode == 0, ref.stderr[-3000:]
    victim_root = tmp_path / "b"
    cmd = [str(BIN / "accelerate"), "launch", *CPU_DDP, "harness/run.py", *_ddp_args(victim_root, "victim", data_root)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=cpu_env(OMP_NUM_THREADS="1"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.time() + 300
    while not list(victim_root.glob("*/checkpoints/step-00000010.pt")):
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    everyone = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    for p in everyone:  # the launcher and both ranks at once (ranks run in sessions of their own)
        p.send_signal(signal.SIGKILL)
    psutil.wait_procs(everyone, timeout=30)
    proc.wait()
    victim = run_folder(victim_root)
    killed_at = int(checkpoint.latest(victim / "checkpoints").stem.split("-")[1])
    assert 10 <= killed_at < 30 and not (victim / "summary.json").exists()

    one = launch(["--resume", str(victim)])
    assert one.returncode == 2 and "was trained with 2 process(es), this launch has 1" in one.stderr

    resumed = launch(["--resume", str(victim)], accelerate=CPU_DDP, OMP_NUM_THREADS="1")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    ref_dir = run_folder(tmp_path / "a")
    for rank in (0, 1):
        a = json.loads((ref_dir / "trace" / f"rank{rank}.json").read_text())
        b = json.loads((victim / "trace" / f"rank{rank}.json").read_text())
        assert a["indices"][killed_at * 16 :] == b["indices"], f"rank {rank}: resumed data order differs"
        assert a["param_digest"] == b["param_digest"], f"rank {rank}: weights differ from the uninterrupted run"
