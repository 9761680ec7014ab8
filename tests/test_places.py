"""Every file lands under the working folder or the root the user set, whichever folder the harness runs from."""

import subprocess
from pathlib import Path

import pytest

from harness.config.cards import data_root
from harness.core import places
from harness.core.cache import cache_dir
from tests.launch import BIN, REPO, env

TINY = ["--config", "infogan/digits", "train.steps=2", "train.log_every=1", "log.wandb=disabled",
        "log.progress=false", "eval.quality=[]", "eval.kmeans_seeds=1", "eval.kmeans_n_init=1"]  # fmt: skip


@pytest.fixture
def bare(monkeypatch, tmp_path):
    """No root set: the working folder is an empty folder outside the clone, the user cache a private one."""
    for name in (places.HOME_ENV, places.DRIVER_HOME_ENV, places.DATA_ENV, places.CACHE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_defaults_follow_the_working_folder_and_the_home(bare, monkeypatch, tmp_path):
    assert data_root() == bare / "datasets"
    assert cache_dir("scans") == tmp_path / "xdg" / "codegan-bench" / "scans"
    assert places.at_home("runs") == bare / "runs"
    assert data_root("shards") == bare / "shards" and data_root("/abs") == Path("/abs")
    home = tmp_path / "home"
    monkeypatch.setenv(places.HOME_ENV, str(home))
    assert (data_root(), places.cache_home(), places.at_home("runs")) == (
        home / "datasets",
        home / "cache",
        home / "runs",
    )
    assert places.handed_to_trials()[places.DATA_ENV] == str(home / "datasets")  # the data root, even unset
    monkeypatch.setenv(places.DATA_ENV, "mine")  # relative: inside the home
    assert data_root() == home / "mine"
    assert places.handed_to_trials() == {places.DRIVER_HOME_ENV: str(home), places.DATA_ENV: str(home / "mine")}


def test_a_trial_writes_where_its_driver_would(bare, monkeypatch, tmp_path):
    driver = tmp_path / "driver"
    driver.mkdir()
    monkeypatch.setenv(places.DRIVER_HOME_ENV, str(driver))
    assert data_root() == driver / "datasets" and places.at_home("runs") == driver / "runs"
    monkeypatch.setenv(places.DRIVER_HOME_ENV, str(tmp_path / "not-on-this-node"))
    assert data_root() == bare / "datasets"  # a folder this machine does not have: its own working folder


def _launch(cwd: Path, drop: tuple[str, ...] = (), **extra: str) -> str:
    """``accelerate launch -m harness.run`` from ``cwd`` with no root set but ``extra`` (``drop``: more unset)."""
    environ = env(**extra)
    for name in (places.DATA_ENV, places.HOME_ENV, places.DRIVER_HOME_ENV, *drop):
        if name not in extra:
            environ.pop(name, None)
    cmd = [str(BIN / "accelerate"), "launch", "--num_processes", "1", "-m", "harness.run", *TINY]
    proc = subprocess.run(cmd, cwd=cwd, env=environ, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_the_launch_line_works_from_any_folder_and_writes_there(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = set(REPO.glob("runs/infogan-digits-*"))
    _launch(elsewhere)
    (summary,) = elsewhere.glob("runs/infogan-digits-*/summary.json")
    assert (elsewhere / "datasets" / "digits" / "manifest.json").is_file()  # the shards too, not the clone's
    assert set(REPO.glob("runs/infogan-digits-*")) == before

    home, xdg = tmp_path / "home", tmp_path / "xdg"
    out = _launch(elsewhere, drop=(places.CACHE_ENV,), CODEGAN_HOME=str(home), XDG_CACHE_HOME=str(xdg))
    # an empty home: the one-time work is announced, with its measured time, before any of it starts
    announced = out.index("one-time work before training (digits): about")
    assert "building the shards" in out[announced:].splitlines()[0] and "first-run-digits.json" in out
    assert list(home.glob("runs/infogan-digits-*/summary.json")) and (home / "datasets" / "digits").is_dir()
    assert (home / "cache").is_dir() and not xdg.exists()  # the cache follows the home
    assert len(list(elsewhere.glob("runs/*"))) == 1 and summary.is_file()


def test_a_result_records_the_users_repository_beside_the_harnesss(bare, tmp_path):
    from harness.runs.folder import git_state

    git = ["git", "-c", "user.name=u", "-c", "user.email=u@example.org"]
    subprocess.run([*git, "init", "-q", str(bare)], check=True)
    (bare / "notes.txt").write_text("mine\n")
    subprocess.run([*git, "-C", str(bare), "add", "notes.txt"], check=True)
    subprocess.run([*git, "-C", str(bare), "commit", "-q", "-m", "mine"], check=True)
    head = subprocess.run(["git", "-C", str(bare), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    state = git_state()
    assert state["project"] == {"commit": head, "dirty": False, "root": str(bare)}
    assert state.get("harness", {}).get("commit") != head
