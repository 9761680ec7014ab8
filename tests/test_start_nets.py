"""A run may start any of its networks from another run's checkpoint (train.init_from, train.init_nets): the chosen
networks hold the other run's weights at step 0, the start is part of the results' identity, and a network that does
not fit is refused naming the keys in which the runs differ."""

import pytest
import torch

from harness.config import build_config, registry
from harness.core.errors import ConfigError
from harness.methods.gan import DataInfo
from harness.parallel.accelerator import make_accelerator
from harness.runs import checkpoint
from harness.runs.start_nets import load_networks
from harness.training.trainer import train
from tests.launch import run_folder, tiny_run

QUIET = ("eval.quality=[]", "eval.pixel_baseline=false")


def _method(cfg):
    acc = make_accelerator(cfg)
    return registry.method(cfg.method)(cfg, DataInfo(10, (1, 8, 8)), acc, torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def source(digits_shards, tmp_path_factory):
    root = tmp_path_factory.mktemp("source")
    train(build_config("digits", tiny_run(digits_shards.parent, root, *QUIET)))
    return run_folder(root)


def test_the_chosen_networks_start_from_the_other_run_and_the_start_is_recorded(source, digits_shards, tmp_path):
    theirs = checkpoint.load(checkpoint.latest(source / "checkpoints"))["method"]["nets"]
    cfg = build_config("digits", tiny_run(digits_shards.parent, tmp_path, *QUIET, f"train.init_from={source}",
                                          "train.init_nets=[G, E]", "seed=1"))  # fmt: skip
    method = _method(cfg)
    entry = load_networks(method, cfg)
    assert entry["nets"] == ["G", "E"] and entry["step"] == 4 and source.name.endswith(entry["run_hash"])
    for name in ("G", "E"):
        mine = method.raw(name).state_dict()
        assert all(torch.equal(mine[k].cpu(), theirs[name][k]) for k in mine), name
    assert not torch.equal(next(iter(method.raw("D").state_dict().values())).cpu(), next(iter(theirs["D"].values())))
    # through the Trainer, the run's result records the start: tests/test_distributed.py (both ranks)


def test_a_network_that_does_not_fit_is_refused_naming_the_differing_keys(source, digits_shards, tmp_path):
    wide = build_config("digits", tiny_run(digits_shards.parent, tmp_path, f"train.init_from={source}",
                                           "train.init_nets=[G]", "model.g_width=48"))  # fmt: skip
    with pytest.raises(ConfigError, match=r"network G does not fit .*the runs differ in model.g_width=48 here"):
        load_networks(_method(wide), wide)
    other = build_config("digits", tiny_run(digits_shards.parent, tmp_path, f"train.init_from={source}",
                                            "train.init_nets=[Q]"))  # fmt: skip
    with pytest.raises(ConfigError, match=r"train.init_nets=\['Q'\]: \['Q'\] not in both runs"):
        load_networks(_method(other), other)
    missing = build_config("digits", tiny_run(digits_shards.parent, tmp_path, f"train.init_from={tmp_path / 'x'}"))
    with pytest.raises(ConfigError, match="no such run folder or checkpoint"):
        load_networks(_method(missing), missing)
