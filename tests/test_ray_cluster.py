"""The README's multi-node recipe, as users run it: a head and a second node started with `ray start` on loopback,
token authentication on (the token reaching the second node and the driver through RAY_AUTH_TOKEN), and a sweep
driven with --address whose two trials train on both nodes. The nodes and the driver have caches of their own: the
trials still score with one yardstick, the driver's, so their results pool."""

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil
import yaml

from tests.launch import BIN, REPO


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ours(port: int, temp: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        line = " ".join(p.info["cmdline"] or [])
        if f"127.0.0.1:{port}" in line or temp in line:
            found.append(p)
    return found


def test_a_two_node_cluster_with_token_authentication_runs_a_sweep_on_both_nodes(digits_shards, tmp_path):
    port = _port()
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths under it must fit 107 bytes
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0", "CODEGAN_DATA": str(digits_shards.parent)}  # fmt: skip
    ray = str(BIN / "ray")
    head = [ray, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1",
            "--temp-dir", temp, "--include-dashboard=false", "--disable-usage-stats"]  # fmt: skip
    node = [ray, "start", "--address", f"127.0.0.1:{port}", "--node-ip-address", "127.0.0.1", "--num-cpus", "1"]
    spec = tmp_path / "two.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "two", "presets": {"codegan": "codegan/digits"},
        "overrides": {"train.steps": 10, "train.ckpt_every": 10, "train.log_every": 5, "eval.fid_samples": 200,
                      "eval.kmeans_seeds": 1, "eval.kmeans_n_init": 1, "eval.pixel_baseline": False},
        "space": [{"method": ["codegan"], "seed": [0, 1]}], "scheduler": {"kind": "none"},
        "resources": {"cpu": 1, "gpu": 0}, "wandb": {"mode": "disabled"},
    }))  # fmt: skip
    try:
        for cmd, cache in ((head, "head"), (node, "node")):
            started = subprocess.run(cmd, env={**env, "CODEGAN_CACHE": str(tmp_path / cache)}, capture_output=True,
                                     text=True, timeout=120)  # fmt: skip
            assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
        sweep = [sys.executable, "-m", "sweeps.run", str(spec), "--address", f"127.0.0.1:{port}",
                 "--out", str(tmp_path / "out")]  # fmt: skip
        driver = {**env, "CODEGAN_CACHE": str(tmp_path / "driver")}
        proc = subprocess.run(sweep, cwd=REPO, env=driver, capture_output=True, text=True, timeout=400)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    finally:
        for p in _ours(port, temp):  # this test's cluster only: `ray stop` would stop every Ray on the machine
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGKILL)
        time.sleep(1)
        shutil.rmtree(temp, ignore_errors=True)
    df = pd.read_csv(tmp_path / "out" / "two" / "results.csv")
    assert (df["status"] == "complete").all() and df["node"].nunique() == 2, df[["status", "node"]]
    identities = [json.loads((Path(d) / "summary.json").read_text())["identity"] for d in df["run_dir"]]
    assert identities[0]["extractors"] == identities[1]["extractors"]  # one yardstick: the seeds pool
    (made,) = (tmp_path / "driver" / "extractors").glob("domain-digits-8px-*.pt")
    for node in ("head", "node"):  # each node's own cache holds the driver's very classifier
        assert (tmp_path / node / "extractors" / made.name).read_bytes() == made.read_bytes()
