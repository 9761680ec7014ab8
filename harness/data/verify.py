"""Full verification of a shard folder: hashes, then every sample decoded and counted per split and class."""

from __future__ import annotations

import numpy as np

from harness.config.cards import DataError
from harness.core.progress import bar
from harness.data.manifest import Manifest, is_remote, member_url, verify_shards
from harness.data.samples import check_members, decode_image, decode_label, iter_raw_samples


def verify_contents(location: str, man: Manifest, progress: bool = True) -> None:
    """Raise :class:`DataError` naming the shard (and sample) unless everything matches the manifest."""
    if not is_remote(location):
        verify_shards(location, man)  # a remote shard is checked against its sha256 as it is read, below
    for split, info in man.splits.items():
        per_class = np.zeros(man.classes, dtype=np.int64)
        for shard in bar(info.shards, desc=f"verify {split}", unit="shard", disable=not progress):
            url = member_url(location, shard.name)
            n = 0
            for smp in iter_raw_samples(url, shard.sha256 if is_remote(url) else None):
                check_members(smp, url)
                decode_image(smp, url, tuple(man.shape))
                per_class[decode_label(smp, url, man.classes)] += 1
                n += 1
            if n != shard.count:
                raise DataError(f"shard {url}: {n} samples, the manifest says {shard.count}")
        if per_class.tolist() != list(info.per_class):
            raise DataError(f"{location}: {split} has {per_class.tolist()} per class, manifest {info.per_class}")
