"""SIGKILL after a checkpoint, resume, and land on exactly the weights of an uninterrupted run."""

import json
import signal
import time

import pytest
import torch

from harness.runs import checkpoint
from tests.launch import BIT_IDENTICAL, launch, start, tiny_run

pytestmark = pytest.mark.slow


def _args(root, name, data_root):
    return [
        f"log.root={root}",
        f"name={name}",
        f"data.root={data_root}",
        "train.steps=60",
        "train.ckpt_every=10",
        "train.log_every=10",
        "train.trace=true",
        "eval.kmeans_seeds=1",
        "eval.pixel_baseline=false",
        "log.wandb=disabled",
        "codegan.e_batch_size=64",
        *BIT_IDENTICAL,
    ]


def test_killed_run_resumes_to_identical_weights(digits_shards, tmp_path):
    data_root = digits_shards.parent
    ref = launch(_args(tmp_path / "a", "ref", data_root))
    assert ref.returncode == 0, ref.stdout[-3000:]
    (ref_dir,) = (tmp_path / "a").iterdir()

    proc = start(_args(tmp_path / "b", "victim", data_root))
    deadline = time.time() + 300
    ckpts = tmp_path / "b"
    while time.time() < deadline and not list(ckpts.glob("*/checkpoints/step-00000020.pt")):
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (victim,) = ckpts.iterdir()
    killed_at = int(checkpoint.latest(victim / "checkpoints").stem.split("-")[1])
    assert 20 <= killed_at < 60, "the run finished before it could be killed"
    assert not (victim / "summary.json").exists()

    resumed = launch(["--resume", str(victim)])
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert f"(step {killed_at})" in resumed.stdout
    a = json.loads((ref_dir / "trace" / "rank0.json").read_text())
    b = json.loads((victim / "trace" / "rank0.json").read_text())
    assert a["steps"] == b["steps"] == 60
    assert a["indices"][killed_at * 64 :] == b["indices"], "resumed data order differs"
    assert a["param_digest"] == b["param_digest"], "resumed weights differ from the uninterrupted run"
    sa = torch.load(ref_dir / "checkpoints" / "step-00000060.pt", weights_only=True)
    sb = torch.load(victim / "checkpoints" / "step-00000060.pt", weights_only=True)
    for name, tensor in sa["method"]["nets"]["G"].items():
        assert torch.equal(tensor, sb["method"]["nets"]["G"][name]), name
    logged = [json.loads(line)["step"] for line in (victim / "metrics.jsonl").read_text().splitlines()]
    train_steps = [s for s in logged if s != 60]  # step 60 also has the final evaluation line
    assert train_steps == list(range(10, 60, 10)), "metric lines after the checkpoint were not dropped on resume"


def test_resume_refuses_changes_that_alter_the_run(digits_shards, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.yaml").write_text("train:\n  steps: 5\n")
    proc = launch(["--resume", str(folder), "codegan.beta_c=3"])
    assert proc.returncode == 2 and "codegan.beta_c cannot change on resume" in proc.stderr


def test_a_complete_run_hands_its_final_result_to_on_eval_again(digits_shards, tmp_path):
    """A resumed Tune trial whose driver died after the run finished still gets the final report."""
    from harness.config import build_config
    from harness.training.trainer import train

    overrides = tiny_run(digits_shards.parent, tmp_path, "name=done", "eval.pixel_baseline=false")
    calls: list[tuple[int, dict, object]] = []
    first = train(build_config("codegan/configs/digits.yaml", overrides), on_eval=lambda *a: calls.append(a))
    again = train(build_config("codegan/configs/digits.yaml", overrides), on_eval=lambda *a: calls.append(a))
    assert [c[0] for c in calls] == [4, 4]
    assert calls[1][1] == again == first and "perf/train_s" in again
    assert calls[1][2] is not None and calls[1][2].name == "step-00000004.pt"


def test_a_run_started_from_another_configs_checkpoint_is_its_own_result(digits_shards, tmp_path):
    """A PBT clone's start (the checkpoint of another config) is part of its result's identity: it never pools
    with its final config trained from scratch, it survives the clone's own resume, and tables show it."""
    from harness.config import build_config
    from harness.runs.results import distinguishing, flat_identity
    from harness.training.trainer import train

    def run(name, *more, init_from=None):
        fast = ("eval.quality=[]", "eval.pixel_baseline=false", f"name={name}", *more)
        train(build_config("digits", tiny_run(digits_shards.parent, tmp_path, *fast)), init_from=init_from)
        (folder,) = tmp_path.glob(f"{name}-*")
        return folder, json.loads((folder / "summary.json").read_text())

    parent, _ = run("parent")
    start = parent / "checkpoints" / "step-00000004.pt"
    _, cloned = run("clone", "train.lr_g=3e-4", "train.steps=6", init_from=start)
    _, scratch = run("scratch", "train.lr_g=3e-4", "train.steps=6")
    assert cloned["identity"]["start"] == [{"run_hash": parent.name.rsplit("-", 1)[1], "step": 4}]
    assert "start" not in scratch["identity"]
    assert {k: v for k, v in cloned["identity"].items() if k != "start"} == scratch["identity"]
    assert cloned["result_key"] != scratch["result_key"]
    assert "start" in distinguishing([("codegan", flat_identity(r["identity"])) for r in (cloned, scratch)])

    _, resumed = run("clone", "train.lr_g=3e-4", "train.steps=8")  # continues its own checkpoint
    assert resumed["step"] == 8 and resumed["identity"]["start"] == cloned["identity"]["start"]


def test_the_untrained_networks_are_evaluated_at_step_0_without_changing_the_run(digits_shards, tmp_path):
    """``train.eval_at_start``: a curve's first point is step 0 (reported to on_eval, logged like any evaluation);
    it is a schedule key, so the run, its weights and its final scores are the same without it."""
    from harness.config import build_config
    from harness.runs.track import read_jsonl
    from harness.training.trainer import train
    from tests.launch import run_folder

    results, calls = [], []
    for root, flag in ((tmp_path / "a", "false"), (tmp_path / "b", "true")):
        overrides = tiny_run(digits_shards.parent, root, "eval.pixel_baseline=false", f"train.eval_at_start={flag}")
        results.append(train(build_config("digits", overrides), on_eval=lambda *a, f=flag: calls.append((f, a[0]))))
    assert calls == [("false", 4), ("true", 0), ("true", 4)]
    assert run_folder(tmp_path / "a").name == run_folder(tmp_path / "b").name  # the same run identity
    start = [r for r in read_jsonl(run_folder(tmp_path / "b") / "metrics.jsonl") if r["step"] == 0]
    assert len(start) == 1 and 0 <= start[0]["eval/acc"] <= 1
    assert {k: v for k, v in results[0].items() if k.startswith("eval/")} == {
        k: v for k, v in results[1].items() if k.startswith("eval/")
    }
