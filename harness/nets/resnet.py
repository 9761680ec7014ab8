"""SNGAN-style ResNet G and D (Miyato et al. 2018, the CIFAR-10 32x32 variant) and a CIFAR-style ResNet-18
encoder with a width parameter, for square images whose side is a power of two (>= 8).

* G: Linear(z -> 4x4 x ch) -> up-blocks (BN-ReLU-upsample-conv3x3-BN-ReLU-conv3x3, 1x1 shortcut) to the
  image size -> BN-ReLU-conv3x3 -> Sigmoid (images in [0, 1], like the dcgan family).
* D: an optimised first block, one more down-block, two plain blocks, ReLU, global sum pooling (the
  ``trunk``, which InfoGAN's Q head reads), then Linear -> 1 (the ``head``); spectral norm everywhere
  unless ``model.spectral_norm`` is off.
* Encoder: ResNet-18 (BasicBlocks [2, 2, 2, 2], widths w, 2w, 4w, 8w; 3x3 stem, no max-pool) -> global
  average pool -> Linear(8w -> out). ``model.e_width = 64`` is the standard ResNet-18; smaller widths
  keep CPU runs cheap, which torchvision's fixed-width resnet18 cannot.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from harness.config import ModelConfig


def _check(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    c, h, w = shape
    if h != w or h < 8 or h & (h - 1):
        raise ValueError(f"the resnet family needs square images with a power-of-two side >= 8, got {h}x{w}")
    return c, h, w


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(cin), nn.BatchNorm2d(cout)
        self.conv1, self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1), nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h))))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class Generator(nn.Module):
    def __init__(self, in_dim: int, shape: tuple[int, int, int], cfg: ModelConfig):
        super().__init__()
        c, h, _ = _check(shape)
        ch = cfg.g_width
        self.ch = ch
        self.fc = nn.Linear(in_dim, 4 * 4 * ch)
        self.blocks = nn.Sequential(*[GBlock(ch, ch) for _ in range(int(math.log2(h // 4)))])
        self.out = nn.Sequential(nn.BatchNorm2d(ch), nn.ReLU(True), nn.Conv2d(ch, c, 3, 1, 1), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(self.fc(z).view(-1, self.ch, 4, 4)))


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool, first: bool, sn):
        super().__init__()
        self.down, self.first = down, first
        self.conv1, self.conv2 = sn(nn.Conv2d(cin, cout, 3, 1, 1)), sn(nn.Conv2d(cout, cout, 3, 1, 1))
        self.skip = sn(nn.Conv2d(cin, cout, 1)) if (cin != cout or down) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        return h + self.shortcut(x)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.skip is None:
            return x
        if self.first:  # the optimised first block pools before its 1x1 conv
            return self.skip(F.avg_pool2d(x, 2) if self.down else x)
        s = self.skip(x)
        return F.avg_pool2d(s, 2) if self.down else s


class SumPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x).sum(dim=(2, 3))


class Discriminator(nn.Module):
    """``trunk`` gives the pooled features (InfoGAN's Q head reads them); ``head`` the critic value."""

    def __init__(self, shape: tuple[int, int, int], cfg: ModelConfig):
        super().__init__()
        c, _, _ = _check(shape)
        ch = cfg.d_width
        sn = spectral_norm if cfg.spectral_norm else (lambda m: m)
        self.trunk = nn.Sequential(
            DBlock(c, ch, down=True, first=True, sn=sn),
            DBlock(ch, ch, down=True, first=False, sn=sn),
            DBlock(ch, ch, down=False, first=False, sn=sn),
            DBlock(ch, ch, down=False, first=False, sn=sn),
            SumPool(),
        )
        self.head = sn(nn.Linear(ch, 1))
        self.feature_dim = ch

    def forward(self, x: torch.Tensor, features: bool = False):
        """Critic values (N,); with ``features=True`` also the trunk features (N, feature_dim)."""
        h = self.trunk(x)
        out = self.head(h).squeeze(1)
        return (out, h) if features else out


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = nn.Identity()
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.skip(x))


class Encoder(nn.Module):
    """ResNet-18 (CIFAR stem) -> global average pool -> Linear(8 * e_width -> out_dim)."""

    def __init__(self, shape: tuple[int, int, int], out_dim: int, cfg: ModelConfig):
        super().__init__()
        c, _, _ = _check(shape)
        w = cfg.e_width
        layers: list[nn.Module] = [nn.Conv2d(c, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True)]
        cin = w
        for i, cout in enumerate((w, 2 * w, 4 * w, 8 * w)):
            layers += [BasicBlock(cin, cout, 1 if i == 0 else 2), BasicBlock(cout, cout, 1)]
            cin = cout
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.backbone = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x))
