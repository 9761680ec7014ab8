"""The shard manifest: what a built dataset holds (counts per split and class, shape, per-shard sha256)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.config.cards import DataError
from harness.config.locations import is_remote as is_remote  # the data modules import it from here
from harness.core.atomic import atomic_write_text as atomic_write_text  # imported from here by older code
from harness.data.remote import DEFAULT, MAX_MANIFEST_BYTES, MAX_SHARD_BYTES, Limits, fetch

MANIFEST = "manifest.json"
FORMAT = 1
# What a manifest may say: a shard is at most MAX_SHARD_BYTES in memory, and a sample is at least two 512-byte
# tar headers, so no shard holds more than MAX_SHARD_SAMPLES samples.
MAX_SHARD_SAMPLES = MAX_SHARD_BYTES // 1024
MAX_CLASSES = 1_000_000
MAX_SIDE = 65_536
SHA256 = re.compile(r"[0-9a-f]{64}")
PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,254}")
PLAIN_RULE = "letters, digits, '_', '.', '+', '-'; no '/', no '..', no scheme or command"


def is_plain_name(name: str) -> bool:
    """A file name inside a shard location: no folder, no climbing out, no scheme, no ``pipe:`` command."""
    return bool(PLAIN_NAME.fullmatch(name)) and ".." not in name


class ManifestError(DataError):
    """The manifest is wrong about a shard whose bytes match its sha256 (not a damaged shard: never skipped)."""


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

    @property
    def labelled(self) -> bool:
        """Whether its samples have classes (scanned shards without a cls/json member have none: ``members``
        ``["image"]``, ``classes`` 0)."""
        return self.members != ["image"]

    def digest(self, splits: list[str]) -> str:
        """The identity of the data a result read: dataset, shape, classes and the splits' shard hashes."""
        shards = {s: [(i.name, i.count, i.sha256) for i in self.splits[s].shards] for s in sorted(set(splits))}
        src = json.dumps([self.dataset, self.shape, self.classes, shards], sort_keys=True)
        return hashlib.sha256(src.encode()).hexdigest()[:12]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str, where: str, plain_names: bool = True) -> Manifest:
        """Parse and check a manifest; ``plain_names`` (every manifest read from a shard location) admits
        only plain file names for shards, never a path, URL or command."""
        try:
            raw: dict[str, Any] = json.loads(text)
            splits = {
                k: SplitInfo(v["count"], v["per_class"], [ShardInfo(**s) for s in v["shards"]])
                for k, v in raw.pop("splits").items()
            }
            man = cls(splits=splits, **raw)
        except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            raise DataError(f"{where}: not a valid shard manifest ({' '.join(str(exc).split())[:200]})") from None
        if man.format != FORMAT:
            raise DataError(f"{where}: manifest format {man.format}, this harness reads {FORMAT}; rebuild it")
        problem = man.problem(plain_names)
        if problem:
            raise DataError(f"{where}: not a valid shard manifest: {problem}")
        return man

    def problem(self, plain_names: bool = True) -> str | None:
        """The first value that no real shard set can have (wrong type, out of range, inconsistent), or None."""

        def count(v: Any, most: int) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= most

        if not isinstance(self.dataset, str) or (plain_names and not is_plain_name(self.dataset)):
            return f"dataset {self.dataset!r} is not a plain name"
        if not isinstance(self.members, list) or not all(isinstance(m, str) for m in self.members):
            return f"members {self.members!r} is not a list of strings"
        least = 1 if self.labelled else 0
        if not count(self.classes, MAX_CLASSES if self.labelled else 0) or self.classes < least:
            return f"classes {self.classes!r} is not an integer in [{least}, {MAX_CLASSES if least else 0}]"
        shape = self.shape
        if not isinstance(shape, list) or len(shape) != 3 or not all(count(v, MAX_SIDE) and v for v in shape):
            return f"shape {shape!r} is not [channels, height, width] of integers in [1, {MAX_SIDE}]"
        if shape[0] not in (1, 3):
            return f"shape {shape!r}: channels must be 1 or 3"
        for key in ("source", "card_sha256", "dtype"):
            if not isinstance(getattr(self, key), str):
                return f"{key} {getattr(self, key)!r} is not a string"
        for key in ("shard_size", "shuffle_seed"):
            if not count(getattr(self, key), 2**63):
                return f"{key} {getattr(self, key)!r} is not a non-negative integer"
        if not isinstance(self.splits, dict) or not self.splits:
            return "no splits"
        for name, split in self.splits.items():
            at = f"splits.{name}"
            if not isinstance(split.shards, list) or not split.shards:
                return f"{at}.shards is not a non-empty list"
            for i, shard in enumerate(split.shards):
                if not isinstance(shard.name, str) or (plain_names and not is_plain_name(shard.name)):
                    return f"{at}.shards[{i}].name {shard.name!r} is not a plain file name ({PLAIN_RULE})"
                if not count(shard.count, MAX_SHARD_SAMPLES):
                    return f"{at}.shards[{i}].count {shard.count!r} is not an integer in [0, {MAX_SHARD_SAMPLES}]"
                if not isinstance(shard.sha256, str) or not SHA256.fullmatch(shard.sha256):
                    return f"{at}.shards[{i}].sha256 {shard.sha256!r} is not 64 hexadecimal digits"
            total = sum(s.count for s in split.shards)
            if not count(split.count, 2**63) or split.count != total:
                return f"{at}.count {split.count!r} is not the sum of its shards' counts ({total})"
            per_class = split.per_class
            if not isinstance(per_class, list) or len(per_class) != self.classes:
                return f"{at}.per_class is not a list of {self.classes} counts (one per class)"
            if self.labelled and (not all(count(v, total) for v in per_class) or sum(per_class) != total):
                return f"{at}.per_class {per_class[:12]!r}... are not non-negative integers summing to {total}"
        return self.repeated()

    def repeated(self) -> str | None:
        """A shard listed twice, by name or by content: its samples would be read as if they were more data (and
        every cache keyed by the data, the domain classifier's among them, would be another's)."""
        names: dict[str, str] = {}
        hashes: dict[str, str] = {}
        for split_name, split in self.splits.items():
            for i, shard in enumerate(split.shards):
                at = f"splits.{split_name}.shards[{i}]"
                if shard.name in names:
                    return f"{at}: {shard.name} is listed again (first as {names[shard.name]}); list every shard once"
                if shard.sha256 in hashes and shard.count:
                    return (f"{at}: {shard.name} holds the same bytes (sha256 {shard.sha256[:12]}...) as"
                            f" {hashes[shard.sha256]}; list every shard once")  # fmt: skip
                names[shard.name], hashes[shard.sha256] = at, f"{at} ({shard.name})"
        return None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def member_url(location: str, name: str) -> str:
    """The address of file ``name`` of a shard location: a folder, a URL prefix, or a ``pipe:`` command
    in which ``{}`` stands for the file's relative path (``pipe:aws s3 cp s3://bucket/shards/{} -``).
    Without a location (scanned foreign shards, whose names are the run's own URLs) the name is returned;
    inside one, only a plain file name is accepted, so a manifest can never name a path, URL or command."""
    if not location:
        return name
    if not is_plain_name(name):
        raise DataError(f"{location}: shard name {name!r} is not a plain file name ({PLAIN_RULE})")
    if "{}" in location:
        return location.replace("{}", name)
    return f"{location.rstrip('/')}/{name}"


def dataset_location(root: str, dataset: str) -> str:
    """Where a dataset's shards live below a (possibly remote) root: ``<root>/<dataset>/``."""
    if not is_plain_name(dataset):
        raise DataError(f"dataset name {dataset!r} is not a plain name ({PLAIN_RULE})")
    return root.replace("{}", f"{dataset}/{{}}") if "{}" in root else f"{root.rstrip('/')}/{dataset}"


def read_manifest(location: str, limits: Limits = DEFAULT) -> Manifest:
    """The manifest of a shard folder, URL prefix or ``pipe:`` command, checked (:meth:`Manifest.problem`)."""
    if is_remote(location):
        url = member_url(location, MANIFEST)
        text = fetch(url, limits, what="manifest", cap=MAX_MANIFEST_BYTES)
        return Manifest.from_json(_text(text, url), url)
    path = Path(location) / MANIFEST
    if not path.is_file():
        raise DataError(f"no {MANIFEST} in {location}")
    return Manifest.from_json(_text(fetch(str(path), what="manifest", cap=MAX_MANIFEST_BYTES), str(path)), str(path))


def _text(data: bytes, where: str) -> str:
    if data[:2] == b"\x1f\x8b":  # read as it is, never unpacked: a manifest is a few KB of JSON
        raise DataError(f"{where}: a gzip-compressed file, not a shard manifest (JSON text); decompress it (gunzip)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not a valid shard manifest (not UTF-8 at byte {exc.start})") from None


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
                    " (corrupt or replaced; rebuild with codegan-data build)"
                )
    return problems


def verify_shards(location: str, man: Manifest, splits: list[str] | None = None) -> None:
    """Raise :class:`DataError` for the first local shard that is missing or fails its sha256."""
    problems = shard_problems(location, man, splits)
    if problems:
        raise DataError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
