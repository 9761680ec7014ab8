"""No shard may hang the harness or crash it with a foreign exception: seeded mutations of a real shard
(truncations, flipped bytes in headers and members, forged sizes, bad keys and names) must each end, in
bounded time, in a ``DataError`` naming the shard or in samples counted as skipped."""

import io
import json
import signal
import tarfile
from pathlib import Path

import numpy as np
import pytest

from harness.data.cards import DataError
from harness.data.manifest import Manifest, ShardInfo, SplitInfo, sha256_file
from harness.data.samples import check_members, decode_image, decode_label, iter_raw_samples
from harness.data.stream import ShardStream, load_split, make_loader

CASES = 320
SECONDS_PER_CASE = 10


def _checksum(hdr: bytearray) -> None:
    hdr[148:156] = b" " * 8
    hdr[148:156] = f"{sum(hdr):06o}\0 ".encode()


def _headers(data: bytes) -> list[int]:
    """Offsets of the member headers of a well-formed tar."""
    out, off = [], 0
    while off + 512 <= len(data) and data[off : off + 512] != bytes(512):
        out.append(off)
        size = int(data[off + 124 : off + 136].split(b"\0")[0].strip() or b"0", 8)
        off += 512 + (size + 511) // 512 * 512
    return out


def _tar(members: list[tuple[str, bytes]], fmt=tarfile.USTAR_FORMAT, pax: dict | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for i, (name, body) in enumerate(members):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            if pax and i == 0:
                info.pax_headers = pax
            tf.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def _mutate(base: bytes, members: list[tuple[str, bytes]], rng: np.random.Generator) -> tuple[str, bytes]:
    kind = rng.choice(["truncate", "flip_header", "flip_body", "forge_size", "bad_key", "bad_name", "pax", "bytes"])
    data = bytearray(base)
    heads = _headers(base)
    if kind == "truncate":
        return kind, bytes(data[: int(rng.integers(0, len(data)))])
    if kind == "flip_header":  # checksum recomputed, so the damage reaches the parser
        off = int(rng.choice(heads))
        for _ in range(int(rng.integers(1, 4))):
            data[off + int(rng.integers(0, 512))] = int(rng.integers(0, 256))
        if rng.random() < 0.8:
            hdr = bytearray(data[off : off + 512])
            _checksum(hdr)
            data[off : off + 512] = hdr
        return kind, bytes(data)
    if kind == "flip_body":
        off = int(rng.choice(heads)) + 512
        for _ in range(int(rng.integers(1, 16))):
            data[off + int(rng.integers(0, 64))] ^= int(rng.integers(1, 256))
        return kind, bytes(data)
    if kind == "forge_size":
        off = int(rng.choice(heads))
        hdr = bytearray(data[off : off + 512])
        hdr[124:136] = rng.choice([b"77777777777\0", b"00000000000\0", b"\x80" + bytes(10) + b"\x01", b"-1         \0"])
        _checksum(hdr)
        data[off : off + 512] = hdr
        return kind, bytes(data)
    if kind == "bad_key":
        i = int(rng.integers(0, len(members)))
        weird = ["noextension", "__meta__.png", ".png", "a/b/c.d.e.png", "x" * 99, "k.PNG", "k.cls.png", "../up.png"]
        renamed = list(members)
        renamed[i] = (str(rng.choice(weird)), members[i][1])
        return kind, _tar(renamed)
    if kind == "bad_name":  # raw bytes in the name field, checksum fixed
        off = int(rng.choice(heads))
        hdr = bytearray(data[off : off + 512])
        hdr[0 : int(rng.integers(1, 100))] = bytes(rng.integers(0, 256, size=100, dtype=np.uint8))[: len(hdr[0:1])]
        hdr[int(rng.integers(0, 99))] = int(rng.integers(128, 256))
        _checksum(hdr)
        data[off : off + 512] = hdr
        return kind, bytes(data)
    if kind == "pax":
        records = [{"path": "p.png"}, {"path": "\udcff.png"}, {"comment": "x" * int(rng.integers(0, 2000))}]
        out = bytearray(_tar(members, tarfile.PAX_FORMAT, records[int(rng.integers(0, len(records)))]
                             if rng.random() < 0.5 else {"path": members[0][0]}))  # fmt: skip
        for _ in range(int(rng.integers(1, 6))):  # damage the PAX body (not checksummed)
            out[512 + int(rng.integers(0, 40))] = int(rng.choice([0, 10, 32, 48, 57, 61, 255]))
        return kind, bytes(out)
    for _ in range(int(rng.integers(1, 32))):  # any bytes anywhere
        data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
    return kind, bytes(data)


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


def _consume(folder: Path, man: Manifest) -> str:
    """Every reading path a run takes; returns how it ended."""
    url = str(folder / "test-000000.tar")
    skipped = 0
    try:
        for smp in iter_raw_samples(url):
            try:
                check_members(smp, url)
                decode_image(smp, url, tuple(man.shape))
                decode_label(smp, url, man.classes)
            except DataError:
                skipped += 1
    except DataError as exc:
        assert "test-000000.tar" in str(exc), str(exc)
    for mode in ("stop", "skip"):
        try:
            load_split(str(folder), man, "test", on_error=mode)
        except DataError as exc:
            assert "test-000000.tar" in str(exc) or "no readable sample" in str(exc), str(exc)
    stream = ShardStream(str(folder), man, "test", 8, seed=0, streams=1, on_error="skip")
    try:
        for _, batch in zip(range(3), make_loader(stream, 0), strict=False):
            assert batch["image"].shape[0] == 8
    except DataError as exc:
        assert "test-000000.tar" in str(exc) or "no readable sample" in str(exc), str(exc)
    return "ok"


def test_mutated_shards_end_in_a_named_error_or_a_counted_skip(digits_shards, tmp_path):
    source = digits_shards / "test-000000.tar"
    samples = list(iter_raw_samples(str(source)))[:24]
    members = [(f"{s['__key__']}.{e}", s[e]) for s in samples for e in ("png", "cls")]
    base = _tar(members)
    labels = [int(s["cls"]) for s in samples]
    rng = np.random.default_rng(20261126)
    folder = tmp_path / "fuzz"
    folder.mkdir()
    old = signal.signal(signal.SIGALRM, _alarm)
    kinds: dict[str, int] = {}
    try:
        for case in range(CASES):
            kind, data = _mutate(base, members, rng)
            kinds[kind] = kinds.get(kind, 0) + 1
            (folder / "test-000000.tar").write_bytes(data)
            split = SplitInfo(24, np.bincount(labels, minlength=10).tolist(),
                              [ShardInfo("test-000000.tar", 24, sha256_file(folder / "test-000000.tar"))])  # fmt: skip
            man = Manifest("digits", 10, [1, 8, 8], "fuzz", "", {"test": split})
            signal.alarm(SECONDS_PER_CASE)
            try:
                _consume(folder, man)
            except _Hang:
                pytest.fail(f"case {case} ({kind}) did not end within {SECONDS_PER_CASE} s")
            except DataError:
                raise
            except Exception as exc:  # noqa: BLE001 - a foreign exception is the failure under test
                pytest.fail(f"case {case} ({kind}): {type(exc).__name__}: {exc}")
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, old)
    assert len(kinds) == 8 and min(kinds.values()) >= 20, json.dumps(kinds)
