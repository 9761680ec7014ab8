import os

import pytest
import torch

from harness.config.cards import DataError
from harness.data.manifest import read_manifest
from harness.data.stream import ReaderPlan, ShardStream, make_loader


def _indices(stream: ShardStream, batches: int, workers: int = 0) -> list[list[int]]:
    it = iter(make_loader(stream, workers))
    return [next(it)["index"].tolist() for _ in range(batches)]


@pytest.fixture(scope="module")
def man(digits_shards):
    return read_manifest(str(digits_shards))


def test_order_is_seeded_and_independent_of_workers(digits_shards, man):
    loc = str(digits_shards)
    a = _indices(ShardStream(loc, man, "train", 32, seed=7), 12)
    assert a == _indices(ShardStream(loc, man, "train", 32, seed=7), 12, workers=2)
    assert a == _indices(ShardStream(loc, man, "train", 32, seed=7), 12, workers=4)
    assert a != _indices(ShardStream(loc, man, "train", 32, seed=8), 12)


def test_resume_at_any_batch_continues_the_same_sequence(digits_shards, man):
    loc = str(digits_shards)
    full = _indices(ShardStream(loc, man, "train", 50, seed=1), 70)  # > 2 epochs of 1437 samples
    for start in (1, 5, 29, 63):
        assert _indices(ShardStream(loc, man, "train", 50, seed=1, start_batch=start), 70 - start, 2) == full[start:]


def test_ranks_are_disjoint_within_an_epoch_and_cover_it(digits_shards, man):
    loc = str(digits_shards)
    world, streams, batch = 2, 4, 16
    per_reader = 1437 // (world * streams)  # 179
    batches = per_reader // batch * streams  # whole batches inside one epoch
    streams_of = [ShardStream(loc, man, "train", batch, 3, r, world, streams) for r in range(world)]
    seen = [sum(_indices(s, batches), []) for s in streams_of]
    assert all(len(s) == len(set(s)) for s in seen)
    assert not set(seen[0]) & set(seen[1])
    epoch = [ReaderPlan([s.count for s in man.splits["train"].shards], 3, g, 8).epoch(0) for g in range(8)]
    assert sum(p.count for pieces in epoch for p in pieces) == 8 * per_reader


def test_batches_are_uint8_with_labels(digits_shards, man):
    b = next(iter(make_loader(ShardStream(str(digits_shards), man, "train", 8, seed=0), 0)))
    assert b["image"].dtype == torch.uint8 and b["image"].shape == (8, 1, 8, 8)
    assert b["label"].min() >= 0 and b["label"].max() < 10


def test_too_many_readers_is_an_error(digits_shards, man):
    with pytest.raises(DataError, match="cannot feed"):
        ShardStream(str(digits_shards), man, "train", 8, seed=0, world=400, streams=4)
    with pytest.raises(DataError, match="no 'val' split"):
        ShardStream(str(digits_shards), man, "val", 8, seed=0)


def test_auto_loader_workers_leave_the_cpu_to_the_step_and_divide_the_streams(monkeypatch):
    from harness.data.stream import loader_workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(16)), raising=False)
    assert loader_workers(-1, 4, "cpu") == 0 and loader_workers(2, 4, "cpu") == 2  # as set, when set
    assert loader_workers(-1, 4, "cuda") == 4  # 16 cores: every stream its own worker
    assert loader_workers(-1, 6, "cuda", local_ranks=4) == 3  # 4 cores a rank, one for the step: 3 divides 6
    assert loader_workers(-1, 4, "cuda", local_ranks=16) == 0  # no core to spare
    monkeypatch.setenv("CODEGAN_CPUS", "3")  # a Ray trial reserved 3 of the node's 16 cores
    assert loader_workers(-1, 4, "cuda") == 2 and loader_workers(-1, 4, "cuda", local_ranks=4) == 2
    monkeypatch.setenv("CODEGAN_CPUS", "0.5")
    assert loader_workers(-1, 4, "cuda") == 0
