"""Shared fixtures: the real digits shards (built once per session) and environment hygiene."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory) -> Path:
    """Extractors, reference statistics and downloads go to a per-session cache (subprocesses inherit it)."""
    path = tmp_path_factory.mktemp("cache")
    os.environ["CODEGAN_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def digits_shards(tmp_path_factory) -> Path:
    """Real digits shards built into a private data root (the repo's datasets/ folder is left alone)."""
    from harness.data.build import build

    root = tmp_path_factory.mktemp("data")
    return build("digits", root=str(root), progress=False)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny nets: one thread is faster, and a busy machine cannot stall it at a thread barrier. A module asks for
    it with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def _shard_server(digits_shards):
    from tests.loopback import ShardServer

    server = ShardServer(digits_shards.parent)
    yield server
    server.close()


@pytest.fixture
def shard_server(_shard_server):
    """A loopback HTTP server of the digits shards (``<url>/digits/...``); its faults are cleared after each test."""
    yield _shard_server
    _shard_server.reset()
