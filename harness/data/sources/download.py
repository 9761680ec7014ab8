"""Fetching a source file over HTTP(S) into the download cache, with a progress bar and an optional digest."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from harness.config.cards import DataError
from harness.core.cache import cache_dir
from harness.core.progress import bar
from harness.data.sources.base import SourceMissing, expand


def is_url(path: str) -> bool:
    return path.startswith(("http://", "https://", "file://"))


def fetch(url: str, sha256: str = "", cache: str = "", timeout: float = 60, md5: str = "") -> Path:
    """``url`` as a local file (downloaded once; a partial download never takes the final name), checked
    against ``sha256`` or ``md5`` when given (publishers of older datasets give only MD5)."""
    override = cache or os.environ.get("CODEGAN_DOWNLOADS", "")
    folder = expand(override) if override else cache_dir("downloads")
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / Path(url.split("?")[0]).name
    if not dest.is_file():
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with bar(total=total, unit="B", unit_scale=True, desc=dest.name) as shown:
                    while block := resp.read(1 << 20):
                        out.write(block)
                        shown.update(len(block))
            os.replace(tmp, dest)
        except OSError as exc:
            raise SourceMissing(f"{url}: download failed ({exc})") from None
        finally:
            tmp.unlink(missing_ok=True)
    for algo, want in (("sha256", sha256), ("md5", md5)):
        if want:
            got = hashlib.new(algo, dest.read_bytes()).hexdigest()
            if got != want:
                dest.unlink()  # a bad download must not satisfy the next attempt
                raise DataError(f"{url}: {algo} {got[:12]}... is not the expected {want[:12]}... (download removed)")
    return dest
