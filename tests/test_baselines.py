"""Baselines: their information terms by hand, which parameters the MI term trains, and a short run of
every method through the shared trainer and evaluation."""

import math

import pytest
import torch

from baselines.losses import categorical_code_loss, gaussian_nll
from harness.config import build_config, registry
from harness.methods.gan import DataInfo
from harness.parallel.accelerator import make_accelerator
from harness.runs.track import read_jsonl
from harness.training.trainer import train


def test_categorical_term_value_and_gradient_by_hand():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]], requires_grad=True)
    c = torch.tensor([0, 2])
    loss = categorical_code_loss(logits, c)
    # -log softmax: row 0 = log(1 + 2 e^-2); row 1 = log(e + 2) (target logit 0, others 1 and 0)
    want = (math.log(1 + 2 * math.exp(-2)) + math.log(math.e + 2)) / 2
    assert math.isclose(float(loss.detach()), want, rel_tol=1e-6)
    loss.backward()
    p0 = [math.exp(2) / (math.exp(2) + 2), 1 / (math.exp(2) + 2), 1 / (math.exp(2) + 2)]
    p1 = [1 / (math.e + 2), math.e / (math.e + 2), 1 / (math.e + 2)]
    grad = torch.tensor([[p0[0] - 1, p0[1], p0[2]], [p1[0], p1[1], p1[2] - 1]]) / 2  # (softmax - onehot) / N
    assert torch.allclose(logits.grad, grad, atol=1e-6)
    # a double softmax (the ports' bug) would give a different, flatter value
    assert not math.isclose(float(categorical_code_loss(torch.softmax(logits, 1), c).detach()), want, rel_tol=1e-3)


def test_gaussian_nll_by_hand():
    mu, logvar, x = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, math.log(4.0)]]), torch.tensor([[1.0, 1.0]])
    want = 0.5 * (math.log(2 * math.pi) + 0 + 1) + 0.5 * (math.log(2 * math.pi) + math.log(4.0) + 0)
    assert math.isclose(float(gaussian_nll(mu, logvar, x)), want, rel_tol=1e-6)


def _method(name: str, *overrides: str):
    cfg = build_config(
        "codegan/configs/digits.yaml",
        [f"method={name}", "model.hidden=32", "model.d_width=8", "model.g_width=8", *overrides],
    )
    torch.manual_seed(0)
    acc = make_accelerator(cfg)
    return registry.method(name)(cfg, DataInfo(10, (1, 8, 8)), acc, torch.Generator().manual_seed(0))


def _has_grad(net: torch.nn.Module) -> list[bool]:
    return [p.grad is not None and bool(p.grad.abs().sum() > 0) for p in net.parameters()]


@pytest.mark.parametrize("trunk", [True, False])
def test_mi_trains_d_trunk_decides_which_parameters_learn(trunk):
    flag = f"baselines.mi_trains_d_trunk={str(trunk).lower()}"
    m = _method("infogan", flag, "train.gan_loss=bce")
    m.d_step(torch.rand(16, 1, 8, 8))
    assert all(_has_grad(m.raw("D").trunk))
    assert all(_has_grad(m.raw("Q"))) is trunk and any(_has_grad(m.raw("Q"))) is trunk  # MI in D's update?
    m = _method("infogan", flag, "train.gan_loss=bce")
    m.g_step()
    assert all(_has_grad(m.raw("G")))
    assert not any(_has_grad(m.raw("D")))  # D (trunk and head) never moves in G's update
    assert all(_has_grad(m.raw("Q"))) is not trunk  # StudioGAN: Q learns with G


def test_infogan_continuous_codes_are_uniform_and_scored():
    m = _method("infogan", "baselines.cont_dim=2")
    z, c = m.latent(4000)
    codes = z[:, m.zn_dim :]
    assert z.shape == (4000, m.zn_dim + 2) and float(codes.min()) >= -1 and float(codes.max()) <= 1
    assert abs(float(codes.mean())) < 0.05 and abs(float(codes.var()) - 1 / 3) < 0.03
    logs = m.g_step()
    assert {"g_mi_cat", "g_mi_cont"} <= set(logs)


def test_clustergan_encoder_losses_by_hand():
    m = _method("clustergan")
    z = torch.tensor([[0.5] * m.zn_dim])
    out = torch.cat([torch.zeros(1, m.zn_dim), torch.tensor([[3.0] + [0.0] * 9])], dim=1)
    l_n, l_c = m.encoder_losses(out, z, torch.tensor([0]))
    assert math.isclose(float(l_n), 0.25, rel_tol=1e-6)
    assert math.isclose(float(l_c), math.log(1 + 9 * math.exp(-3)), rel_tol=1e-6)
    assert m.latent(20000)[0].std().item() == pytest.approx(0.1, rel=0.05)  # z_n ~ N(0, 0.1^2)


@pytest.mark.parametrize(
    ("method", "extra_keys"),
    [
        ("codegan", []),
        ("infogan", ["eval/acc_q", "eval/nmi_q"]),
        ("infogan-cr", ["eval/acc_q", "eval/nmi_q"]),
        ("clustergan", ["eval/acc_enc"]),
        ("pixels-kmeans", []),
    ],
)
def test_every_method_trains_and_evaluates_through_the_shared_path(digits_shards, tmp_path, method, extra_keys):
    preset = "codegan/configs/digits.yaml" if method == "codegan" else f"baselines/configs/{method}/digits.yaml"
    overrides = [
        f"data.root={digits_shards.parent}",
        f"log.root={tmp_path}",
        "log.wandb=disabled",
        "log.progress=false",
        "train.steps=4",
        "train.log_every=2",
        "eval.kmeans_seeds=2",
        "eval.kmeans_n_init=1",
    ]
    result = train(build_config(preset, overrides))
    for key in ["eval/acc", "eval/acc_std", "eval/nmi", "eval/ari", "baseline/pixels_acc", *extra_keys]:
        assert 0 <= result[key] <= 1, key
    (run,) = tmp_path.iterdir()
    grids = list((run / "samples").glob("*.png"))
    if method == "pixels-kmeans":
        assert not grids and result["eval/acc"] == pytest.approx(result["baseline/pixels_acc"])
    else:
        assert grids and (run / "checkpoints" / "step-00000004.pt").is_file()
    if method == "infogan-cr":  # the preset's cr_start = 0.89: on from iteration 3 of 4, logged at step 4
        logged = [r for r in read_jsonl(run / "metrics.jsonl") if "train/g_cr" in r]
        assert [r["step"] for r in logged] == [4]
        assert logged[0]["train/cr_weight"] == 1.0 and logged[0]["train/cr_loss"] > 0
