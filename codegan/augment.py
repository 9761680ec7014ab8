"""Batched image augmentations that run on the device, drawn from an explicit torch.Generator."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_resized_crop(
    x: torch.Tensor,
    scale: tuple[float, float],
    generator: torch.Generator,
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    per_sample: bool = True,
    matmul: bool = False,
) -> torch.Tensor:
    """torchvision's RandomResizedCrop semantics (area fraction in ``scale``, aspect in ``ratio``), resized
    back to the input size with bilinear sampling, one crop per image (or one per batch).

    Boxes that would not fit are shrunk to fit instead of re-drawn, which keeps the op one vectorised
    affine resample. ``matmul``: the same resample as two matrix products (:func:`box_resample`), whose
    backward is deterministic on CUDA, unlike ``grid_sample``'s (``train.deterministic``).
    """
    n = x.shape[0]
    draws = 1 if not per_sample else n
    u = torch.rand(draws, 4, device=x.device, generator=generator)
    area = scale[0] + (scale[1] - scale[0]) * u[:, 0]
    log_r = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[:, 1]
    aspect = torch.exp(log_r)
    w = torch.sqrt(area * aspect).clamp(max=1.0)  # fraction of the width
    h = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (1 - w) * (2 * u[:, 2] - 1)  # box centre in [-1, 1] coordinates
    cy = (1 - h) * (2 * u[:, 3] - 1)
    if matmul:
        return box_resample(x, *(t.expand(n) for t in (w, h, cx, cy)))
    theta = torch.zeros(draws, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = w, cx, h, cy
    if draws == 1:
        theta = theta.expand(n, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _axis_weights(scale: torch.Tensor, centre: torch.Tensor, size: int, dtype: torch.dtype) -> torch.Tensor:
    """(n, size out, size in) bilinear weights of ``grid_sample(..., align_corners=False,
    padding_mode="border")`` along one axis for the output coordinate ``scale * u + centre`` (u in [-1, 1]):
    the source pixel coordinate, clamped to the image, and the triangle kernel ``max(0, 1 - |p - i|)``."""
    work = torch.promote_types(dtype, torch.float32)
    u = (2 * torch.arange(size, device=scale.device, dtype=work) + 1) / size - 1
    p = (((scale.to(work)[:, None] * u[None] + centre.to(work)[:, None]) + 1) * size - 1) / 2
    p = p.clamp(0, size - 1)
    i = torch.arange(size, device=scale.device, dtype=work)
    return (1 - (p[:, :, None] - i[None, None]).abs()).clamp(min=0).to(dtype)


def box_resample(x: torch.Tensor, w: torch.Tensor, h: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
    """Each image's box (width and height fractions ``w``, ``h``, centre ``cx``, ``cy`` in [-1, 1]) resampled
    to the image size with bilinear weights and border padding: ``A_y @ x @ A_x^T``, what ``affine_grid`` +
    ``grid_sample`` compute for a scale-and-shift ``theta``, as matrix products."""
    _, _, height, width = x.shape
    rows = _axis_weights(h, cy, height, x.dtype)[:, None]  # (n, 1, H out, H in)
    cols = _axis_weights(w, cx, width, x.dtype)[:, None]  # (n, 1, W out, W in)
    return rows @ x @ cols.transpose(-1, -2)


def integer_crop_boxes(
    n: int,
    size: tuple[int, int],
    scale: tuple[float, float],
    generator: torch.Generator,
    device: torch.device,
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    attempts: int = 10,
) -> torch.Tensor:
    """``n`` crop boxes ``(top, left, height, width)`` (long, shape (n, 4)) drawn as torchvision's
    ``RandomResizedCrop.get_params``: area fraction uniform in ``scale``, log-aspect uniform in ``ratio``, sides
    rounded to integers; the first of ``attempts`` draws that fits is kept, else the centre crop clamped to
    ``ratio``; the position is uniform over the positions where the box fits."""
    height, width = size
    u = torch.rand(n, attempts, 2, device=device, generator=generator)
    pos = torch.rand(n, 2, device=device, generator=generator)
    area = height * width * (scale[0] + (scale[1] - scale[0]) * u[..., 0])
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(lo + (hi - lo) * u[..., 1])
    w = torch.round(torch.sqrt(area * aspect)).long()
    h = torch.round(torch.sqrt(area / aspect)).long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.int().argmax(1, keepdim=True)  # the first attempt that fits (0 when none does)
    w, h, found = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0], fits.any(1)
    in_ratio = width / height  # torchvision's fallback: the whole image, clamped to the aspect range
    if in_ratio < min(ratio):
        cw, ch = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        cw, ch = int(round(height * max(ratio))), height
    else:
        cw, ch = width, height
    w, h = torch.where(found, w, cw), torch.where(found, h, ch)
    top = torch.minimum((pos[:, 0] * (height - h + 1)).long(), height - h)
    left = torch.minimum((pos[:, 1] * (width - w + 1)).long(), width - w)
    top = torch.where(found, top, torch.full_like(top, (height - ch) // 2))
    left = torch.where(found, left, torch.full_like(left, (width - cw) // 2))
    return torch.stack([top, left, h, w], 1)


def _bilinear_axis(start: torch.Tensor, length: torch.Tensor, out: int, dtype: torch.dtype):
    """Per box, the two source indices and the weight of the second for each of ``out`` output pixels:
    bilinear interpolation with ``align_corners=False`` (source coordinates clamped at 0, as PyTorch)."""
    o = torch.arange(out, device=start.device, dtype=torch.float32)
    src = ((o + 0.5)[None] * (length.float() / out)[:, None] - 0.5).clamp(min=0)
    last = (length - 1)[:, None]
    i0 = torch.minimum(src.floor().long(), last)
    i1 = torch.minimum(i0 + 1, last)
    return start[:, None] + i0, start[:, None] + i1, (src - i0).to(dtype)


def resized_crop(x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Each image's integer box ``(top, left, height, width)`` resized back to the image size: bilinear,
    ``align_corners=False``, vectorised over boxes of different sizes (the boxes are never larger than the
    image, so torchvision's antialiasing has nothing to do)."""
    n, c, height, width = x.shape
    boxes = boxes.expand(n, 4)
    r0, r1, wy = _bilinear_axis(boxes[:, 0], boxes[:, 2], height, x.dtype)
    c0, c1, wx = _bilinear_axis(boxes[:, 1], boxes[:, 3], width, x.dtype)

    def rows(r: torch.Tensor) -> torch.Tensor:
        return x.gather(2, r[:, None, :, None].expand(n, c, height, x.shape[3]))

    wy = wy[:, None, :, None]
    y = rows(r0) * (1 - wy) + rows(r1) * wy

    def cols(col: torch.Tensor) -> torch.Tensor:
        return y.gather(3, col[:, None, None, :].expand(n, c, height, width))

    wx = wx[:, None, None, :]
    return cols(c0) * (1 - wx) + cols(c1) * wx


def random_resized_crop_integer(
    x: torch.Tensor,
    scale: tuple[float, float],
    generator: torch.Generator,
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    per_sample: bool = True,
) -> torch.Tensor:
    """torchvision's RandomResizedCrop exactly: integer boxes (:func:`integer_crop_boxes`) resized back with
    bilinear interpolation; one box per image, or one for the whole batch (what the reference code gets by
    applying the transform to a 4-D batch)."""
    n, _, height, width = x.shape
    boxes = integer_crop_boxes(n if per_sample else 1, (height, width), scale, generator, x.device, ratio)
    return resized_crop(x, boxes)


def _gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma, as torchvision's rgb_to_grayscale, kept as one channel."""
    r, g, b = x.unbind(1)
    return (0.299 * r + 0.587 * g + 0.114 * b).unsqueeze(1)


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(1)
    mx, _ = x.max(1)
    mn, _ = x.min(1)
    delta = mx - mn
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    h = torch.where(mx == r, ((g - b) / safe) % 6, torch.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = torch.where(delta > 0, h / 6, torch.zeros_like(h))
    s = torch.where(mx > 0, delta / torch.where(mx > 0, mx, torch.ones_like(mx)), torch.zeros_like(mx))
    return torch.stack([h, s, mx], 1)


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(1)
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], 1)
    return v.unsqueeze(1) - (v * s).unsqueeze(1) * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def _per_sample(n: int, lo: float, hi: float, u: torch.Tensor) -> torch.Tensor:
    return (lo + (hi - lo) * u).view(n, 1, 1, 1)


def color_jitter(
    x: torch.Tensor,
    generator: torch.Generator,
    brightness: float = 0.3,
    contrast: float = 0.3,
    saturation: float = 0.3,
    hue: float = 0.1,
    p: float = 0.8,
    per_sample: bool = True,
) -> torch.Tensor:
    """torchvision's ColorJitter with per-image factors, applied to each image with probability ``p``
    (``per_sample=False``: one draw of factors and of the ``p`` decision for the whole batch, as
    torchvision's transform applied to a 4-D batch).

    Factors are uniform in ``[1 - s, 1 + s]`` (hue shift in ``[-hue, hue]`` turns); the four adjustments
    run in a fixed order (torchvision shuffles it per call). RGB input in [0, 1].
    """
    n = x.shape[0]
    u = torch.rand(n if per_sample else 1, 5, device=x.device, generator=generator).expand(n, 5)
    out = x * _per_sample(n, 1 - brightness, 1 + brightness, u[:, 0])
    out = out.clamp(0, 1)
    mean = _gray(out).mean(dim=(1, 2, 3), keepdim=True)
    out = (mean + _per_sample(n, 1 - contrast, 1 + contrast, u[:, 1]) * (out - mean)).clamp(0, 1)
    gray = _gray(out)
    out = (gray + _per_sample(n, 1 - saturation, 1 + saturation, u[:, 2]) * (out - gray)).clamp(0, 1)
    if hue > 0:
        hsv = _rgb_to_hsv(out)
        shift = (-hue + 2 * hue * u[:, 3]).view(n, 1, 1)
        hsv = torch.stack([(hsv[:, 0] + shift) % 1.0, hsv[:, 1], hsv[:, 2]], 1)
        out = _hsv_to_rgb(hsv)
    apply = (u[:, 4] < p).view(n, 1, 1, 1)
    return torch.where(apply, out, x)


def _coin(x: torch.Tensor, generator: torch.Generator, p: float, per_sample: bool) -> torch.Tensor:
    """True with probability ``p``, per image (or one toss for the batch), shaped to broadcast over images."""
    draws = x.shape[0] if per_sample else 1
    return torch.rand(draws, device=x.device, generator=generator).view(-1, 1, 1, 1) < p


def random_grayscale(
    x: torch.Tensor, generator: torch.Generator, p: float = 0.1, per_sample: bool = True
) -> torch.Tensor:
    """Each RGB image replaced by its 3-channel grey version with probability ``p`` (or the whole batch)."""
    return torch.where(_coin(x, generator, p, per_sample), _gray(x).expand_as(x), x)


def random_hflip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5, per_sample: bool = True) -> torch.Tensor:
    """Each image flipped left-right with probability ``p`` (or the whole batch)."""
    return torch.where(_coin(x, generator, p, per_sample), x.flip(-1), x)


CROP_MODES = ("continuous", "integer")


def second_view(
    x: torch.Tensor,
    kind: str,
    scale: tuple[float, float],
    generator: torch.Generator,
    per_sample: bool = True,
    crop_mode: str = "continuous",
    color_per_sample: bool = True,
    matmul: bool = False,
) -> torch.Tensor:
    """L_c's augmented copy of a batch in [0, 1]: ``crop`` (28x28 data: RandomResizedCrop) or ``color``
    (32x32 data: crop + horizontal flip + ColorJitter(0.3, 0.3, 0.3, 0.1) p=0.8 + grayscale p=0.1).
    ``crop_mode``: ``continuous`` boxes (:func:`random_resized_crop`) or ``integer`` ones, as torchvision;
    ``per_sample`` / ``color_per_sample``: the crop / the colour steps drawn per image or once per batch;
    ``matmul``: the continuous crop as matrix products (deterministic on CUDA)."""
    if crop_mode not in CROP_MODES:
        raise ValueError(f"unknown crop mode '{crop_mode}' ({' | '.join(CROP_MODES)})")
    if crop_mode == "continuous":
        out = random_resized_crop(x, scale, generator, per_sample=per_sample, matmul=matmul)
    else:
        out = random_resized_crop_integer(x, scale, generator, per_sample=per_sample)
    if kind == "crop":
        return out
    if kind != "color":
        raise ValueError(f"unknown augmentation '{kind}' (crop | color)")
    each = color_per_sample
    out = random_hflip(out, generator, per_sample=each)
    if out.shape[1] == 3:
        out = random_grayscale(color_jitter(out, generator, per_sample=each), generator, per_sample=each)
    else:  # grey images: brightness and contrast only
        grey3 = out.expand(-1, 3, -1, -1)
        out = color_jitter(grey3, generator, saturation=0.0, hue=0.0, per_sample=each)[:, :1]
    return out
