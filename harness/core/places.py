"""Where the harness writes, in one place (the README's "Where files go" table).

Relative locations (``log.root``, ``data.root``, a sweep's ``--out``, the leaderboard's folders) are taken
from the *home* folder: ``$CODEGAN_HOME`` when set, else the working folder. A sweep hands its driver's home and
data root to its trials (Ray starts a trial in a folder of its own), so their runs and shards land where the
driver's would; the cache stays each machine's own. Nothing is written into the installed package or the source
checkout unless it is the home.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "CODEGAN_HOME"  # the user's root for runs, shards and (when set) the cache
DRIVER_HOME_ENV = "CODEGAN_DRIVER_HOME"  # a sweep driver's home, handed to its trials
DATA_ENV = "CODEGAN_DATA"
CACHE_ENV = "CODEGAN_CACHE"
DATA_FOLDER = "datasets"
CACHE_NAME = "codegan-bench"


def home() -> Path:
    """``$CODEGAN_HOME``, else the home a sweep driver handed over (when it exists on this machine), else the
    working folder."""
    if os.environ.get(HOME_ENV):
        return Path(os.path.expanduser(os.environ[HOME_ENV])).absolute()
    driver = os.environ.get(DRIVER_HOME_ENV, "")
    if driver and Path(driver).is_dir():
        return Path(driver)
    return Path.cwd()


def at_home(location: str | os.PathLike) -> Path:
    """``location`` itself when absolute, else the same path inside :func:`home`."""
    path = Path(os.path.expanduser(str(location)))
    return path if path.is_absolute() else home() / path


def data_home() -> Path:
    """Where shards are built when neither ``data.root`` nor ``$CODEGAN_DATA`` says: ``<home>/datasets``."""
    if os.environ.get(DATA_ENV):
        return at_home(os.environ[DATA_ENV])
    return home() / DATA_FOLDER


def cache_home() -> Path:
    """``$CODEGAN_CACHE``, else ``$CODEGAN_HOME/cache``, else the user's cache folder (``$XDG_CACHE_HOME`` or
    ``~/.cache``) / codegan-bench: one-time work (classifiers, reference statistics, downloads) is shared by
    every folder the harness runs from unless a home is set."""
    if os.environ.get(CACHE_ENV):
        return at_home(os.environ[CACHE_ENV])
    if os.environ.get(HOME_ENV):
        return home() / "cache"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(os.path.expanduser(xdg)) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / CACHE_NAME


def handed_to_trials() -> dict[str, str]:
    """What a sweep's trials need to write where the driver would: its home (for relative locations, where this
    machine has that folder) and its data root (a trial on another node builds or reads the shards there, or fails
    naming the folder). The cache is not handed over: each node keeps its own (a trial started by a local Ray
    inherits the driver's environment anyway), and the sweep's yardstick files reach every node's cache."""
    return {DRIVER_HOME_ENV: str(home()), DATA_ENV: str(data_home())}
