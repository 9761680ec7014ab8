"""Shards read from elsewhere: an http server on loopback (that also stalls, trickles, closes, 404s and swaps
bytes) and a ``pipe:`` command, as a cluster would."""

import json
import time

import pytest
import torch

from harness.config import build_config
from harness.config.cards import DataError
from harness.data.manifest import dataset_location, read_manifest
from harness.data.remote import Limits, ShardHashError, fetch
from harness.data.stream import ShardStream, load_split, make_loader
from harness.training.trainer import train
from tests.launch import launch, tiny_run

pytestmark = pytest.mark.usefixtures("one_thread")
FAST = Limits(timeout_s=1.0, min_bytes_per_s=1024, retries=0)


def _first_batches(location, man, n=3, **kw):
    it = iter(make_loader(ShardStream(location, man, "train", 32, seed=5, **kw), 0))
    return [next(it) for _ in range(n)]


@pytest.mark.parametrize("kind", ["http", "pipe"])
def test_remote_locations_read_the_same_samples(digits_shards, shard_server, kind):
    root = shard_server.url if kind == "http" else f"pipe:cat {digits_shards.parent}/{{}}"
    remote = dataset_location(root, "digits")
    local = str(digits_shards)
    man = read_manifest(remote)
    assert man.splits == read_manifest(local).splits
    assert torch.equal(load_split(remote, man, "test")["image"], load_split(local, man, "test")["image"])
    for a, b in zip(_first_batches(remote, man), _first_batches(local, man), strict=True):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["index"], b["index"])


def test_training_from_an_http_root(shard_server, tmp_path):
    overrides = tiny_run(shard_server.url, tmp_path)
    result = train(build_config("codegan/configs/digits.yaml", overrides))
    assert 0 <= result["eval/acc"] <= 1 and 0 <= result["baseline/pixels_acc"] <= 1
    assert not (tmp_path / ".cache").exists()  # caches live in the project cache, never beside runs or shards


def test_unreachable_remote_names_the_url():
    with pytest.raises(DataError, match=r"http://127.0.0.1:9/digits/manifest.json"):
        read_manifest(dataset_location("http://127.0.0.1:9", "digits"))


def _evil_manifest(digits_shards, name: str) -> bytes:
    man = json.loads((digits_shards / "manifest.json").read_text())
    man["splits"]["train"]["shards"][3]["name"] = name
    return json.dumps(man).encode()


def test_a_remote_manifest_cannot_run_a_command(digits_shards, shard_server, tmp_path):
    """The served manifest names its shard ``pipe:touch PWNED; cat ...``: refused before anything runs."""
    pwned = tmp_path / "PWNED"
    shard_server.bodies["evil/digits/manifest.json"] = _evil_manifest(
        digits_shards, f"pipe:touch {pwned}; cat {digits_shards}/train-000003.tar"
    )
    proc = launch(tiny_run(f"{shard_server.url}/evil", tmp_path / "runs"), timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert "evil/digits/manifest.json: not a valid shard manifest" in line and "splits.train.shards[3].name" in line
    assert not pwned.exists()


NOT_PLAIN = ["/etc/passwd", "../digits/train-000003.tar", "sub/train-000003.tar", "http://127.0.0.1:9/x.tar",
             "file:///etc/passwd", "a;b.tar", "-n.tar", ""]  # fmt: skip


@pytest.mark.parametrize("name", NOT_PLAIN)
def test_a_manifest_names_only_plain_files_inside_its_location(digits_shards, shard_server, tmp_path, name):
    shard_server.bodies["evil/digits/manifest.json"] = _evil_manifest(digits_shards, name)
    with pytest.raises(DataError, match=r"splits\.train\.shards\[3\]\.name .* is not a plain file name"):
        read_manifest(f"{shard_server.url}/evil/digits")
    local = tmp_path / "digits"
    local.mkdir()
    (local / "manifest.json").write_bytes(_evil_manifest(digits_shards, name))
    with pytest.raises(DataError, match=r"splits\.train\.shards\[3\]\.name .* is not a plain file name"):
        read_manifest(str(local))


def _swap(shard_server, digits_shards, name: str, other: str) -> None:
    shard_server.bodies[f"digits/{name}"] = (digits_shards / other).read_bytes()


def test_a_swapped_remote_shard_never_yields_a_sample(digits_shards, shard_server):
    """train-000004's bytes served as train-000003: a named error, or with on_error=skip a counted skip."""
    _swap(shard_server, digits_shards, "train-000003.tar", "train-000004.tar")
    _swap(shard_server, digits_shards, "test-000001.tar", "test-000000.tar")
    remote = dataset_location(shard_server.url, "digits")
    man = read_manifest(remote)
    with pytest.raises(ShardHashError, match=r"shard http://.*/digits/test-000001\.tar: sha256 .* does not match"):
        load_split(remote, man, "test")
    test = load_split(remote, man, "test", on_error="skip")
    assert int(test["skipped"]) == 128 and len(test["label"]) == 360 - 128
    assert not set(test["index"].tolist()) & set(range(128, 256))  # none of the swapped shard's samples
    with pytest.raises(ShardHashError, match=r"digits/train-000003\.tar: sha256"):
        _first_batches(remote, man, n=60, streams=1)
    batches = _first_batches(remote, man, n=50, streams=1, on_error="skip")  # more than one epoch of 1,437
    assert sum(int(b["skipped"]) for b in batches) >= 128
    seen = torch.cat([b["index"] for b in batches])
    assert not ((seen >= 3 * 128) & (seen < 4 * 128)).any()


def test_training_on_a_swapped_remote_shard_stops_or_skips_and_counts(digits_shards, shard_server, tmp_path):
    _swap(shard_server, digits_shards, "train-000003.tar", "train-000004.tar")
    steps = ["train.steps=60", "train.batch_size=32", "data.streams=1", "eval.quality=[]", "eval.pixel_baseline=false"]
    overrides = tiny_run(shard_server.url, tmp_path, *steps)
    with pytest.raises(ShardHashError, match=r"digits/train-000003\.tar"):
        train(build_config("digits", overrides))
    result = train(build_config("digits", [*overrides, "data.on_error=skip", "log.root=" + str(tmp_path / "skip")]))
    assert result["data/skipped"] >= 128


@pytest.mark.parametrize("fault", ["stall", "stall_headers", "trickle"])
@pytest.mark.parametrize("what", ["digits/manifest.json", "digits/train-000003.tar"])
def test_a_stalled_remote_read_ends_in_bounded_time_naming_the_url(digits_shards, shard_server, fault, what):
    shard_server.faults[what] = fault
    url = f"{shard_server.url}/{what}"
    t0 = time.monotonic()
    with pytest.raises(DataError, match=rf"cannot read (manifest|shard) {url}: (stalled|no answer within)"):
        fetch(url, FAST)
    assert time.monotonic() - t0 < 2 * FAST.timeout_s + 1


@pytest.mark.parametrize(("fault", "reason"), [("close", "connection closed after"), ("404", "HTTP 404"),
                                               ("500", "HTTP 500")])  # fmt: skip
def test_a_closed_or_refused_remote_read_names_the_url(shard_server, fault, reason):
    shard_server.faults["digits/train-000003.tar"] = fault
    url = f"{shard_server.url}/digits/train-000003.tar"
    with pytest.raises(DataError, match=rf"cannot read shard {url}: {reason}"):
        fetch(url, Limits(timeout_s=1.0, retries=1))
    assert shard_server.hits["digits/train-000003.tar"] == (1 if fault == "404" else 2)  # 404: no retry


def test_a_stalled_or_failing_command_ends_in_bounded_time(tmp_path):
    marker = tmp_path / "still-running"
    t0 = time.monotonic()
    with pytest.raises(DataError, match=r"cannot read shard pipe:.*: stalled: 0 bytes"):
        fetch(f"pipe:sleep 2; touch {marker}", FAST)
    assert time.monotonic() - t0 < 2 * FAST.timeout_s + 1
    time.sleep(2.5 - (time.monotonic() - t0))  # past the 2 s the command would take
    assert not marker.exists()  # the whole process group was killed, not only the shell
    with pytest.raises(DataError, match=r"cannot read shard pipe:cat /nonexistent: the command exited with status 1"):
        fetch("pipe:cat /nonexistent", FAST)


def test_a_stalled_http_root_is_one_line_and_exit_1(shard_server, tmp_path):
    shard_server.faults["digits/test-000001.tar"] = "stall"
    t0 = time.monotonic()
    proc = launch(tiny_run(shard_server.url, tmp_path, "data.remote_timeout_s=1"), timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert f"cannot read shard {shard_server.url}/digits/test-000001.tar: stalled" in line
    assert time.monotonic() - t0 < 60


def test_scanned_foreign_shards_over_http_are_held_to_their_first_scan(digits_shards, shard_server):
    from harness.data.foreign import scan

    base = f"{shard_server.url}/digits"
    urls = {"train": [f"{base}/train-00000{i}.tar" for i in range(3)], "test": [f"{base}/test-000000.tar"]}
    man = scan(urls, "my-digits", None, progress=False)
    assert [s.name for s in man.splits["train"].shards] == urls["train"]
    assert len(_first_batches("", man, n=2, streams=1)) == 2
    _swap(shard_server, digits_shards, "train-000001.tar", "train-000002.tar")
    with pytest.raises(ShardHashError, match=r"digits/train-000001\.tar: sha256"):
        _first_batches("", man, n=20, streams=1)


def test_a_remote_file_larger_than_its_cap_is_refused(digits_shards, shard_server):
    url = f"{shard_server.url}/digits/train-000003.tar"
    with pytest.raises(DataError, match=rf"cannot read shard {url}: \d+ bytes, more than the 1000 a shard may be"):
        fetch(url, FAST, cap=1000)  # from its Content-Length, before the body
    with pytest.raises(DataError, match=r"cannot read shard pipe:cat .*: larger than"):  # counted as it arrives
        fetch(f"pipe:cat {digits_shards}/train-000003.tar", FAST, cap=1000)
