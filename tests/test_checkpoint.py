import pytest
import torch

from harness.runs import checkpoint


def test_crash_during_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    checkpoint.save(tmp_path, 10, {"step": 10, "w": torch.ones(3)}, keep=2)

    def crash(obj, f):
        f.write(b"partial bytes")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(tmp_path, 20, {"step": 20}, keep=2)
    monkeypatch.undo()
    latest = checkpoint.latest(tmp_path)
    assert latest.name == "step-00000010.pt"
    assert checkpoint.load(latest)["step"] == 10
    checkpoint.save(tmp_path, 30, {"step": 30}, keep=2)  # the next save clears the stale temp file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000010.pt", "step-00000030.pt"]


def test_keep_limits_history_and_load_is_weights_only(tmp_path):
    for step in (1, 2, 3):
        checkpoint.save(tmp_path, step, {"step": step}, keep=2)
    assert [s for s, _ in checkpoint.list_checkpoints(tmp_path)] == [2, 3]
    bad = tmp_path / "step-00000004.pt"
    torch.save({"obj": object()}, bad)  # arbitrary objects need full unpickling: refused
    with pytest.raises(RuntimeError, match="step-00000004.pt"):
        checkpoint.load(bad)


def test_a_full_disk_leaves_no_temp_file_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    """The temporary file's descriptor is /dev/full (a real ENOSPC on write): one message naming the file, nothing
    left."""
    import os

    from harness.core import atomic
    from harness.core.errors import RunError

    checkpoint.save(tmp_path, 10, {"step": 10, "w": torch.ones(3)}, keep=2)
    final = checkpoint.checkpoint_path(tmp_path, 20)

    def full_disk(dir, prefix, suffix):  # noqa: A002 - mkstemp's names
        name = os.path.join(dir, f"{prefix}full{suffix}")
        open(name, "wb").close()
        return os.open("/dev/full", os.O_WRONLY), name

    monkeypatch.setattr(atomic.tempfile, "mkstemp", full_disk)
    with pytest.raises(RunError) as err:
        checkpoint.atomic_save(final, {"step": 20, "w": torch.ones(1000)})
    assert str(err.value).startswith(f"cannot write {final} (")
    assert "No space left on device; earlier checkpoints are intact" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-00000010.pt"]
    assert checkpoint.load(checkpoint.latest(tmp_path))["step"] == 10
