"""The launcher's environment: a stale WORLD_SIZE/RANK/MASTER_* or a malformed WORLD_SIZE ends in one line in
bounded time, a collective waits runtime.dist_timeout_s, and the main process's work gets every allowed CPU."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from tests.launch import REPO, env, tiny_run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("rank", ["1", "0"])
def test_a_stale_rank_environment_fails_in_one_line_within_the_rendezvous_timeout(
    digits_shards, tmp_path, rank, monkeypatch, capfd
):
    """A one-process run with another launch's WORLD_SIZE=2 RANK=... MASTER_ADDR MASTER_PORT left in its
    environment: rank 1 finds no rank 0, rank 0 waits for a rank 1 that never comes; both stop."""
    from harness.commands.train import main

    port = str(_free_port())
    for k, v in {"WORLD_SIZE": "2", "RANK": rank, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}.items():
        monkeypatch.setenv(k, v)
    t = time.time()
    assert main(tiny_run(digits_shards.parent, tmp_path, "runtime.rendezvous_timeout_s=2")) == 1
    took = time.time() - t
    (line,) = capfd.readouterr().err.strip().splitlines()  # c10d's own C++ log of each attempt held back
    assert line.startswith(f"[rank {rank}] error: no process group within runtime.rendezvous_timeout_s=2 s")
    assert f"WORLD_SIZE=2 RANK={rank} MASTER_ADDR=127.0.0.1 MASTER_PORT={port}" in line
    assert ("rank 0 did not answer" if rank == "1" else "the other ranks did not all join") in line
    assert took < 30, f"took {took:.0f} s"
    assert not any(tmp_path.iterdir()), "nothing is written before the ranks have met"


@pytest.mark.parametrize("value", ["abc", "0"])
def test_a_malformed_world_size_is_one_line(tmp_path, value, monkeypatch, capsys):
    from harness.commands.train import main

    monkeypatch.setenv("WORLD_SIZE", value)
    assert main([f"log.root={tmp_path}"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"config error: environment: WORLD_SIZE={value!r} is not an integer >= 1")


RANK_SCRIPT = """
import os, sys, time
import torch.distributed as dist
from harness.config import build_config
from harness.parallel.distributed import join
join(build_config("digits", ["runtime.dist_timeout_s=2"]))
t = time.time()
if dist.get_rank() == 1:
    try:
        dist.barrier()
    except RuntimeError as exc:
        print(f"timed out after {time.time() - t:.1f} s")
    else:
        print("barrier passed")
else:
    time.sleep(4)
"""


def test_a_collective_waits_dist_timeout_s_not_gloos_thirty_minutes(tmp_path):
    """Two real gloo ranks; rank 0 never enters the barrier that rank 1 waits in."""
    port = str(_free_port())
    procs = []
    for rank in ("0", "1"):
        extra = {"WORLD_SIZE": "2", "RANK": rank, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
        cmd = [sys.executable, "-c", RANK_SCRIPT]
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=env(**extra), stdout=subprocess.PIPE, text=True))
    out = [p.communicate(timeout=120)[0] for p in procs]
    assert out[1].startswith("timed out after"), out
    assert 1.8 <= float(out[1].split()[3]) < 5, out[1]


def test_the_main_process_work_gets_the_free_cpus_under_the_launchers_one_thread(monkeypatch):
    """As under ``accelerate launch`` (OMP_NUM_THREADS=1: one thread everywhere). The main process's evaluation work
    gets every CPU its affinity allows (torch and the OpenMP/BLAS pools of scikit-learn and SciPy) but one per other
    rank on the machine, then one thread again; other ranks and one process keep theirs; the key sets the count."""
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    from harness.config import build_config
    from harness.parallel.threads import cpus_allowed, main_process_threads

    def seen():
        return {"torch": torch.get_num_threads(), "pools": sorted({p["num_threads"] for p in threadpool_info()})}

    cfg, cpus, before = build_config("digits"), cpus_allowed(), torch.get_num_threads()
    one = {"torch": 1, "pools": [1]}
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")  # one rank on this machine (of a multi-node launch)
    try:
        with threadpool_limits(limits=1):
            torch.set_num_threads(1)
            with main_process_threads(cfg, 2, True):
                assert seen() == {"torch": cpus, "pools": [cpus]}
            assert seen() == one
            for processes, main in ((2, False), (1, True)):
                with main_process_threads(cfg, processes, main):
                    assert seen() == one
            with main_process_threads(build_config("digits", ["runtime.eval_threads=3"]), 1, True):
                assert seen() == {"torch": 3, "pools": [3]}
            monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
            with main_process_threads(cfg, 2, True):
                assert seen() == {"torch": max(1, cpus - 1), "pools": [max(1, cpus - 1)]}
            assert seen() == one
    finally:
        torch.set_num_threads(before)
