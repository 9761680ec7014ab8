"""Network families and device augmentations: shapes, ranges, and agreement with torchvision."""

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from codegan.augment import _hsv_to_rgb, _rgb_to_hsv, color_jitter, random_grayscale, second_view
from harness.config import ModelConfig, registry


@pytest.mark.parametrize(("arch", "shape"), [("dcgan", (1, 28, 28)), ("resnet", (3, 32, 32)), ("resnet", (1, 16, 16))])
def test_family_shapes(arch, shape):
    cfg = ModelConfig(g_width=16, d_width=16, e_width=8, hidden=32)
    fam = registry.arch(arch)
    g, d, e = fam.generator(10 + 4, shape, cfg), fam.discriminator(shape, cfg), fam.encoder(shape, 7, cfg)
    with torch.no_grad():
        x = g(torch.randn(5, 14))
        assert x.shape == (5, *shape) and float(x.min()) >= 0 and float(x.max()) <= 1
        assert d(x).shape == (5,) and d.trunk(x).shape == (5, d.feature_dim)
        assert e(x).shape == (5, 7)


def test_resnet_discriminator_is_spectrally_normalised_unless_asked_not_to():
    fam = registry.arch("resnet")
    names = [n for n, _ in fam.discriminator((3, 32, 32), ModelConfig(d_width=8)).named_parameters()]
    assert any("parametrizations.weight" in n for n in names)
    plain = fam.discriminator((3, 32, 32), ModelConfig(d_width=8, spectral_norm=False))
    assert not any("parametrizations" in n for n, _ in plain.named_parameters())


def test_resnet_rejects_sizes_it_cannot_build():
    with pytest.raises(ValueError, match="power-of-two side"):
        registry.arch("resnet").generator(8, (3, 28, 28), ModelConfig())


def test_hsv_round_trip_and_hue_shift_match_torchvision():
    x = torch.rand(6, 3, 9, 9, generator=torch.Generator().manual_seed(0))
    hsv = _rgb_to_hsv(x)
    assert torch.allclose(_hsv_to_rgb(hsv), x, atol=1e-5)
    for shift in (0.07, -0.1):
        moved = torch.stack([(hsv[:, 0] + shift) % 1.0, hsv[:, 1], hsv[:, 2]], 1)
        assert torch.allclose(_hsv_to_rgb(moved), TF.adjust_hue(x, shift), atol=1e-5)


def test_grayscale_and_jitter_are_per_image_and_seeded():
    x = torch.rand(64, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    grey = random_grayscale(x, torch.Generator().manual_seed(0), p=1.0)
    assert torch.allclose(grey, TF.rgb_to_grayscale(x, 3), atol=1e-3)
    a = color_jitter(x, torch.Generator().manual_seed(5))
    b = color_jitter(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and float(a.min()) >= 0 and float(a.max()) <= 1
    untouched = (a == x).flatten(1).all(1)
    assert 0 < int(untouched.sum()) < 64  # p = 0.8: some images keep their colours, most do not
    ratios = (a.mean((1, 2, 3)) / x.mean((1, 2, 3)))[~untouched]
    assert float(ratios.std()) > 0.01  # factors differ from image to image


@pytest.mark.parametrize("kind", ["crop", "color"])
@pytest.mark.parametrize("channels", [1, 3])
def test_second_view_keeps_shape_and_range(kind, channels):
    x = torch.rand(16, channels, 12, 12)
    out = second_view(x, kind, (0.6, 1.0), torch.Generator().manual_seed(0))
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert not torch.equal(out, x)
