"""What a checkpoint costs: the sizes scripts/checkpoint_size.py reports add up to the file's."""

from harness.config import build_config
from harness.runs.checkpoint import latest
from harness.training.trainer import train
from scripts.checkpoint_size import MB, breakdown, main
from tests.launch import run_folder, tiny_run


def test_the_parts_of_a_checkpoint_add_up_to_its_file(digits_shards, tmp_path, capsys):
    train(build_config("digits", tiny_run(digits_shards.parent, tmp_path, "eval.quality=[]")))
    folder = run_folder(tmp_path)
    parts = breakdown(latest(folder / "checkpoints"))
    weights = sum(v for k, v in parts.items() if k.startswith("weights/"))
    assert {"weights/G", "weights/D", "weights/E"} <= set(parts)
    assert parts["optimizer state"] > 1.9 * weights  # Adam's two moments per weight (and its step counts)
    assert 0 <= parts["file"] - (weights + parts["optimizer state"] + parts["other"]) < 0.1 * parts["file"] + 0.05
    assert main([str(folder)]) == 0 and f"{folder.name}: " in capsys.readouterr().out and MB == 1e6
