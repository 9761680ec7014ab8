"""Reading one shard or manifest from wherever it lives, every read bounded and checked.

* Local files are read with a size cap.
* ``http://`` and ``https://`` are read here with the standard library rather than through webdataset's
  ``curl`` subprocess, which has no overall or low-speed limit (a server that stops sending mid-file held a
  run forever): the connection must open within ``data.remote_timeout_s`` and the body must keep arriving
  at ``data.remote_min_bytes_per_s`` over every window of that length; a body shorter than its
  ``Content-Length`` is an error, refused connections and 5xx answers are retried twice.
* ``pipe:CMD`` runs the command (taken only from the command line: see ``harness.config``) in its own
  process group; webdataset's other schemes (``gs://``, ``ais://``, ``sftp://``, ...) run the command its
  ``gopen`` would. The same speed rule applies to their output, a stalled command is killed, and a
  non-zero exit status is an error.
* The bytes are hashed as they arrive and, when the manifest's sha256 is given, compared before anything
  is parsed: a shard that is not the one the manifest describes never yields a sample.

Every failure is a :class:`DataError` naming the address and the reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import select
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness.config.cards import DataError

MAX_SHARD_BYTES = 4 << 30  # a shard is read into memory whole
MAX_MANIFEST_BYTES = 64 << 20
CHUNK = 1 << 16
HTTP = ("http://", "https://")


class ShardHashError(DataError):
    """A shard's bytes do not match the manifest's sha256 (it was corrupted or replaced in transit or at rest)."""


@dataclass(frozen=True)
class Limits:
    """How long a remote read may wait (``data.remote_timeout_s``) and how slowly it may go
    (``data.remote_min_bytes_per_s``), and how often a refused or failed connection is retried."""

    timeout_s: float = 30.0
    min_bytes_per_s: float = 1024.0
    retries: int = 2

    @classmethod
    def of(cls, data: Any) -> Limits:
        """The limits a run's ``data`` config section asks for."""
        return cls(float(data.remote_timeout_s), float(data.remote_min_bytes_per_s))


DEFAULT = Limits()


class _Retry(Exception):
    """A failure worth one more attempt (refused or reset connection, a 5xx answer)."""


def _fail(what: str, url: str, reason: str) -> DataError:
    return DataError(f"cannot read {what} {url}: {reason}")


class _Meter:
    """The low-speed rule: over every window of ``timeout_s`` at least ``min_bytes_per_s`` must arrive."""

    def __init__(self, limits: Limits, cap: int, what: str, url: str):
        self.limits, self.cap, self.what, self.url = limits, cap, what, url
        self.total, self.window_bytes, self.window_start = 0, 0, time.monotonic()

    def add(self, n: int) -> None:
        self.total += n
        self.window_bytes += n
        if self.total > self.cap:
            raise _fail(self.what, self.url, f"larger than the {self.cap} bytes a {self.what} may be")
        now = time.monotonic()
        if now - self.window_start >= self.limits.timeout_s:
            self.check(now)
            self.window_bytes, self.window_start = 0, now

    def check(self, now: float) -> None:
        if self.window_bytes < self.limits.min_bytes_per_s * (now - self.window_start):
            raise self.stalled(now)

    def stalled(self, now: float | None = None) -> DataError:
        span = (now or time.monotonic()) - self.window_start
        return _fail(
            self.what,
            self.url,
            f"stalled: {self.window_bytes} bytes in {span:.0f} s, below data.remote_min_bytes_per_s="
            f"{self.limits.min_bytes_per_s:g} over data.remote_timeout_s={self.limits.timeout_s:g} s"
            f" ({self.total} bytes read in all)",
        )

    def wait(self) -> float:
        """Seconds the next read may block before the window fails the rule whatever arrives."""
        return max(0.05, self.window_start + self.limits.timeout_s - time.monotonic())


def _http_chunks(url: str, limits: Limits, meter: _Meter) -> Iterator[bytes]:
    request = urllib.request.Request(url, headers={"User-Agent": "codegan-bench"})
    try:
        resp = urllib.request.urlopen(request, timeout=limits.timeout_s)  # noqa: S310 - http(s) only, checked
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} {exc.reason}"
        raise (_Retry(reason) if exc.code >= 500 or exc.code == 429 else _fail(meter.what, url, reason)) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError) or isinstance(exc, TimeoutError):
            raise _fail(meter.what, url, f"no answer within data.remote_timeout_s={limits.timeout_s:g} s") from None
        raise _Retry(str(reason) or type(reason).__name__) from None
    except ValueError as exc:
        raise _fail(meter.what, url, f"not a valid URL ({exc})") from None
    with resp:
        length = resp.length
        if length is not None and length > meter.cap:
            raise _fail(meter.what, url, f"{length} bytes, more than the {meter.cap} a {meter.what} may be")
        while True:
            try:
                chunk = resp.read1(CHUNK)
            except TimeoutError:
                raise meter.stalled() from None
            except (OSError, http.client.HTTPException) as exc:  # reset, IncompleteRead, a broken chunked body
                raise _Retry(f"connection lost after {meter.total} bytes ({type(exc).__name__}: {exc})") from None
            if not chunk:
                break
            meter.add(len(chunk))
            yield chunk
        if resp.length:  # the server closed before sending what it announced
            raise _Retry(f"connection closed after {meter.total} of {length} bytes")


def _command(url: str) -> tuple[subprocess.Popen, tuple[int, ...]]:
    """The process that writes ``url``'s bytes to its stdout, and the exit statuses that mean success."""
    if url.startswith("pipe:"):
        # a shell command, as webdataset runs it: pipe: is taken only from the command line (harness.config)
        proc = subprocess.Popen(
            url[5:], shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True
        )
        return proc, (0, 141)  # 141: SIGPIPE, as webdataset allows
    from webdataset.gopen import Pipe, gopen_schemes

    scheme = url.split("://", 1)[0]
    if scheme not in gopen_schemes or scheme == "__default__":
        raise DataError(f"cannot read {url}: no reader for '{scheme}://' (http, https, pipe: and webdataset's schemes)")
    pipe = gopen_schemes[scheme](url, "rb")
    if not isinstance(pipe, Pipe):
        raise DataError(f"cannot read {url}: webdataset's '{scheme}' reader is not a command")
    return pipe.proc, tuple(pipe.ignore_status)


def _kill(proc: subprocess.Popen, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL) if group else proc.kill()
    proc.wait()


def _command_chunks(url: str, limits: Limits, meter: _Meter) -> Iterator[bytes]:
    proc, ok = _command(url)
    group = url.startswith("pipe:")
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    try:
        while True:
            ready, _, _ = select.select([fd], [], [], meter.wait())
            if not ready:
                meter.check(time.monotonic())
                continue
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            meter.add(len(chunk))
            yield chunk
        try:
            status = proc.wait(timeout=limits.timeout_s)
        except subprocess.TimeoutExpired:
            reason = f"the command closed its output but ran on for {limits.timeout_s:g} s"
            raise _fail(meter.what, url, reason) from None
        if status not in ok:
            raise _fail(meter.what, url, f"the command exited with status {status}")
    finally:
        if proc.poll() is None:
            _kill(proc, group)
        proc.stdout.close()


def _file_bytes(path: str, cap: int, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(cap + 1)
    except OSError as exc:
        raise _fail(what, path, exc.strerror or str(exc)) from None
    if len(data) > cap:
        raise _fail(what, path, f"larger than the {cap} bytes a {what} may be")
    return data


def fetch(
    url: str, limits: Limits = DEFAULT, sha256: str | None = None, what: str = "shard", cap: int = MAX_SHARD_BYTES
) -> bytes:
    """The bytes at ``url`` (a path, http(s) URL, ``pipe:`` command or other webdataset scheme); with
    ``sha256``, only if they hash to it (:class:`ShardHashError` otherwise)."""
    remote = url.startswith("pipe:") or "://" in url
    if not remote or url.startswith("file:"):
        data = _file_bytes(urllib.parse.urlparse(url).path if url.startswith("file:") else url, cap, what)
        digest = hashlib.sha256(data).hexdigest() if sha256 is not None else ""
    else:
        chunks = _http_chunks if url.startswith(HTTP) else _command_chunks
        for attempt in range(limits.retries + 1):
            meter, buf, hasher = _Meter(limits, cap, what, url), bytearray(), hashlib.sha256()
            try:
                for chunk in chunks(url, limits, meter):
                    hasher.update(chunk)  # hashed as it streams
                    buf += chunk
                break
            except _Retry as exc:
                if attempt == limits.retries:
                    raise _fail(what, url, str(exc)) from None
                time.sleep(0.5 * 2**attempt)
        data, digest = bytes(buf), hasher.hexdigest()
    if sha256 is not None and digest != sha256:
        raise ShardHashError(
            f"shard {url}: sha256 {digest[:12]}... does not match the manifest's {sha256[:12]}..."
            " (corrupt or replaced; none of its samples was used)"
        )
    return data
