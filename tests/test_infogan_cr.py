"""InfoGAN-CR: the pairs and their shared factor, the schedule, G's CR term, the CR head learning, and
the checkpoint round trip. (Its run through the shared trainer is in test_baselines.py.)"""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn.functional as F

from baselines.infogan_cr import InfoGANCR, sample_pairs
from harness.config import ConfigError, build_config, registry
from harness.methods.gan import DataInfo
from harness.parallel.accelerator import make_accelerator

SMALL = ["model.hidden=32", "model.d_width=8", "model.g_width=8", "train.g_batch_size=16", "train.batch_size=16"]


def _method(*overrides: str, name: str = "infogan-cr", seed: int = 0):
    cfg = build_config(f"{name}/digits", [*SMALL, *overrides])
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    return registry.method(name)(cfg, DataInfo(10, (1, 8, 8)), make_accelerator(cfg), rng)


def _weights(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in net.parameters()])


def test_pairs_share_z_n_and_exactly_the_drawn_factor():
    g = torch.Generator().manual_seed(0)
    p = sample_pairs(6000, 5, 2, 10, g, torch.device("cpu"))
    assert torch.equal(p.z1[:, :5], p.z2[:, :5])  # the noise is the same in both images
    counts = torch.bincount(p.shared, minlength=3)
    assert counts.min() > 1800  # the shared factor is uniform over {class, code 1, code 2}
    class_shared, codes1, codes2 = p.shared == 0, p.z1[:, 5:], p.z2[:, 5:]
    assert torch.equal(p.c1[class_shared], p.c2[class_shared])
    assert float((p.c1[~class_shared] == p.c2[~class_shared]).float().mean()) == pytest.approx(0.1, abs=0.02)
    for i in range(2):
        shared = p.shared == 1 + i
        assert torch.equal(codes1[shared, i], codes2[shared, i])
        assert bool((codes1[~shared, i] != codes2[~shared, i]).all())
    assert float(codes1.abs().max()) <= 1 and abs(float(codes1.mean())) < 0.03  # U(-1, 1)


def test_a_gap_forces_the_factors_that_are_not_shared_apart():
    g = torch.Generator().manual_seed(1)
    p = sample_pairs(4000, 3, 2, 10, g, torch.device("cpu"), gap=1.5)
    for i in range(2):
        other = p.shared != 1 + i
        diff = (p.z1[other, 3 + i] - p.z2[other, 3 + i]).abs()
        assert float(diff.min()) >= 1.5 - 1e-6
    assert float(torch.cat([p.z1[:, 3:], p.z2[:, 3:]]).abs().max()) <= 1 + 1e-6
    assert bool((p.c1[p.shared != 0] != p.c2[p.shared != 0]).all())


def test_needs_a_continuous_code_and_valid_schedule_values():
    with pytest.raises(ConfigError, match="baselines.cont_dim: infogan-cr needs"):
        _method("baselines.cont_dim=0")
    with pytest.raises(ConfigError, match="baselines.cr_start"):
        build_config("infogan-cr/digits", ["baselines.cr_start=1.5"])
    with pytest.raises(ConfigError, match="baselines.cr_gap"):
        build_config("infogan-cr/digits", ["baselines.cr_gap=2"])


def test_off_before_cr_start_it_trains_exactly_as_infogan():
    cr, plain = _method("baselines.cr_start=1.0"), _method("baselines.cont_dim=2", name="infogan")
    real = torch.rand(16, 1, 8, 8)
    for step in range(3):
        logs = cr.train_step(real, step)
        plain.train_step(real, step)
        assert float(logs["cr_weight"]) == 0 and "g_cr" not in logs and "cr_loss" not in logs
    for name in ("G", "D", "Q"):
        assert torch.equal(_weights(cr.raw(name)), _weights(plain.raw(name))), name


def test_the_schedule_switches_the_regulariser_on_at_cr_start():
    m = _method("train.steps=10", "baselines.cr_start=0.5", "baselines.cr_weight=2.5")
    assert m.cr_start == 5 and m.cr_weight(4) == 0 and m.cr_weight(5) == 2.5
    real, head = torch.rand(16, 1, 8, 8), _weights(m.raw("CR"))
    logs = m.train_step(real, 4)
    assert float(logs["cr_weight"]) == 0 and "g_cr" not in logs and torch.equal(_weights(m.raw("CR")), head)
    logs = m.train_step(real, 5)
    assert float(logs["cr_weight"]) == 2.5 and {"g_cr", "cr_loss", "cr_acc"} <= set(logs)
    assert not torch.equal(_weights(m.raw("CR")), head)  # the CR head takes its first step


def _g_grad(weight: float) -> tuple[torch.Tensor, InfoGANCR]:
    m = _method("baselines.cr_start=0", f"baselines.cr_weight={weight}")
    m.cr_active = True
    m.g_step()
    return torch.cat([p.grad.flatten() for p in m.raw("G").parameters()]), m


def test_g_minimises_cr_weight_times_the_cr_heads_cross_entropy():
    (g0, m), (g1, _) = _g_grad(0.0), _g_grad(1.0)
    # the same draws by hand: G's batch, then the pairs, through one G forward (the method's order)
    m = _method("baselines.cr_start=0")
    n = m.cfg.train.g_batch_size
    z, c = m.latent(n)
    p = m.pairs(n)
    x = m.raw("G")(m.g_input(torch.cat([z, p.z1, p.z2]), torch.cat([c, p.c1, p.c2])))
    _, x1, x2 = x.split([n, n, n])
    ce = F.cross_entropy(m.raw("CR")(x1, x2), p.shared)
    by_hand = torch.cat([t.flatten() for t in torch.autograd.grad(ce, list(m.raw("G").parameters()))])
    assert torch.allclose(g1 - g0, by_hand, atol=1e-6, rtol=1e-4)  # + CE: G helps the CR head
    g2, _ = _g_grad(2.0)
    assert torch.allclose(g2 - g0, 2 * by_hand, atol=2e-6, rtol=1e-4)


class GraphOutput(torch.nn.Module):
    """G as CUDA graphs run it (``train.compile=reduce-overhead``): its output lives in memory of the graph, which
    the next replay overwrites; :meth:`replay` overwrites the last output as that would."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net, self.last = net, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.last = self.net(x)
        return self.last

    def replay(self) -> None:
        with torch.no_grad():
            self.last.fill_(float("nan"))


def test_the_pair_for_the_cr_head_survives_a_replay_of_gs_graph():
    """G's step ends with ``cudagraph_mark_step_begin()``; the CR head's update reads the pair after it, so the
    pair must be a copy of G's output, not a view of graph memory that another replay may overwrite."""
    m = _method("baselines.cr_start=0")
    m.cr_active = True
    graph = m.nets["G"] = GraphOutput(m.nets["G"])
    m.g_step()
    x1, x2, _ = m.pending
    kept = (x1.clone(), x2.clone())
    graph.replay()
    assert torch.equal(m.pending[0], kept[0]) and torch.equal(m.pending[1], kept[1])
    logs = m.after_g_step(0)
    assert torch.isfinite(logs["cr_loss"])


def test_the_cr_head_learns_to_predict_the_shared_factor_on_a_tiny_run():
    m = _method("model.zn_dim=2", "baselines.cr_start=0", "baselines.cr_gap=1.9", "train.g_batch_size=128",
                "model.hidden=64", "train.steps=60")  # fmt: skip
    real = torch.rand(16, 1, 8, 8)

    def accuracy() -> float:
        p = m.pairs(1000)
        x1, x2 = m.sample(torch.cat([p.z1, p.z2]), torch.cat([p.c1, p.c2])).chunk(2)
        return float((m.cr_logits(x1, x2).argmax(1) == p.shared).float().mean())

    start = accuracy()
    for step in range(60):
        m.train_step(real, step)
    assert start < 0.45 and accuracy() > 0.6  # chance: 1/3 (three factors)


def test_checkpoint_round_trip_of_every_net_and_optimizer():
    a = _method("baselines.cr_start=0")
    real = torch.rand(16, 1, 8, 8)
    for step in range(2):
        a.train_step(real, step)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    state = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    assert set(state["nets"]) == set(state["opts"]) == {"G", "D", "Q", "CR"}
    b = _method("baselines.cr_start=0", seed=1)
    b.load_state_dict(state)
    for name in a.nets:
        sa, sb = a.raw(name).state_dict(), b.raw(name).state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name
    a.rng.manual_seed(9)
    b.rng.manual_seed(9)
    torch.manual_seed(9)
    a.train_step(real, 2)
    torch.manual_seed(9)
    b.train_step(real, 2)  # the optimizers' moments came along: the next step is the same step
    for name in a.nets:
        assert torch.equal(_weights(a.raw(name)), _weights(b.raw(name))), name


def test_resume_keeps_the_cr_start_of_the_first_launch():
    first = _method("train.steps=100", "baselines.cr_start=0.5")
    longer = _method("train.steps=300", "baselines.cr_start=0.5")
    assert (first.cr_start, longer.cr_start) == (50, 150)
    longer.load_state_dict(first.state_dict())
    assert longer.cr_start == 50
