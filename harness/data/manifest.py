"""The shard manifest: what a built dataset holds (counts per split and class, shape, per-shard sha256)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.data.cards import DataError

MANIFEST = "manifest.json"
FORMAT = 1


@dataclass
class ShardInfo:
    name: str
    count: int
    sha256: str


@dataclass
class SplitInfo:
    count: int
    per_class: list[int]
    shards: list[ShardInfo] = field(default_factory=list)


@dataclass
class Manifest:
    dataset: str
    classes: int
    shape: list[int]  # C, H, W
    source: str
    card_sha256: str
    splits: dict[str, SplitInfo]
    shard_size: int = 0
    dtype: str = "uint8"
    members: list[str] = field(default_factory=lambda: ["png", "cls"])
    # sample "<split>-<i>" is source sample numpy.random.default_rng(shuffle_seed).permutation(n)[i]
    shuffle_seed: int = 0
    format: int = FORMAT

    def digest(self, splits: list[str]) -> str:
        """The identity of the data a result read: dataset, shape, classes and the splits' shard hashes."""
        shards = {s: [(i.name, i.count, i.sha256) for i in self.splits[s].shards] for s in sorted(set(splits))}
        src = json.dumps([self.dataset, self.shape, self.classes, shards], sort_keys=True)
        return hashlib.sha256(src.encode()).hexdigest()[:12]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str, where: str) -> Manifest:
        try:
            raw: dict[str, Any] = json.loads(text)
            splits = {
                k: SplitInfo(v["count"], v["per_class"], [ShardInfo(**s) for s in v["shards"]])
                for k, v in raw.pop("splits").items()
            }
            man = cls(splits=splits, **raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{where}: not a valid shard manifest ({exc})") from None
        if man.format != FORMAT:
            raise DataError(f"{where}: manifest format {man.format}, this harness reads {FORMAT}; rebuild it")
        return man


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; shared shard folders and caches need readers
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_remote(location: str) -> bool:
    return "://" in location or location.startswith("pipe:")


def member_url(location: str, name: str) -> str:
    """The address of file ``name`` of a shard location: a folder, a URL prefix, or a ``pipe:`` command
    in which ``{}`` stands for the file's relative path (``pipe:aws s3 cp s3://bucket/shards/{} -``).
    A name that is already a full address (scanned foreign shards) is returned as it is."""
    if not location or name.startswith("/") or is_remote(name):
        return name
    if "{}" in location:
        return location.replace("{}", name)
    return f"{location.rstrip('/')}/{name}"


def dataset_location(root: str, dataset: str) -> str:
    """Where a dataset's shards live below a (possibly remote) root: ``<root>/<dataset>/``."""
    return member_url(root, f"{dataset}/{{}}") if "{}" in root else f"{root.rstrip('/')}/{dataset}"


def read_manifest(location: str) -> Manifest:
    """The manifest of a shard folder or URL prefix (``pipe:``/http locations read through webdataset)."""
    if is_remote(location):
        import webdataset as wds

        url = member_url(location, MANIFEST)
        try:
            with wds.gopen(url) as stream:
                text = stream.read().decode()
        except Exception as exc:  # noqa: BLE001 - any transport error is reported the same way
            raise DataError(f"cannot read manifest {url}: {exc}") from None
        return Manifest.from_json(text, url)
    path = Path(location) / MANIFEST
    if not path.is_file():
        raise DataError(f"no {MANIFEST} in {location}")
    return Manifest.from_json(path.read_text(), str(path))


def shard_problems(location: str, man: Manifest, splits: list[str] | None = None) -> list[str]:
    """One message per local shard of ``splits`` that is missing or does not match its manifest sha256."""
    problems = []
    for split in splits or list(man.splits):
        for shard in man.splits[split].shards:
            path = Path(location) / shard.name
            if not path.is_file():
                problems.append(f"shard {path} listed in the manifest is missing")
                continue
            digest = sha256_file(path)
            if digest != shard.sha256:
                problems.append(
                    f"shard {path}: sha256 {digest[:12]}... does not match the manifest's {shard.sha256[:12]}..."
                    " (corrupt or replaced; rebuild with python -m harness.data build)"
                )
    return problems


def verify_shards(location: str, man: Manifest, splits: list[str] | None = None) -> None:
    """Raise :class:`DataError` for the first local shard that is missing or fails its sha256."""
    problems = shard_problems(location, man, splits)
    if problems:
        raise DataError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
