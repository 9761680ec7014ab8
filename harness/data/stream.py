"""The training input pipeline: an infinite, seeded stream of uint8 batches, split by rank and stream.

Sample order is a pure function of (seed, rank, world size, streams), never of the number of
DataLoader workers, so a run is reproducible and resumable at any batch:

* Each rank owns ``streams`` readers; reader ``g = rank * streams + s`` of ``R = world * streams``.
* Every epoch, the shards are permuted with a seed all readers share and laid end to end; reader g
  reads the contiguous range ``[g * L, (g + 1) * L)`` of that sequence, ``L = N // R`` (the last
  ``N mod R`` samples of the epoch are left out; the permutation changes which). Readers are
  disjoint within an epoch, all epochs have the same length for every reader, and each reader opens
  only the shards its range touches.
* Inside each shard piece, samples are visited in a seeded random order.
* Rank-local batch ``b`` is the ``b // streams``-th batch of stream ``b % streams``. DataLoader
  worker ``w`` of ``n`` (n divides streams) produces the batches the loader will ask it for.
* Streams are infinite, so every rank runs exactly the requested number of steps; seeking to any
  batch is arithmetic on the manifest's counts (no reading).
* With ``on_error="skip"`` a bad sample (or the unreadable rest of a truncated shard) is skipped and
  counted in the next batch's ``skipped``; the batch is filled from the following samples, so a
  resumed run that skipped samples continues a few samples off the uninterrupted order.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from harness.config.cards import DataError
from harness.core.launch_env import reserved_cpus
from harness.data.manifest import Manifest, ManifestError, is_remote, member_url
from harness.data.remote import DEFAULT, Limits
from harness.data.samples import check_members, decode_image, decode_label, read_shard
from harness.data.tarstream import iter_samples

NO_LABEL = -1  # the label of every sample of shards without labels


def _rng(*parts: int) -> np.random.Generator:
    return np.random.default_rng([int(p) & 0xFFFFFFFF for p in parts])


@dataclass(frozen=True)
class Piece:
    """Samples ``[start, stop)`` of one shard, read by one reader in one epoch."""

    shard: int
    start: int
    stop: int

    @property
    def count(self) -> int:
        return self.stop - self.start


class ReaderPlan:
    """Which shard pieces reader ``g`` of ``R`` reads in each epoch (arithmetic only, no I/O)."""

    def __init__(self, counts: list[int], seed: int, reader: int, readers: int):
        self.length = sum(counts) // readers
        if self.length == 0:
            raise DataError(f"{sum(counts)} samples cannot feed {readers} readers (world size x data.streams)")
        self.counts, self.seed, self.g = counts, seed, reader

    def epoch(self, epoch: int) -> list[Piece]:
        lo, hi = self.g * self.length, (self.g + 1) * self.length
        pieces, pos = [], 0
        for i in _rng(self.seed, 0xDA7A, epoch).permutation(len(self.counts)):
            a, b = max(lo, pos), min(hi, pos + self.counts[i])
            if a < b:
                pieces.append(Piece(int(i), a - pos, b - pos))
            pos += self.counts[i]
            if pos >= hi:
                break
        return pieces

    def seek(self, n: int) -> tuple[int, int, int]:
        """(epoch, piece index, offset in piece) of this reader's ``n``-th sample."""
        epoch, n = divmod(n, self.length)
        for j, piece in enumerate(self.epoch(epoch)):
            if n < piece.count:
                return epoch, j, n
            n -= piece.count
        raise AssertionError("unreachable: pieces cover the epoch")


class ShardStream(IterableDataset):
    """Infinite uint8 batches ``{"image": (B,C,H,W), "label": (B,), "index": (B,)}`` for one rank."""

    def __init__(
        self,
        location: str,
        manifest: Manifest,
        split: str,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world: int = 1,
        streams: int = 4,
        start_batch: int = 0,
        on_error: str = "stop",
        limits: Limits = DEFAULT,
    ):
        super().__init__()
        if split not in manifest.splits:
            raise DataError(f"{location}: no '{split}' split in the manifest (has {sorted(manifest.splits)})")
        shards = manifest.splits[split].shards
        self.urls = [member_url(location, s.name) for s in shards]
        self.hashes = [s.sha256 for s in shards]
        self.limits = limits
        self.offsets = np.cumsum([0] + [s.count for s in shards]).tolist()  # sample index = offset + position
        self.shape = tuple(manifest.shape)
        self.classes, self.labelled = manifest.classes, manifest.labelled
        self.batch_size, self.seed, self.streams, self.start = batch_size, seed, streams, start_batch
        self.plans = [
            ReaderPlan([s.count for s in shards], seed, rank * streams + s, world * streams) for s in range(streams)
        ]
        self.skip = on_error == "skip"
        self.skipped = [0] * streams  # per stream, in the process that reads it

    def _bad(self, s: int, exc: DataError, count: int = 1) -> None:
        if not self.skip or isinstance(exc, ManifestError):
            raise exc
        self.skipped[s] += count

    def _samples(self, s: int, skip: int) -> Iterator[tuple[np.ndarray, int, int]]:
        plan = self.plans[s]
        epoch, j, offset = plan.seek(skip)
        while True:
            pieces = plan.epoch(epoch)
            yielded, whole = 0, j == 0 and offset == 0
            for piece in pieces[j:]:
                url, sha = self.urls[piece.shard], self.hashes[piece.shard]
                raw = []
                try:
                    data = read_shard(url, sha if is_remote(url) else None, self.limits)
                    for pos, smp in enumerate(iter_samples(data, url)):
                        if pos >= piece.stop:
                            break
                        if pos >= piece.start:
                            raw.append(smp)
                    if len(raw) != piece.count:
                        count_error(url, data, sha, f"ends at sample {len(raw) + piece.start}, the manifest says more")
                except DataError as exc:
                    self._bad(s, exc, piece.count - len(raw))
                order = _rng(self.seed, plan.g, epoch, piece.shard).permutation(piece.count)
                for k in order[offset:]:
                    if k >= len(raw):
                        continue  # lost with the truncated end of its shard (already counted)
                    smp = raw[k]
                    try:
                        check_members(smp, url, self.labelled)
                        image = decode_image(smp, url, self.shape)
                        label = decode_label(smp, url, self.classes) if self.labelled else NO_LABEL
                    except DataError as exc:
                        self._bad(s, exc)
                        continue
                    yielded += 1
                    yield image, label, self.offsets[piece.shard] + piece.start + int(k)
                offset = 0
            if yielded == 0 and whole:  # with on_error=skip a reader that finds nothing would loop forever
                raise DataError(
                    f"no readable sample in a whole epoch of reader {plan.g} ({len(pieces)} shard pieces of"
                    f" {self.urls[pieces[0].shard] if pieces else 'no shard'} ...): every sample was bad"
                )
            epoch, j = epoch + 1, 0

    def _batches(self, s: int, first_batch: int) -> Iterator[dict[str, torch.Tensor]]:
        it = self._samples(s, first_batch * self.batch_size)
        while True:
            before = self.skipped[s]
            items = [next(it) for _ in range(self.batch_size)]
            yield {
                "skipped": torch.tensor(self.skipped[s] - before),
                "image": torch.from_numpy(np.stack([x[0] for x in items])),
                "label": torch.tensor([x[1] for x in items], dtype=torch.int64),
                "index": torch.tensor([x[2] for x in items], dtype=torch.int64),
            }

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        w, n = (info.id, info.num_workers) if info else (0, 1)
        if self.streams % n:
            raise DataError(f"data.num_workers={n} must divide data.streams={self.streams}")
        # The loader asks worker w for rank-local batches start + w, start + w + n, ...
        first = self.start + w
        owned = {b % self.streams for b in range(first, first + self.streams, n)}
        iters = {
            s: self._batches(s, max(0, (self.start - s + self.streams - 1) // self.streams)) for s in sorted(owned)
        }
        b = first
        while True:
            yield next(iters[b % self.streams])
            b += n


def loader_workers(requested: int, streams: int, device_type: str, local_ranks: int = 1) -> int:
    """``data.num_workers`` as set, or for -1 (auto): 0 on a CPU; on a GPU the largest divisor of ``streams`` no
    larger than the cores this rank may use, less one for the training thread: the CPUs a scheduler reserved for it
    (``CODEGAN_CPUS``: a Ray trial's or Train worker's), else its share of the cores it may run on."""
    if requested >= 0:
        return requested
    if device_type != "cuda":
        return 0
    reserved = reserved_cpus()
    if reserved is not None:
        mine = reserved
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        mine = cores // max(1, local_ranks)
    spare = max(0, mine - 1)
    return max((d for d in range(1, streams + 1) if streams % d == 0 and d <= spare), default=0)


def make_loader(stream: ShardStream, num_workers: int, pin_memory: bool = False) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        stream,
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
        prefetch_factor=4 if num_workers > 0 else None,
    )


def count_error(url: str, data: bytes, sha256: str, what: str) -> None:
    """A shard holds another number of samples than the manifest says: a damaged shard (skippable), or, when
    its bytes match the manifest's sha256, a wrong manifest (:class:`ManifestError`, never skipped)."""
    if hashlib.sha256(data).hexdigest() == sha256:
        raise ManifestError(f"shard {url}: {what}, though its bytes match the manifest's sha256: the manifest is wrong")
    raise DataError(f"shard {url}: {what}")


def load_split(
    location: str, manifest: Manifest, split: str, on_error: str = "stop", limits: Limits = DEFAULT
) -> dict[str, torch.Tensor]:
    """A whole split in manifest order: uint8 images (N,C,H,W), labels (:data:`NO_LABEL` for shards without labels),
    sample indices, and ``skipped``
    (bad samples left out; only with ``on_error="skip"``, else the first one raises)."""
    if split not in manifest.splits:
        raise DataError(f"{location}: no '{split}' split in the manifest (has {sorted(manifest.splits)})")
    images, labels, index = [], [], []
    skipped, offset = 0, 0
    for shard in manifest.splits[split].shards:
        url = member_url(location, shard.name)
        n = 0
        try:
            data = read_shard(url, shard.sha256 if is_remote(url) else None, limits)
            for smp in iter_samples(data, url):
                n += 1
                try:
                    check_members(smp, url, manifest.labelled)
                    image = decode_image(smp, url, tuple(manifest.shape))
                    label = decode_label(smp, url, manifest.classes) if manifest.labelled else NO_LABEL
                except DataError:
                    if on_error != "skip":
                        raise
                    skipped += 1
                    continue
                images.append(image)
                labels.append(label)
                index.append(offset + n - 1)
            if n != shard.count:
                count_error(url, data, shard.sha256, f"{n} samples, the manifest says {shard.count}")
        except DataError as exc:
            if on_error != "skip" or n > shard.count or isinstance(exc, ManifestError):
                raise
            skipped += shard.count - n
        offset += shard.count
    if not images:
        raise DataError(f"{location}: no readable sample in split '{split}'")
    return {
        "image": torch.from_numpy(np.stack(images)),
        "label": torch.tensor(labels, dtype=torch.int64),
        "index": torch.tensor(index, dtype=torch.int64),
        "skipped": torch.tensor(skipped),
    }


def balanced_subset(
    location: str, manifest: Manifest, split: str, n: int, seed: int, limits: Limits = DEFAULT
) -> dict[str, torch.Tensor]:
    """``n`` samples of a split, ``n // K`` per class (the first ``n mod K`` classes one more), drawn with
    ``seed``: the few-label set."""
    data = load_split(location, manifest, split, limits=limits)
    rng = np.random.default_rng(seed)
    labels = data["label"].numpy()
    k = manifest.classes
    picks = []
    for cls in range(k):
        want = n // k + (1 if cls < n % k else 0)
        pool = np.flatnonzero(labels == cls)
        if want > len(pool):
            raise DataError(f"{location}: few-label set wants {want} of class {cls}, the {split} split has {len(pool)}")
        picks.append(rng.choice(pool, want, replace=False))
    idx = torch.from_numpy(np.sort(np.concatenate(picks)))
    return {key: data[key][idx] for key in ("image", "label", "index")}
