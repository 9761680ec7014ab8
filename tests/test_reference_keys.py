"""The keys that reproduce the reference code (docs/method.md): the augmented view's gradient, weight
initialisation, integer crops and the chain step of a pre-trained E_c."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from codegan.augment import integer_crop_boxes, random_resized_crop_integer, resized_crop, second_view
from codegan.losses import supcon_loss
from codegan.method import CoDeGAN, chain_step
from harness.config import ConfigError, ModelConfig, build_config, registry
from harness.methods.gan import DataInfo
from harness.nets.init import init_weights
from harness.parallel.accelerator import make_accelerator

SMALL = ["model.hidden=32", "model.d_width=8", "model.g_width=8", "model.e_width=8", "codegan.fc_dim=8"]


def _codegan(*overrides: str, preset: str = "codegan/configs/digits.yaml", shape=(1, 8, 8)) -> CoDeGAN:
    cfg = build_config(preset, list(overrides))
    torch.manual_seed(0)
    return CoDeGAN(cfg, DataInfo(10, shape), make_accelerator(cfg), torch.Generator().manual_seed(0))


# the augmented view's gradient -------------------------------------------------------------------------
def _lc_grad(m: CoDeGAN, x: torch.Tensor, c: torch.Tensor, by_hand: str | None = None) -> torch.Tensor:
    """d L_c / d x through the method (``by_hand=None``) or written out: ``grad`` (both views carry the
    gradient: the behaviour before the key existed) or ``detached`` (the augmented view is a constant)."""
    cg, enc = m.cfg.codegan, m.raw("E")
    m.rng.manual_seed(7)
    x = x.clone().requires_grad_(True)
    if by_hand is None:
        l_c, _ = m._shared_losses(enc, x, torch.zeros(len(x), m.zn_dim), c)
    else:
        view = second_view(x, cg.augment, tuple(cg.crop_scale), m.rng, cg.crop_per_sample, cg.crop_mode)
        feats, _ = enc(torch.cat([x, view.detach() if by_hand == "detached" else view]))
        l_c = supcon_loss(feats, c.repeat(2), cg.tau, cg.base_tau)
    (grad,) = torch.autograd.grad(l_c, x)
    return grad


def test_detach_view_cuts_the_augmented_views_gradient_and_off_is_the_old_behaviour():
    x, c = torch.rand(12, 1, 8, 8), torch.arange(12) % 4
    off, on = _codegan(*SMALL), _codegan(*SMALL, "codegan.detach_view=true")
    for m, cut in ((on, True), (off, False)):
        xx = x.clone().requires_grad_(True)
        (through_copy,) = torch.autograd.grad(m._views(xx)[12:].sum(), xx)
        assert bool((through_copy == 0).all()) is cut  # detached: nothing flows back through the augmented view
    g_off, g_on = _lc_grad(off, x, c), _lc_grad(on, x, c)
    assert torch.allclose(g_off, _lc_grad(off, x, c, "grad"), atol=1e-7)  # off: both views, as before
    assert torch.allclose(g_on, _lc_grad(on, x, c, "detached"), atol=1e-7)  # on: the original view only
    assert (g_off - g_on).abs().max() > 1e-3 * g_off.abs().max()  # the augmented view's share is real


def test_detach_view_changes_gs_update_only_through_l_c():
    grads = {}
    for flag in ("false", "true"):
        m = _codegan(*SMALL, f"codegan.detach_view={flag}")
        m.g_step()
        grads[flag] = torch.cat([p.grad.flatten() for p in m.raw("G").parameters()])
    assert not torch.allclose(grads["false"], grads["true"])
    same = [_codegan(*SMALL, f"codegan.detach_view={f}", "codegan.beta_c=0") for f in ("false", "true")]
    for m in same:
        m.g_step()
    a, b = (torch.cat([p.grad.flatten() for p in m.raw("G").parameters()]) for m in same)
    assert torch.equal(a, b)  # without L_c the key changes nothing


# weight initialisation ---------------------------------------------------------------------------------
def test_normal02_gives_std_002_zero_biases_and_leaves_batchnorm():
    m = _codegan("model.init=normal02", preset="codegan/configs/fashion-mnist.yaml", shape=(1, 28, 28))
    layers = 0
    for name in ("G", "D", "E"):
        for mod in m.raw(name).modules():
            if isinstance(mod, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
                layers += 1
                w = mod.weight.detach()
                if w.numel() >= 2000:
                    assert float(w.std()) == pytest.approx(0.02, rel=0.06) and abs(float(w.mean())) < 0.003
                assert torch.count_nonzero(mod.bias) == 0
            elif isinstance(mod, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d):
                assert torch.all(mod.weight == 1) and torch.all(mod.bias == 0)
    assert layers == 4 + 4 + 5  # G: 2 Linear + 2 ConvT; D: 2 Conv + 2 Linear; E: 3 Conv + 2 Linear


def test_default_init_is_pytorchs_untouched():
    m = _codegan(*SMALL)
    torch.manual_seed(0)  # the same draws as the method's construction, without any init scheme
    fam = registry.arch("dcgan")
    g = fam.generator(m.zn_dim + 10, (1, 8, 8), m.cfg.model)
    ours, plain = m.raw("G").state_dict(), g.state_dict()
    assert list(ours) == list(plain) and all(torch.equal(ours[k], plain[k]) for k in ours)
    biases = [p for n, p in m.raw("D").named_parameters() if n.endswith("bias")]
    assert all(torch.count_nonzero(b) > 0 for b in biases)


def test_normal02_reaches_spectrally_normalised_weights():
    d = registry.arch("resnet").discriminator((3, 16, 16), ModelConfig(d_width=64))
    init_weights(d, "normal02", torch.Generator().manual_seed(0))
    conv = d.trunk[1].conv1
    assert float(conv.parametrizations.weight.original.detach().std()) == pytest.approx(0.02, rel=0.05)
    assert torch.count_nonzero(conv.bias) == 0
    w = conv.weight.detach().flatten(1)  # the normalised weight: largest singular value 1 (1.24 if u, v were stale)
    assert float(torch.linalg.matrix_norm(w, ord=2)) == pytest.approx(1.0, rel=0.05)


# integer crops --------------------------------------------------------------------------------------------
def test_integer_boxes_follow_torchvision_and_the_resize_matches_it():
    g = torch.Generator().manual_seed(0)
    boxes = integer_crop_boxes(400, (28, 28), (0.3, 1.0), g, torch.device("cpu"))
    assert boxes.dtype == torch.long
    top, left, h, w = boxes.T
    assert bool((top >= 0).all() and (left >= 0).all() and (top + h <= 28).all() and (left + w <= 28).all())
    area = (h * w).double() / 784
    assert float(area.min()) > 0.25 and float(area.max()) <= 1.0  # scale 0.3-1 up to rounding
    aspect = (w / h).double()
    assert float(aspect.min()) >= 3 / 4 - 0.1 and float(aspect.max()) <= 4 / 3 + 0.1
    assert len({tuple(b) for b in boxes.tolist()}) > 100  # boxes differ image to image
    x = torch.rand(24, 3, 28, 28)
    out = resized_crop(x, boxes[:24])
    for i, (t, lf, hh, ww) in enumerate(boxes[:24].tolist()):  # torchvision's own resized_crop, image by image
        ref = TF.resized_crop(x[i], t, lf, hh, ww, [28, 28], antialias=True)
        assert torch.allclose(out[i], ref, atol=1e-5), i


def test_integer_crop_falls_back_to_the_centre_like_torchvision():
    boxes = integer_crop_boxes(5, (28, 28), (1.0, 1.0), torch.Generator(), torch.device("cpu"), ratio=(2.0, 3.0))
    assert boxes.tolist() == [[7, 0, 14, 28]] * 5  # no 2:1 box of the full area fits: centre crop at ratio 2


@pytest.mark.parametrize("per_sample", [True, False])
def test_integer_crop_one_box_per_image_or_per_batch(per_sample):
    x = torch.rand(16, 1, 28, 28)
    g = torch.Generator().manual_seed(3)
    out = random_resized_crop_integer(x, (0.5, 0.9), g, per_sample=per_sample)
    g.manual_seed(3)
    boxes = integer_crop_boxes(16 if per_sample else 1, (28, 28), (0.5, 0.9), g, torch.device("cpu"))
    assert torch.equal(out, resized_crop(x, boxes)) and out.shape == x.shape
    assert (len({tuple(b) for b in boxes.tolist()}) > 1) is per_sample
    same = x[:1].expand(16, -1, -1, -1)  # one image 16 times: per batch, 16 identical views
    views = random_resized_crop_integer(same, (0.5, 0.9), g, per_sample=per_sample)
    assert (views.sub(views[:1]).abs().amax() == 0) is not per_sample


@pytest.mark.parametrize("channels", [1, 3])
def test_colour_view_once_per_batch_or_per_image(channels):
    same = torch.rand(1, channels, 16, 16).expand(32, -1, -1, -1)  # one image 32 times
    g = torch.Generator().manual_seed(0)
    batch = second_view(same, "color", (0.6, 1.0), g, False, "integer", color_per_sample=False)
    assert batch.sub(batch[:1]).abs().amax() == 0  # the reference: one draw of everything for the batch
    crop_only = second_view(same, "color", (0.6, 1.0), g, False, "integer", color_per_sample=True)
    assert crop_only.sub(crop_only[:1]).abs().amax() > 0.01  # the same box, flips and jitter per image


def test_crop_mode_selects_the_codegan_view():
    m = _codegan(*SMALL, "codegan.crop_mode=integer", "codegan.crop_per_sample=false")
    x = torch.rand(10, 1, 8, 8)
    m.rng.manual_seed(5)
    view = m._views(x)[10:]
    g = torch.Generator().manual_seed(5)
    assert torch.equal(view, random_resized_crop_integer(x, (0.8, 1.0), g, per_sample=False))


# chain step ---------------------------------------------------------------------------------------------
def test_chain_step_auto_is_a_third_with_a_pretrained_encoder_else_zero():
    base = "codegan/configs/fashion-mnist.yaml"
    assert chain_step(build_config(base)) == 0
    assert chain_step(build_config(base, ["codegan.pretrain=simclr"])) == 562500 // 3 == 187500  # 200 of 600 ep.
    assert chain_step(build_config(base, ["codegan.pretrain=simclr", "train.steps=30"])) == 10
    assert chain_step(build_config(base, ["codegan.pretrain=simclr", "codegan.chain_step=7"])) == 7
    assert chain_step(build_config("codegan/configs/cifar10.yaml", ["codegan.pretrain=simclr"])) == 0  # reference
    for bad in ("-1", "third", "1.5"):
        with pytest.raises(ConfigError, match="codegan.chain_step"):
            build_config(base, [f"codegan.chain_step={bad}"])


def _weights(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in net.parameters()])


def test_pretrained_encoder_is_frozen_before_the_chain_step_and_trained_after():
    m = _codegan(*SMALL, "codegan.pretrain=simclr", "train.steps=9", "codegan.e_batch_size=16")
    assert m.chain_step == 3
    real = torch.rand(16, 1, 8, 8)
    before = _weights(m.raw("E"))
    m.train_step(real, 2)
    assert torch.equal(_weights(m.raw("E")), before)  # frozen through iteration 2
    m.train_step(real, 3)
    assert not torch.equal(_weights(m.raw("E")), before)  # updated from the chain step on
    plain = _codegan(*SMALL, "train.steps=9", "codegan.e_batch_size=16")
    assert plain.chain_step == 0
    before = _weights(plain.raw("E"))
    plain.train_step(real, 0)
    assert not torch.equal(_weights(plain.raw("E")), before)


def test_separate_encoders_train_e_z_from_the_start_and_e_c_from_the_chain_step():
    m = _codegan(*SMALL, "codegan.encoders=separate", "codegan.pretrain=simclr", "train.steps=6",
                 "codegan.e_batch_size=8", "codegan.ez_batch_size=8")  # fmt: skip
    ec, ez = _weights(m.raw("Ec")), _weights(m.raw("Ez"))
    logs = m.train_step(torch.rand(8, 1, 8, 8), 1)
    assert torch.equal(_weights(m.raw("Ec")), ec) and not torch.equal(_weights(m.raw("Ez")), ez)
    assert "e_lc" not in logs and "e_lz" in logs
    logs = m.train_step(torch.rand(8, 1, 8, 8), 2)
    assert not torch.equal(_weights(m.raw("Ec")), ec) and "e_lc" in logs


def test_resume_keeps_the_auto_chain_step_of_the_first_launch():
    first = _codegan(*SMALL, "codegan.pretrain=simclr", "train.steps=30")
    assert first.chain_step == 10
    longer = _codegan(*SMALL, "codegan.pretrain=simclr", "train.steps=90")  # the same run, resumed with more steps
    assert longer.chain_step == 30
    longer.load_state_dict(first.state_dict())
    assert longer.chain_step == 10  # E, training since step 10, is not frozen again until 30
    explicit = _codegan(*SMALL, "codegan.pretrain=simclr", "train.steps=90", "codegan.chain_step=5")
    explicit.load_state_dict(first.state_dict())
    assert explicit.chain_step == 5  # an explicit value is the config's
