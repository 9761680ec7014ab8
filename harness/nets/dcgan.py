"""DCGAN-style G, D and encoder for small square images (28x28 in the paper; any size divisible by 4).

Shapes follow the reference 28x28 networks (docs/reference.md, section 2): G is two fully connected
layers then two stride-2 transposed convolutions; D is two stride-2 convolutions then two fully
connected layers; the encoder is three stride-2 convolutions then two fully connected layers.
PyTorch's default initialisation is kept.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.config import ModelConfig

SLOPE = 0.2  # LeakyReLU negative slope


def _conv_out(size: int, layers: int) -> int:
    for _ in range(layers):  # kernel 4, stride 2, padding 1
        size = (size + 2 - 4) // 2 + 1
    return size


def _check(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    c, h, w = shape
    if h % 4 or w % 4:
        raise ValueError(f"the dcgan family needs image sides divisible by 4, got {h}x{w} (set data.image_size)")
    return c, h, w


class Generator(nn.Module):
    def __init__(self, in_dim: int, shape: tuple[int, int, int], cfg: ModelConfig):
        super().__init__()
        c, h, w = _check(shape)
        self.base = (2 * cfg.g_width, h // 4, w // 4)
        self.fc = nn.Sequential(
            nn.Linear(in_dim, cfg.hidden),
            nn.BatchNorm1d(cfg.hidden),
            nn.ReLU(True),
            nn.Linear(cfg.hidden, self.base[0] * self.base[1] * self.base[2]),
            nn.BatchNorm1d(self.base[0] * self.base[1] * self.base[2]),
            nn.ReLU(True),
        )
        self.conv = nn.Sequential(
            nn.ConvTranspose2d(self.base[0], cfg.g_width, 4, 2, 1),
            nn.BatchNorm2d(cfg.g_width),
            nn.ReLU(True),
            nn.ConvTranspose2d(cfg.g_width, c, 4, 2, 1),
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv(self.fc(z).view(-1, *self.base))


class Discriminator(nn.Module):
    """``trunk`` gives the shared features (InfoGAN's Q head reads them); ``head`` the critic value."""

    def __init__(self, shape: tuple[int, int, int], cfg: ModelConfig):
        super().__init__()
        c, h, w = _check(shape)
        flat = 2 * cfg.d_width * _conv_out(h, 2) * _conv_out(w, 2)
        self.trunk = nn.Sequential(
            nn.Conv2d(c, cfg.d_width, 4, 2, 1),
            nn.LeakyReLU(SLOPE, True),
            nn.Conv2d(cfg.d_width, 2 * cfg.d_width, 4, 2, 1),
            nn.LeakyReLU(SLOPE, True),
            nn.Flatten(),
            nn.Linear(flat, cfg.hidden),
            nn.LeakyReLU(SLOPE, True),
        )
        self.head = nn.Linear(cfg.hidden, 1)
        self.feature_dim = cfg.hidden

    def forward(self, x: torch.Tensor, features: bool = False):
        """Critic values (N,); with ``features=True`` also the trunk features (N, feature_dim)."""
        h = self.trunk(x)
        out = self.head(h).squeeze(1)
        return (out, h) if features else out


class Encoder(nn.Module):
    """Image -> one vector of ``out_dim`` (methods split it into their heads)."""

    def __init__(self, shape: tuple[int, int, int], out_dim: int, cfg: ModelConfig):
        super().__init__()
        c, h, w = _check(shape)
        wd = cfg.e_width
        flat = 4 * wd * _conv_out(h, 3) * _conv_out(w, 3)
        self.net = nn.Sequential(
            nn.Conv2d(c, wd, 4, 2, 1),
            nn.LeakyReLU(SLOPE, True),
            nn.Conv2d(wd, 2 * wd, 4, 2, 1),
            nn.LeakyReLU(SLOPE, True),
            nn.Conv2d(2 * wd, 4 * wd, 4, 2, 1),
            nn.LeakyReLU(SLOPE, True),
            nn.Flatten(),
            nn.Linear(flat, cfg.hidden),
            nn.LeakyReLU(SLOPE, True),
            nn.Linear(cfg.hidden, out_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
