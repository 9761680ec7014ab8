"""One writer per run (or sweep) folder: an exclusive ``flock`` on ``<run>/.lock``, released by the kernel when the
holder exits (a SIGKILL included), with the holder's host, pid and start time in ``<run>/lock.json``."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from filelock import FileLock, Timeout

from harness.core.atomic import atomic_write_text
from harness.core.errors import RunError

LOCK = ".lock"
HOLDER = "lock.json"


class RunLock:
    """``what``: how the one line names the folder (a run folder, a sweep folder)."""

    def __init__(self, run_dir: Path, what: str = "run folder"):
        self.run_dir, self.what = Path(run_dir), what
        self._lock = FileLock(str(self.run_dir / LOCK), thread_local=False)

    def acquire(self) -> RunLock:
        """Take the lock at once or fail naming the process that holds it."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise RunError(f"{self.what} {self.run_dir} is in use by {self.holder()}; wait for it or stop it") from None
        info = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
        atomic_write_text(self.run_dir / HOLDER, json.dumps(info))
        return self

    def holder(self) -> str:
        try:
            info = json.loads((self.run_dir / HOLDER).read_text())
            return f"pid {info['pid']} on {info['host']} (since {info['since']})"
        except (OSError, ValueError, KeyError):
            return "another process"

    def release(self) -> None:
        if self._lock.is_locked:
            (self.run_dir / HOLDER).unlink(missing_ok=True)
            self._lock.release()

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
