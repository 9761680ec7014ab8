"""No shard or manifest may hang the harness or crash it with a foreign exception: seeded mutations of a real
shard (truncations, flipped bytes in headers and members, forged sizes, bad keys and names), read from a folder
and served over loopback HTTP, and seeded mutations of a real manifest (counts, names, hashes, shapes, structure),
must each end, in bounded time, in a ``DataError`` naming the shard or manifest or in samples counted as skipped."""

import copy
import hashlib
import io
import json
import shutil
import signal
import tarfile

import numpy as np
import pytest

from harness.config.cards import DataError
from harness.data.manifest import Manifest, ShardInfo, SplitInfo, is_remote, member_url, read_manifest, shard_problems
from harness.data.remote import Limits
from harness.data.samples import check_members, decode_image, decode_label, iter_raw_samples
from harness.data.stream import ShardStream, load_split, make_loader

CASES = 320
REMOTE_CASES = 120
MANIFEST_CASES = 120
SECONDS_PER_CASE = 10
LIMITS = Limits(timeout_s=2.0, retries=0)


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


class _Hang(BaseException):  # not an Exception: no reader's error handling may swallow it
    pass


def _alarm(signum, frame):
    raise _Hang()


def _named(exc: DataError, *names: str) -> bool:
    text = str(exc)
    assert "\n" not in text, text
    return any(n in text for n in (*names, "no readable sample"))


def _consume(location: str, man: Manifest, limits: Limits = LIMITS) -> tuple[int, int]:
    """Every reading path a run takes over the test split; returns (samples read, samples skipped + errors)."""
    url = member_url(location, man.splits["test"].shards[0].name)
    sha = man.splits["test"].shards[0].sha256 if is_remote(url) else None
    read, flagged = 0, 0
    try:
        for smp in iter_raw_samples(url, sha, limits):
            try:
                check_members(smp, url)
                decode_image(smp, url, tuple(man.shape))
                decode_label(smp, url, man.classes)
                read += 1
            except DataError:
                flagged += 1
    except DataError as exc:
        assert _named(exc, "test-000000.tar"), str(exc)
        flagged += 1
    names = [s.name for s in man.splits["test"].shards]
    for mode in ("stop", "skip"):
        try:
            split = load_split(location, man, "test", on_error=mode, limits=limits)
            read, flagged = read + len(split["label"]), flagged + int(split["skipped"])
        except DataError as exc:
            assert _named(exc, *names), str(exc)
            flagged += 1
    stream = ShardStream(location, man, "test", 8, seed=0, streams=1, on_error="skip", limits=limits)
    try:
        for _, batch in zip(range(3), make_loader(stream, 0), strict=False):
            assert batch["image"].shape[0] == 8
            read, flagged = read + 8, flagged + int(batch["skipped"])
    except DataError as exc:
        assert _named(exc, *names), str(exc)
        flagged += 1
    return read, flagged


def _bounded(case: int, kind: str, fn, *args):
    signal.alarm(SECONDS_PER_CASE)
    try:
        return fn(*args)
    except _Hang:
        pytest.fail(f"case {case} ({kind}) did not end within {SECONDS_PER_CASE} s")
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - a foreign exception is the failure under test
        pytest.fail(f"case {case} ({kind}): {type(exc).__name__}: {exc}")
    finally:
        signal.alarm(0)


@pytest.fixture
def alarm():
    old = signal.signal(signal.SIGALRM, _alarm)
    yield
    signal.signal(signal.SIGALRM, old)


def _base(digits_shards) -> tuple[bytes, list[tuple[str, bytes]], list[int]]:
    samples = list(iter_raw_samples(str(digits_shards / "test-000000.tar")))[:24]
    members = [(f"{s['__key__']}.{e}", s[e]) for s in samples for e in ("png", "cls")]
    return _tar(members), members, [int(s["cls"]) for s in samples]


def _manifest(sha: str, labels: list[int]) -> Manifest:
    split = SplitInfo(24, np.bincount(labels, minlength=10).tolist(), [ShardInfo("test-000000.tar", 24, sha)])
    return Manifest("digits", 10, [1, 8, 8], "fuzz", "", {"test": split})


def test_mutated_shards_end_in_a_named_error_or_a_counted_skip(digits_shards, tmp_path, alarm):
    base, members, labels = _base(digits_shards)
    rng = np.random.default_rng(20261126)
    folder = tmp_path / "fuzz"
    folder.mkdir()
    kinds: dict[str, int] = {}
    for case in range(CASES):
        kind, data = _mutate(base, members, rng)
        kinds[kind] = kinds.get(kind, 0) + 1
        (folder / "test-000000.tar").write_bytes(data)
        _bounded(case, kind, _consume, str(folder), _manifest(hashlib.sha256(data).hexdigest(), labels))
    assert len(kinds) == 8 and min(kinds.values()) >= 20, json.dumps(kinds)


def test_mutated_shards_served_over_http_end_in_a_named_error_or_a_counted_skip(digits_shards, shard_server, alarm):
    """The same seeded mutations from a loopback server: the manifest holds the mutated bytes' sha256 (the reader
    meets the damage) or, every other case, the intact shard's (the hash check must stop it: error or skip)."""
    base, members, labels = _base(digits_shards)
    rng = np.random.default_rng(20261126)
    kinds: dict[str, int] = {}
    for case in range(REMOTE_CASES):
        kind, data = _mutate(base, members, rng)
        kinds[kind] = kinds.get(kind, 0) + 1
        shard_server.bodies["fuzz/test-000000.tar"] = data
        swapped = case % 2 == 1 and data != base
        sha = hashlib.sha256(base if swapped else data).hexdigest()
        read, _ = _bounded(case, kind, _consume, f"{shard_server.url}/fuzz", _manifest(sha, labels))
        if swapped:
            assert read == 0, f"case {case} ({kind}): samples of bytes that fail the manifest's sha256 were read"
    assert len(kinds) == 8, json.dumps(kinds)


COUNTS = [-1, -128, 128.0, "128", True, None, 2**64, 10**12, 1e308, [], {}]
NAMES = ["/etc/passwd", "../digits/test-000000.tar", "pipe:cat /etc/passwd", "http://127.0.0.1:9/x.tar", "", "a b.tar",
         "x" * 300, "test-000000.tar\n", "\u00e9.tar", 7, None, "test-000009.tar", "train-000000.tar"]  # fmt: skip
STRUCTURE = ["drop_key", "no_splits", "splits_list", "no_shards", "top_list", "unknown_key", "format", "shard_key"]


def _mutate_manifest(raw: dict, text: str, rng: np.random.Generator) -> tuple[str, str]:
    """(kind, manifest text): one seeded change that no intact shard set can have."""
    m = copy.deepcopy(raw)
    test = m["splits"]["test"]
    shard = test["shards"][int(rng.integers(0, len(test["shards"])))]
    kind = str(rng.choice(["count", "consistent_count", "name", "hash", "other_hash", "classes", "shape",
                           "per_class", "structure", "text", "duplicate"]))  # fmt: skip
    if kind == "count":
        shard["count"] = COUNTS[int(rng.integers(0, len(COUNTS)))]
    elif kind == "consistent_count":  # split total and classes follow, so only reading the shard can tell
        d = int(rng.choice([-5, -1, 1, 7, 1000]))
        shard["count"] += d
        test["count"] += d
        test["per_class"][0] += d
    elif kind == "name":
        shard["name"] = NAMES[int(rng.integers(0, len(NAMES)))]
    elif kind == "hash":
        bad = [shard["sha256"].upper(), shard["sha256"][:63], "", "g" * 64, 5, None]
        shard["sha256"] = bad[int(rng.integers(0, len(bad)))]
    elif kind == "other_hash":
        shard["sha256"] = hashlib.sha256(rng.bytes(8)).hexdigest()
    elif kind == "classes":
        m["classes"] = [0, -1, 10.5, "10", 10**9, 9, 11][int(rng.integers(0, 7))]
    elif kind == "shape":
        m["shape"] = [[1, 8], [2, 8, 8], [1, -8, 8], [1, 8, 8.0], "1,8,8", [1, 10**6, 8], [3, 8, 8], [1, 8, 9]][
            int(rng.integers(0, 8))
        ]
    elif kind == "per_class":
        pc = test["per_class"]
        test["per_class"] = [[], pc[:-1], [-1, *pc[1:]], [v + 1 for v in pc], [float(v) for v in pc]][
            int(rng.integers(0, 5))
        ]
    elif kind == "duplicate":  # a shard listed again, by its name or by its content under another name, with the
        # split's counts following, so only the repetition tells
        again = dict(shard)
        if rng.integers(0, 2):
            again["name"] = f"test-{int(rng.integers(100, 999)):06d}.tar"
            kind = "duplicate:content"
        else:
            kind = "duplicate:name"
        test["shards"].insert(int(rng.integers(0, len(test["shards"]) + 1)), again)
        test["count"] += again["count"]
        test["per_class"][0] += again["count"]
    elif kind == "structure":
        which = STRUCTURE[int(rng.integers(0, len(STRUCTURE)))]
        if which == "drop_key":
            del m[str(rng.choice(["dataset", "classes", "shape", "splits"]))]
        elif which == "no_splits":
            m["splits"] = {}
        elif which == "splits_list":
            m["splits"] = [test]
        elif which == "no_shards":
            test["shards"] = []
        elif which == "top_list":
            m = [m]
        elif which == "unknown_key":
            m["extra"] = 1
        elif which == "format":
            m["format"] = 2
        else:
            shard["size"] = 5
        kind = f"structure:{which}"
    else:
        data = bytearray(text.encode())
        how = int(rng.integers(0, 4))
        if how == 0:
            return kind, text[: int(rng.integers(0, len(text)))]
        if how == 1:
            return kind, "[" * 100_000
        if how == 2:
            data[int(rng.integers(0, len(data)))] = 0xFF  # not UTF-8
            return kind, data.decode("latin-1")
        pos = int(rng.integers(0, len(data)))
        return kind, text[:pos] + "}" + text[pos:]
    return kind, json.dumps(m)


def _consume_manifest(location: str, text: str, local: bool) -> str:
    """What a run does with a manifest: read (and check) it, check local shards' hashes, read the test split."""
    try:
        man = read_manifest(location, LIMITS)
    except DataError as exc:
        assert _named(exc, "manifest.json"), str(exc)
        return "refused"
    if local and shard_problems(location, man, ["test"]):
        return "refused"
    return "flagged" if _consume(location, man)[1] else "read"


def test_mutated_manifests_end_in_a_named_error_or_a_counted_skip(digits_shards, shard_server, tmp_path, alarm):
    """Each change is one no intact shard set has; each is refused with one line naming the manifest or shard, or
    its shards are counted as skipped, read from a folder and over loopback HTTP."""
    text = (digits_shards / "manifest.json").read_text()
    raw = json.loads(text)
    local = tmp_path / "digits"
    local.mkdir()
    for shard in digits_shards.glob("*.tar"):
        shutil.copyfile(shard, local / shard.name)
    rng = np.random.default_rng(20261127)
    kinds: dict[str, int] = {}
    for case in range(MANIFEST_CASES):
        kind, mutated = _mutate_manifest(raw, text, rng)
        kinds[kind.split(":")[0]] = kinds.get(kind.split(":")[0], 0) + 1
        data = mutated.encode("latin-1", "replace") if kind == "text" else mutated.encode()
        (local / "manifest.json").write_bytes(data)
        shard_server.bodies["digits/manifest.json"] = data
        for location, is_local in ((str(local), True), (f"{shard_server.url}/digits", False)):
            outcome = _bounded(case, kind, _consume_manifest, location, mutated, is_local)
            assert outcome != "read", f"case {case} ({kind}) at {location}: the change went unnoticed"
    assert len(kinds) == 11 and min(kinds.values()) >= 5, json.dumps(kinds)
