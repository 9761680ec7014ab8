"""Ray Tune sweeps on real Ray: a two-node loopback cluster, a killed and resumed driver, a retried trial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.runs.results import PIXELS_LABEL
from scripts.leaderboard import main as leaderboard
from sweeps.run import local_ray_env, run
from tests.launch import REPO
from tests.wandb_files import read_records

pytestmark = pytest.mark.slow


@pytest.fixture
def sweep_env(digits_shards, monkeypatch):
    """Trials read the session's digits shards; Ray binds to loopback."""
    monkeypatch.setenv("CODEGAN_DATA", str(digits_shards.parent))
    monkeypatch.setenv("WANDB_SILENT", "true")
    local_ray_env()


SHORT = {"train.steps": 30, "train.eval_every": 10, "train.ckpt_every": 10, "train.log_every": 10,
         "eval.fid_samples": 300}  # fmt: skip


def small_sweep(tmp_path: Path, name: str, **changes) -> Path:
    """The shipped smoke sweep at a shorter budget (SHORT), with ``changes``; the analysis draws no worst images
    (each loads a checkpoint) unless ``changes`` asks for them."""
    spec = yaml.safe_load((REPO / "sweeps" / "smoke.yaml").read_text())
    spec["overrides"] = {**spec["overrides"], **SHORT}
    spec.update({"name": name, "worst_images": False, **changes})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_smoke_sweep_on_two_loopback_nodes_then_leaderboard(sweep_env, tmp_path, capfd):
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        folder = run(str(small_sweep(tmp_path, "smoke", worst_images=True)), address=cluster.address, out=str(tmp_path))
    finally:
        ray.shutdown()
        cluster.shutdown()
    printed = capfd.readouterr().out
    tune_head = [line for line in printed.splitlines() if "Trial name" in line][-1]  # Tune's table, at the end
    for column in ("method", "beta_c", "lambda_mi", "seed", "eval/acc", "eval/fid_domain"):
        assert f" {column} " in tune_head, tune_head
    assert "± is the sample standard deviation over training seeds" in printed  # the aggregate, at the end
    df = pd.read_csv(folder / "results.csv")
    assert len(df) == 8 and (df["status"] == "complete").all(), df[["trial", "status"]]
    assert df["node"].nunique() == 2, "trials did not spread over both nodes"
    assert set(df["method"]) == {"codegan", "infogan"} and df["final/eval/acc"].between(0, 1).all()
    assert (df["tune_overhead_s"] > 0).all()
    for name in ("aggregate.md", "curves.csv", "pareto.csv", "tradeoff.png"):
        assert (folder / name).is_file(), name
    assert len(list((folder / "worst").glob("*.png"))) == 4  # Fig. 3(b, c) of every point, drawn by the driver
    curves = pd.read_csv(folder / "curves.csv")
    assert set(curves["method"]) == {"codegan", "infogan"} and len(curves) == 4
    assert len(pd.read_csv(folder / "pareto.csv")) >= 1
    comparison = (folder / "comparison.md").read_text()  # both grids hold 1 and 10: compared weight by weight
    assert "| 1 | 2/2 |" in comparison and "| 10 | 2/2 |" in comparison and "Of 2 weights, CoDeGAN" in comparison
    # one W&B folder for the sweep (its trials and the analysis): one wandb sync sends it, and the driver says how
    assert len(list((folder / "wandb").glob("offline-run-*"))) == len(df) + 1
    assert not list((folder / "runs").glob("*/wandb")) and f"wandb sync {folder / 'wandb'}/offline-run-*" in printed

    assert leaderboard([str(folder / "runs"), "--out", str(tmp_path / "lb"), "--log-wandb", "offline"]) == 0
    (lb_run,) = [r["run"] for r in read_records(next((tmp_path / "lb" / "wandb").glob("offline-run-*")))
                 if r.get("type") == "run"]  # fmt: skip
    assert lb_run["run_group"] == "smoke"  # the leaderboard of a sweep's runs joins the sweep's group
    board = (tmp_path / "lb" / "leaderboard.md").read_text()
    head = next(line for line in board.splitlines() if line.startswith("| dataset"))
    assert "| beta_c |" in head and "| lambda_mi |" in head  # the swept values tell the rows apart
    rows = [line for line in board.splitlines() if line.startswith("| digits") and PIXELS_LABEL not in line]
    assert len(rows) == 4 and all("±" in r and "| 2 |" in r for r in rows)  # 2 seeds per result
    assert sum("| CoDeGAN |" in r for r in rows) == 2 and sum("| InfoGAN |" in r for r in rows) == 2
    assert sum(f"| {PIXELS_LABEL} |" in line for line in board.splitlines()) == 1  # one computation, shared
    assert (tmp_path / "lb" / "leaderboard.html").read_text().count("<tr>") == 6


def test_killed_driver_resumes_without_rerunning_finished_trials(sweep_env, tmp_path):
    spec = small_sweep(
        tmp_path, "resume", space=[{"method": ["codegan"], "codegan.beta_c": [1.0, 10.0], "seed": [0, 1]}]
    )
    cmd = [sys.executable, "-m", "sweeps.run", str(spec), "--out", str(tmp_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = tmp_path / "resume" / "runs"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(runs.glob("*/summary.json"))) < 2:
        assert proc.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/summary.json")}
    assert 2 <= len(done) < 4
    time.sleep(3)  # let the orphaned local Ray notice its driver is gone
    resumed = subprocess.run([*cmd, "--resume"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    df = pd.read_csv(tmp_path / "resume" / "results.csv")
    assert len(df) == 4 and (df["status"] == "complete").all()
    after = {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/summary.json")}
    assert all(after[name] == mtime for name, mtime in done.items()), "a finished trial ran again"
    assert len(after) == 4


def test_a_failing_trial_is_retried_from_its_checkpoint(sweep_env, tmp_path, monkeypatch):
    """The fault strikes after step 20's evaluation and checkpoint are written, before Tune hears of them: the retry
    continues from step 20 and reports it first, so Tune's history holds every evaluation once."""
    import ray

    marker = tmp_path / "failed-once"
    monkeypatch.setenv("CODEGAN_SWEEP_FAULT", f"before:20:{marker}")
    spec = small_sweep(tmp_path, "retry", space=[{"method": ["codegan"], "seed": [0, 1]}], max_failures=1)
    try:
        folder = run(str(spec), out=str(tmp_path))
    finally:
        ray.shutdown()
    assert marker.is_file()
    df = pd.read_csv(folder / "results.csv")
    assert (df["status"] == "complete").all()
    failed = Path(marker.read_text())
    summary = json.loads((failed / "summary.json").read_text())
    assert summary["resumed_from_step"] == 20 and summary["step"] == 30
    results = list(folder.glob("tune/*/*/result.json"))
    assert len(results) == 2, results
    for result in results:
        rows = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        assert [r["step"] for r in rows] == [10, 20, 30], (result, [r["step"] for r in rows])
    assert (failed / "tune_reported.txt").read_text().split() == ["10", "20", "30"]
    others = [Path(p) for p in df["run_dir"] if Path(p) != failed]
    assert all(json.loads((p / "summary.json").read_text())["resumed_from_step"] == 0 for p in others)


def test_a_trial_can_train_data_parallel_on_ray_train_workers(sweep_env, tmp_path, capfd):
    import ray

    spec = small_sweep(
        tmp_path,
        "dp",
        space=[{"method": ["codegan"], "seed": [0]}],
        resources={"cpu": 0.5, "gpu": 0, "workers": 2},
        overrides={
            **yaml.safe_load((REPO / "sweeps" / "smoke.yaml").read_text())["overrides"],
            **SHORT,
            "train.steps": 20,
        },  # fmt: skip
    )
    try:
        folder = run(str(spec), out=str(tmp_path))
    finally:
        ray.shutdown()
    assert "each trial: 2 Ray Train workers of 0.5 CPU each" in capfd.readouterr().out
    df = pd.read_csv(folder / "results.csv")
    assert list(df["status"]) == ["complete"]
    summary = json.loads((Path(df["run_dir"][0]) / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["step"] == 20


def test_pbt_of_trials_on_several_workers_is_refused_with_one_line(tmp_path):
    from harness.config import ConfigError
    from sweeps.spec import load_spec

    spec = small_sweep(tmp_path, "pbtdp", resources={"cpu": 1, "gpu": 0.5, "workers": 2},
                       scheduler={"kind": "pbt", "metric": "eval/acc", "mode": "max", "perturbation_interval": 1,
                                  "mutations": {"codegan.beta_c": [1.0, 10.0]}})  # fmt: skip
    with pytest.raises(ConfigError, match="scheduler.kind pbt with resources.workers 2: Ray Train hands Tune"):
        load_spec(str(spec))


def test_the_resources_line_says_what_a_trial_holds():
    from sweeps.run import resources_line
    from sweeps.spec import Resources

    assert (
        resources_line(Resources(cpu=2, gpu=0.25))
        == "each trial: 2 CPU and 0.25 GPU (a fraction: several share one GPU)"
    )
    assert resources_line(Resources(cpu=4, gpu=0.5, workers=2)) == (
        "each trial: 2 Ray Train workers of 4 CPU and 0.5 GPU each (a fraction: several share one GPU)"
    )


def _wait_for(condition, proc: subprocess.Popen, seconds: float, what: str) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert proc.poll() is None, f"the sweep ended before {what}"
        assert time.time() < deadline, f"no {what} within {seconds} s"
        time.sleep(0.2)


def test_pbt_never_loses_a_clone_to_a_killed_worker_or_a_stopped_driver(sweep_env, tmp_path):
    """Two trials, PBT at every evaluation, Tune keeping two checkpoints per trial. The first clone's worker is
    SIGKILLed once the donor checkpoint it was cloned from has been deleted by Tune; then the driver gets SIGTERM
    (exit 130) and is resumed. Every trial must complete, each clone from the state it was cloned from."""
    marker = tmp_path / "clone-killed"
    spec = small_sweep(
        tmp_path,
        "pbt",
        space=[{"method": ["codegan"], "codegan.beta_c": [1.0, 10.0], "seed": [0]}],
        scheduler={"kind": "pbt", "metric": "eval/acc", "mode": "max", "perturbation_interval": 1,
                   "mutations": {"codegan.beta_c": [1.0, 3.0, 10.0, 30.0]}},
        overrides={**yaml.safe_load((REPO / "sweeps" / "smoke.yaml").read_text())["overrides"], **SHORT,
                   "train.eval_every": 5, "train.ckpt_every": 5},
        keep_checkpoints=2,
        max_failures=2,
    )  # fmt: skip
    cmd = [sys.executable, "-m", "sweeps.run", str(spec), "--out", str(tmp_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(tmp_path / "driver.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env={**env, "CODEGAN_SWEEP_FAULT": f"clone:{marker}"},
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            _wait_for(lambda: marker.is_file() and "killed" in marker.read_text(), proc, 400, "killed clone")
            time.sleep(1)  # Tune sees the worker die and schedules the retry from the clone's checkpoint
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    printed = (tmp_path / "driver.log").read_text()
    assert code == 130, printed[-3000:]
    assert "--resume continues" in printed.strip().splitlines()[-1]
    assert "Stack trace" not in printed and "SIGTERM received" not in printed  # no native abort
    time.sleep(3)  # let the orphaned local Ray notice its driver is gone
    resumed = subprocess.run([*cmd, "--resume"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-3000:]
    assert "resumed: PBT's record of the population starts empty" in resumed.stdout  # what the resume keeps, said
    df = pd.read_csv(tmp_path / "pbt" / "results.csv")
    assert len(df) == 2 and (df["status"] == "complete").all(), df[["trial", "status"]]
    killed = Path(marker.read_text().splitlines()[0])  # the clone's run folder, named for its start
    assert "-from-" in killed.name
    start = int(killed.name.split("-from-")[1].split("-")[1])
    # the killed clone went on from its own checkpoint after the retry: it completed, or PBT cloned its trial again
    # later (which trial a later exploit copies is Tune's timing), after the clone had trained past its start
    trial = killed.name.split("-from-")[0]
    later = [d for d in killed.parent.glob(f"{trial}-from-*") if int(d.name.split("-from-")[1].split("-")[1]) > start]
    if (killed / "summary.json").is_file():
        assert json.loads((killed / "summary.json").read_text())["status"] == "complete"
    else:
        steps = [int(p.stem.split("-")[1]) for p in (killed / "checkpoints").glob("step-*.pt")]
        assert later and max(steps) > start, (later, steps)
    clones = [d for d in (tmp_path / "pbt" / "runs").iterdir() if "-from-" in d.name and (d / "summary.json").is_file()]
    for d in clones:  # a clone starts from the checkpoint of the trial it cloned, and its result says so
        summary = json.loads((d / "summary.json").read_text())
        start_hash, start_step, _ = d.name.split("-from-")[1].split("-")
        assert summary["resumed_from_step"] >= int(start_step) > 0  # later: from its own checkpoint, after a retry
        assert summary["identity"]["start"][-1] == {"run_hash": start_hash, "step": int(start_step)}
    assert len(list((tmp_path / "pbt" / "clones").glob("*/*/step-*.pt"))) <= 2  # one kept copy per trial


def test_a_sweep_started_again_without_resume_is_refused(tmp_path):
    from harness.config import ConfigError

    spec = small_sweep(tmp_path, "twice")
    (tmp_path / "twice" / "tune" / "twice").mkdir(parents=True)  # what a first run of the sweep leaves
    with pytest.raises(ConfigError, match="already holds this sweep: --resume continues it"):
        run(str(spec), out=str(tmp_path))


def test_one_driver_per_sweep_folder_and_an_analysis_of_a_running_sweep_says_so(sweep_env, tmp_path):
    """A second driver of the same sweep is refused with one line naming the first (taken before anything is
    created), and an analysis while the driver runs writes the trials so far beside its tables, not over them."""
    spec = small_sweep(tmp_path, "lock", overrides={**SHORT, "train.steps": 5000, "eval.quality": []},
                       space=[{"method": ["codegan"], "seed": [0]}])  # fmt: skip
    cmd = [sys.executable, "-m", "sweeps.run", str(spec), "--out", str(tmp_path)]
    first = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        _wait_for(lambda: (tmp_path / "lock" / "tune").is_dir(), first, 120, "the first driver's Tune folder")
        second = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert second.returncode == 1
        assert (
            second.stderr.strip()
            .splitlines()[-1]
            .startswith(f"error: sweep folder {tmp_path / 'lock'} is in use by pid {first.pid} on ")
        ), second.stderr[-2000:]
        analysis = subprocess.run([sys.executable, "-m", "sweeps.analyze", str(tmp_path / "lock")], cwd=REPO,
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
        assert analysis.returncode == 0, analysis.stderr[-2000:]
        assert f"the sweep is still running (pid {first.pid}" in analysis.stdout
        assert (tmp_path / "lock" / "running" / "results.csv").is_file()
        assert not (tmp_path / "lock" / "results.csv").exists()  # the driver's own tables are its to write
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=120)


def test_a_sweep_with_a_failed_trial_exits_1_naming_it(sweep_env, tmp_path, capfd):
    import ray

    from sweeps.run import main

    one = small_sweep(tmp_path, "one-fails", max_failures=0, overrides={**SHORT, "train.steps": 10, "eval.quality": []},
                      space=[{"method": ["codegan"], "data.root": ["", "http://127.0.0.1:9"]}])  # fmt: skip
    every = small_sweep(tmp_path, "all-fail", max_failures=0, overrides={**SHORT, "data.root": "http://127.0.0.1:9"},
                        space=[{"method": ["codegan"], "seed": [0, 1]}])  # fmt: skip
    try:
        assert main([str(one), "--out", str(tmp_path)]) == 1
        last = capfd.readouterr().err.strip().splitlines()[-1]
        assert last.startswith("error: 1 of 2 trials ended in ERROR after 0 retries: trial ")
        assert "data.root=http://127.0.0.1:9" in last and "cannot read manifest http://127.0.0.1:9/digits" in last
        df = pd.read_csv(tmp_path / "one-fails" / "results.csv")  # the analysis is written all the same
        assert sorted(df["status"]) == ["complete", "error"], df[["trial", "status"]]
        assert main([str(every), "--out", str(tmp_path)]) == 1
        assert "error: 2 of 2 trials ended in ERROR" in capfd.readouterr().err.strip().splitlines()[-1]
    finally:
        ray.shutdown()


def test_an_unreachable_address_is_one_line_within_the_connect_timeout(tmp_path):
    import socket

    spec = small_sweep(tmp_path, "nowhere")
    cmd = [sys.executable, "-m", "sweeps.run", str(spec), "--out", str(tmp_path)]
    t0 = time.time()
    refused = subprocess.run([*cmd, "--address", "127.0.0.1:1"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and time.time() - t0 < 30
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("error: no Ray cluster at --address 127.0.0.1:1: Connection refused"), line
    assert not (tmp_path / "nowhere").exists()  # nothing written for a sweep that never started
    with socket.create_server(("127.0.0.1", 0)) as server:  # accepts connections, speaks no Ray
        address = f"127.0.0.1:{server.getsockname()[1]}"
        t0 = time.time()
        silent = subprocess.run([*cmd, "--address", address, "--connect-timeout", "5"], cwd=REPO,
                                capture_output=True, text=True, timeout=60)  # fmt: skip
    assert silent.returncode == 1 and time.time() - t0 < 30
    assert silent.stderr.strip().splitlines()[-1] == f"error: no Ray cluster answered at --address {address} within 5 s"
    assert not (tmp_path / "nowhere").exists()


def test_a_relative_sweep_path_is_read_from_the_working_folder_first(tmp_path, monkeypatch):
    from sweeps.spec import load_spec

    monkeypatch.chdir(tmp_path)
    assert load_spec("sweeps/smoke.yaml").path == REPO / "sweeps" / "smoke.yaml"  # no local copy: the repository's
    local = tmp_path / "sweeps" / "smoke.yaml"
    local.parent.mkdir()
    edited = yaml.safe_load((REPO / "sweeps" / "smoke.yaml").read_text())
    edited["name"] = "edited"
    local.write_text(yaml.safe_dump(edited))
    spec = load_spec("sweeps/smoke.yaml")
    assert spec.name == "edited" and spec.path == local
    assert all(p.is_absolute() and p.is_file() for p in spec.presets.values())


def test_a_resumed_scheduler_says_what_it_kept():
    from sweeps.run import resumed_scheduler_line

    assert "ASHA's rungs start empty" in resumed_scheduler_line("asha")
    assert "PBT's record of the population starts empty" in resumed_scheduler_line("pbt")
    assert resumed_scheduler_line("none") == ""
