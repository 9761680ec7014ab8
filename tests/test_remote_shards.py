"""Shards read from elsewhere: an http server on loopback and a ``pipe:`` command, as a cluster would."""

import functools
import http.server
import threading

import pytest
import torch

from harness.config import build_config
from harness.data.manifest import dataset_location, read_manifest
from harness.data.stream import ShardStream, load_split, make_loader
from harness.train import train
from tests.launch import tiny_run


@pytest.fixture(scope="module")
def http_root(digits_shards):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(digits_shards.parent))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _first_batches(location, man, n=3):
    it = iter(make_loader(ShardStream(location, man, "train", 32, seed=5), 0))
    return [next(it) for _ in range(n)]


@pytest.mark.parametrize("kind", ["http", "pipe"])
def test_remote_locations_read_the_same_samples(digits_shards, http_root, kind):
    root = http_root if kind == "http" else f"pipe:cat {digits_shards.parent}/{{}}"
    remote = dataset_location(root, "digits")
    local = str(digits_shards)
    man = read_manifest(remote)
    assert man.splits == read_manifest(local).splits
    assert torch.equal(load_split(remote, man, "test")["image"], load_split(local, man, "test")["image"])
    for a, b in zip(_first_batches(remote, man), _first_batches(local, man), strict=True):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["index"], b["index"])


def test_training_from_an_http_root(http_root, tmp_path):
    overrides = tiny_run(http_root, tmp_path)
    result = train(build_config("codegan/configs/digits.yaml", overrides))
    assert 0 <= result["eval/acc"] <= 1 and 0 <= result["baseline/pixels_acc"] <= 1
    assert not (tmp_path / ".cache").exists()  # caches live in the project cache, never beside runs or shards


def test_unreachable_remote_names_the_url():
    from harness.data.cards import DataError

    with pytest.raises(DataError, match=r"http://127.0.0.1:9/digits/manifest.json"):
        read_manifest(dataset_location("http://127.0.0.1:9", "digits"))
