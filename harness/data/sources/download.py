"""Fetching a source file over HTTP(S) into the download cache, with a progress bar and an optional sha256."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from harness.data.cards import DataError
from harness.data.sources.base import SourceMissing, expand
from harness.progress import bar

CACHE = "~/.cache/codegan-bench/downloads"


def is_url(path: str) -> bool:
    return path.startswith(("http://", "https://", "file://"))


def fetch(url: str, sha256: str = "", cache: str = "", timeout: float = 60) -> Path:
    """``url`` as a local file (downloaded once; a partial download never takes the final name)."""
    folder = expand(cache or os.environ.get("CODEGAN_DOWNLOADS", "") or CACHE)
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
    if sha256:
        h = hashlib.sha256(dest.read_bytes()).hexdigest()
        if h != sha256:
            raise DataError(f"{dest} (from {url}): sha256 {h[:12]}... is not the expected {sha256[:12]}...")
    return dest
