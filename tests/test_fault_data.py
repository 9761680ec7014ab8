"""Shards that hang or crash a naive reader, shard folders that are broken or read-only."""

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from harness.config import build_config
from harness.config.cards import DataError
from harness.data.manifest import read_manifest, sha256_file
from harness.data.samples import iter_raw_samples
from harness.data.stream import load_split
from harness.training.trainer import train
from tests.launch import BIN, CPU_DDP, REPO, env, launch, tiny_run


def _copy(digits_shards: Path, dst: Path) -> Path:
    shutil.copytree(digits_shards, dst)
    return dst


def _members(shard: Path) -> list[tuple[str, bytes]]:
    return [(f"{s['__key__']}.{e}", s[e]) for s in iter_raw_samples(str(shard)) for e in ("png", "cls")]


def _write_tar(path: Path, members: list[tuple[str, bytes]], fmt=tarfile.USTAR_FORMAT, pax_first: bool = False,
               encoding: str = "utf-8") -> None:  # fmt: skip
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, encoding=encoding) as tf:
        for i, (name, data) in enumerate(members):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            if pax_first and i == 0:
                info.pax_headers = {"path": name, "comment": "x"}
            tf.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())


def _rehash(folder: Path) -> None:
    """Make the manifest match the (edited) shards, so the reader itself meets the damage."""
    man = json.loads((folder / "manifest.json").read_text())
    for split in man["splits"].values():
        for shard in split["shards"]:
            shard["sha256"] = sha256_file(folder / shard["name"])
    (folder / "manifest.json").write_text(json.dumps(man))


def test_a_pax_record_of_length_zero_is_an_error_not_a_hang(digits_shards, tmp_path):
    d = _copy(digits_shards, tmp_path / "digits")
    shard = d / "test-000000.tar"
    _write_tar(shard, _members(shard), fmt=tarfile.PAX_FORMAT, pax_first=True)
    data = bytearray(shard.read_bytes())
    body = 512  # the PAX header's body follows its 512-byte header
    length = data[body : body + 8].split(b" ")[0]
    data[body : body + len(length)] = b"0" * len(length)  # "0 comment=x\n": a record that never advances
    shard.write_bytes(bytes(data))
    _rehash(d)
    with pytest.raises(DataError, match=r"test-000000\.tar: corrupt PAX header at byte 0"):
        load_split(str(d), read_manifest(str(d)), "test")
    proc = subprocess.run([sys.executable, "-m", "harness.commands.data", "verify", str(d)], cwd=REPO, env=env(),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 1 and "corrupt PAX header" in proc.stderr
    errors = [ln for ln in proc.stderr.strip().splitlines() if not ln.startswith("verify ")]  # progress bars
    assert len(errors) == 1 and errors[0].startswith("error: ")


def test_a_non_utf8_member_name_names_the_shard(digits_shards, tmp_path):
    d = _copy(digits_shards, tmp_path / "digits")
    shard = d / "test-000001.tar"
    members = _members(shard)
    members[0] = ("test-\xff\xfe.png", members[0][1])
    _write_tar(shard, members, fmt=tarfile.GNU_FORMAT, encoding="latin-1")
    _rehash(d)
    with pytest.raises(DataError, match=r"test-000001\.tar: member name at byte 0 is not UTF-8"):
        load_split(str(d), read_manifest(str(d)), "test")


def test_sample_keys_of_any_form_are_read_and_indexed_by_position(digits_shards, tmp_path):
    d = _copy(digits_shards, tmp_path / "digits")
    shard = d / "test-000000.tar"
    renamed = [(f"photo_{i // 2:04d}{'.png' if n.endswith('png') else '.cls'}", b) for i, (n, b) in
               enumerate(_members(shard))]  # fmt: skip
    _write_tar(shard, renamed)
    _rehash(d)
    man = read_manifest(str(d))
    data = load_split(str(d), man, "test")
    assert data["index"].tolist() == list(range(man.splits["test"].count))


def test_skip_mode_with_no_readable_sample_ends_instead_of_looping(digits_shards, tmp_path):
    d = _copy(digits_shards, tmp_path / "digits")
    for shard in d.glob("train-*.tar"):
        _write_tar(shard, [(n, b"99" if n.endswith(".cls") else b) for n, b in _members(shard)])
    _rehash(d)
    overrides = tiny_run(tmp_path, tmp_path / "runs", "data.on_error=skip", "eval.quality=[]")
    with pytest.raises(DataError, match="no readable sample in a whole epoch"):
        train(build_config("digits", overrides))


@pytest.mark.parametrize("damage", ["missing shard", "invalid manifest"])
def test_a_broken_shard_folder_is_reported_never_silently_rebuilt(digits_shards, tmp_path, damage):
    d = _copy(digits_shards, tmp_path / "digits")
    if damage == "missing shard":
        (d / "train-000003.tar").unlink()
        needle = r"shard .*train-000003\.tar listed in .*manifest\.json is missing"
    else:
        (d / "manifest.json").write_text('{"dataset": "digits", "splits": ')
        needle = r"manifest\.json: not a valid shard manifest"
    before = {p.name: p.stat().st_mtime_ns for p in d.iterdir()}
    proc = launch(tiny_run(tmp_path, tmp_path / "runs"))
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert "nothing was changed" in line and "--force" in line
    import re

    assert re.search(needle, line), line
    assert before == {p.name: p.stat().st_mtime_ns for p in d.iterdir()}


def _unshare_works() -> bool:
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("unshare") is None or not _unshare_works(), reason="no mount namespaces here")
def test_shards_on_a_read_only_mount_train(digits_shards, tmp_path):
    """A real read-only bind mount (a private mount namespace): nothing is written beside the shards."""
    d = _copy(digits_shards, tmp_path / "digits")
    before = sorted(p.name for p in d.iterdir())
    run = " ".join([sys.executable, "-m", "harness.run", *tiny_run(tmp_path, tmp_path / "runs")])
    script = f"mount --bind {d} {d} && mount -o remount,bind,ro {d} && touch {d}/probe 2>/dev/null; {run}"
    proc = subprocess.run(["unshare", "-rm", "bash", "-c", script], cwd=REPO, env=env(), capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "raw pixels" in proc.stdout  # the pixel baseline was computed and cached elsewhere
    assert sorted(p.name for p in d.iterdir()) == before  # not even the probe got in


@pytest.mark.skipif(shutil.which("tar") is None, reason="no tar command")
def test_gnu_tar_time_fields_are_not_read_as_a_path_prefix(digits_shards, tmp_path):
    """GNU headers keep atime/ctime where POSIX ustar keeps a path prefix (``tar --format=gnu -G`` writes them):
    keys must not start with ``00000000000/``; a real ustar prefix (a path longer than 100 bytes) is kept."""
    src = tmp_path / "src"
    src.mkdir()
    subprocess.run(["tar", "-xf", str(digits_shards / "test-000000.tar"), "-C", str(src)], check=True)
    gnu = tmp_path / "gnu.tar"
    subprocess.run(["tar", "--format=gnu", "-G", "-cf", str(gnu), "-C", str(src), "."], check=True)
    want = sorted("./" + s["__key__"] for s in iter_raw_samples(str(digits_shards / "test-000000.tar")))
    assert sorted(s["__key__"] for s in iter_raw_samples(str(gnu))) == want
    deep = "d" * 90 + "/" + "e" * 30
    posix = tmp_path / "posix.tar"
    _write_tar(posix, [(f"{deep}/k.png", b"x"), (f"{deep}/k.cls", b"1")])
    assert [s["__key__"] for s in iter_raw_samples(str(posix))] == [f"{deep}/k"]


def test_skip_mode_reaches_the_domain_classifier_trained_on_damaged_shards(digits_shards, tmp_path, monkeypatch,
                                                                          one_thread):  # fmt: skip
    monkeypatch.setenv("CODEGAN_CACHE", str(tmp_path / "cache"))  # the classifier of these shards is trained here
    d = _copy(digits_shards, tmp_path / "digits")
    shard = d / "train-000002.tar"
    _write_tar(shard, [(n, b"77" if n.endswith(".cls") and i == 1 else b) for i, (n, b) in enumerate(_members(shard))])
    _rehash(d)  # the shard matches its manifest; one of its samples has a label outside [0, 10)
    overrides = tiny_run(tmp_path, tmp_path / "runs", "eval.pixel_baseline=false")
    with pytest.raises(DataError, match=r"train-000002\.tar, sample .*: label 77 outside"):
        train(build_config("digits", overrides))
    result = train(build_config("digits", [*overrides, "data.on_error=skip"]))
    assert result["eval/fid_domain"] > 0
    assert list((tmp_path / "cache" / "extractors").glob("domain-digits-*px-*.pt"))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("unshare") is None or not _unshare_works(), reason="no mount namespaces here")
def test_a_complete_cache_on_a_read_only_mount_is_used_as_it_is(digits_shards, tmp_path, one_thread):
    cache = Path(os.environ["CODEGAN_CACHE"])
    train(build_config("digits", tiny_run(digits_shards.parent, tmp_path / "first")))  # fills it, if not yet full
    before = sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))
    one = [sys.executable, "-m", "harness.run", *tiny_run(digits_shards.parent, tmp_path / "one", "seed=1")]
    two = [str(BIN / "accelerate"), "launch", *CPU_DDP, "harness/run.py",
           *tiny_run(digits_shards.parent, tmp_path / "two", "seed=2")]  # fmt: skip
    ro = f"mount --bind {cache} {cache} && mount -o remount,bind,ro {cache}"
    script = f"{ro} && touch {cache}/probe 2>/dev/null; {' '.join(one)} && {' '.join(two)}"
    proc = subprocess.run(["unshare", "-rm", "bash", "-c", script], cwd=REPO, env=env(OMP_NUM_THREADS="1"),
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("image quality: ") == 2 and proc.stdout.count("raw pixels") == 2  # one process, 2 ranks
    assert sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) == before


def test_a_manifest_or_url_list_naming_a_shard_twice_is_refused_with_one_line(digits_shards, tmp_path):
    """Twenty copies of one shard would train on one shard as if it were twenty, and the domain classifier trained
    on them would be cached as the dataset's: refused, by name and by content, before anything is read or trained."""
    import json
    import shutil

    from harness.config import build_config
    from harness.core.errors import DataError
    from harness.data.manifest import read_manifest
    from harness.training.run_data import shard_location

    copy = tmp_path / "digits"
    shutil.copytree(digits_shards, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    first = manifest["splits"]["train"]["shards"][0]
    doubled = {**manifest["splits"]["train"], "shards": [first, first]}
    doubled["count"] = 2 * first["count"]
    doubled["per_class"] = [0] * len(manifest["splits"]["train"]["per_class"])
    doubled["per_class"][0] = doubled["count"]
    (copy / "manifest.json").write_text(json.dumps({**manifest, "splits": {**manifest["splits"], "train": doubled}}))
    with pytest.raises(DataError, match=r"splits.train.shards\[1\]: train-000000.tar is listed again"):
        read_manifest(str(copy))
    url, test = str(digits_shards / "train-000000.tar"), f"data.eval_urls={digits_shards / 'test-000000.tar'}"
    cfg = build_config("digits", [f"data.train_urls=[{url}, {url}]", test])
    with pytest.raises(DataError, match="train shard .*train-000000.tar is listed again"):
        shard_location(cfg, main=True)
    (tmp_path / "same.tar").write_bytes((digits_shards / "train-000000.tar").read_bytes())
    cfg = build_config("digits", [f"data.train_urls=[{url}, {tmp_path / 'same.tar'}]", test])
    with pytest.raises(DataError, match="holds the same bytes"):
        shard_location(cfg, main=True)


def test_the_domain_classifier_cache_is_keyed_by_the_data_it_learned():
    from harness.metrics.domain import extractor_path

    a, b = extractor_path("digits", 8, "0123abcd"), extractor_path("digits", 8, "ffff0000")
    assert a != b and a.name == "domain-digits-8px-0123abcd.pt"


def test_a_gzipped_manifest_is_named_as_such(tmp_path):
    import gzip

    from harness.core.errors import DataError
    from harness.data.manifest import read_manifest

    (tmp_path / "manifest.json").write_bytes(gzip.compress(b'{"dataset": "digits"}'))
    with pytest.raises(DataError, match="manifest.json: a gzip-compressed file, not a shard manifest"):
        read_manifest(str(tmp_path))
