"""Weight initialisation schemes (``model.init``), applied to a whole network after it is built.

* ``default``: PyTorch's own initialisation, left untouched.
* ``normal02``: every Conv2d, ConvTranspose2d and Linear weight drawn from N(0, 0.02) and every bias set
  to 0; BatchNorm layers keep PyTorch's defaults. This is the reference code's ``initialize_weights`` of
  its 28x28 networks. A spectrally normalised layer gets its unnormalised weight initialised this way.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

SCHEMES = ("default", "normal02")
_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def _init_weight(module: nn.Module, generator: torch.Generator | None) -> None:
    """N(0, 0.02) into the trainable weight: the original one under a parametrisation (spectral norm), whose
    power-iteration vectors are then re-estimated for the new weight as at the layer's creation."""
    if not parametrize.is_parametrized(module, "weight"):
        module.weight.normal_(0.0, 0.02, generator=generator)
        return
    weight = module.parametrizations.weight.original
    weight.normal_(0.0, 0.02, generator=generator)
    for p in module.parametrizations.weight:
        if hasattr(p, "_power_method") and hasattr(p, "_reshape_weight_to_matrix"):
            p._power_method(p._reshape_weight_to_matrix(weight), 15)


@torch.no_grad()
def init_weights(net: nn.Module, scheme: str, generator: torch.Generator | None = None) -> nn.Module:
    """Initialise ``net`` in place with ``scheme`` (draws from ``generator``, else the global RNG)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown model.init '{scheme}' ({' | '.join(SCHEMES)})")
    if scheme == "default":
        return net
    for module in net.modules():
        if isinstance(module, _LAYERS):
            _init_weight(module, generator)
            if module.bias is not None:
                module.bias.zero_()
    return net
