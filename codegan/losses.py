"""CoDeGAN's encoder losses: supervised contrastive L_c (Khosla et al. 2020) and noise regression L_z."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def supcon_loss(features: torch.Tensor, labels: torch.Tensor, tau: float, base_tau: float = 0.07) -> torch.Tensor:
    """SupCon with ``contrast_mode='all'`` over every view, vectorised.

    ``features``: (V*N, d) L2-normalised, all V views stacked (view-major); ``labels``: (V*N,).
    For anchor i with positives P(i) = {p != i : y_p = y_i} and candidates A(i) = {a != i}:
    ``loss_i = -(tau / base_tau) * mean_{p in P(i)} log(exp(f_i.f_p / tau) / sum_{a in A(i)} exp(f_i.f_a / tau))``,
    averaged over anchors. Anchors with no positive are left out. Always computed in fp32: under a bf16 or fp16
    autocast the product ``f @ f.T`` would be rounded to 8 (or 11) bits before the division by tau (at
    tau = 0.07, logits in steps of about 0.06), so autocast is closed here.
    """
    with torch.autocast(features.device.type, enabled=False):
        return _supcon(features.float(), labels, tau, base_tau)


def _supcon(f: torch.Tensor, labels: torch.Tensor, tau: float, base_tau: float) -> torch.Tensor:
    n = f.shape[0]
    logits = f @ f.T / tau
    self_mask = torch.eye(n, dtype=torch.bool, device=f.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~self_mask
    n_pos = pos.sum(1)
    mean_log_prob_pos = log_prob.masked_fill(~pos, 0.0).sum(1) / n_pos.clamp(min=1)
    has_pos = (n_pos > 0).to(f.dtype)  # a weighted mean, not a boolean index: no host synchronisation
    return -(tau / base_tau) * (mean_log_prob_pos * has_pos).sum() / has_pos.sum().clamp(min=1)


def noise_loss(z_hat: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """L_z: mean squared error between E_z's estimate and the sampled z_n."""
    return F.mse_loss(z_hat.float(), z.float())


def nt_xent_loss(features: torch.Tensor, tau: float) -> torch.Tensor:
    """SimCLR's NT-Xent over ``(2N, d)`` L2-normalised features of two views stacked view-major: each
    anchor's one positive is the other view of its image. It is SupCon with the image index as the label
    and no temperature rescaling."""
    n = features.shape[0] // 2
    index = torch.arange(n, device=features.device).repeat(2)
    return supcon_loss(features, index, tau, base_tau=tau)
