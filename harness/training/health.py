"""What the loss guard cannot see: an optimizer whose state overflowed, and a network whose weights stop changing
although its optimizer keeps stepping (an overflowed second moment makes every Adam update zero; so do gradients
that vanish for a whole network, once the momentum has died out). Either way the run trains nothing while every
loss stays finite, and would end as a normal result.

:meth:`Health.check` runs at the loop's sync points (every log, evaluation and checkpoint); every rank computes the
same answer on its identical copy and :class:`harness.training.guard.StepGuard` agrees it across ranks in the
all-reduce it already makes.
"""

from __future__ import annotations

from typing import Any

import torch

# Adam's state tensors that an overflow reaches first (exp_avg_sq squares the gradients)
STATE_KEYS = ("exp_avg_sq", "exp_avg")


def optimizer_state_problem(opts: dict[str, torch.optim.Optimizer]) -> str | None:
    """``"<net> (<key>)"`` of the first optimizer whose state holds a NaN or infinity, or None (one host sync)."""
    for name, opt in opts.items():
        for key in STATE_KEYS:
            tensors = [s[key] for s in opt.state.values() if isinstance(s.get(key), torch.Tensor)]
            if tensors and not bool(torch.stack(torch._foreach_norm(tensors)).isfinite().all()):
                return f"{name} ({key})"
    return None


def _steps(opt: torch.optim.Optimizer) -> float:
    """How many updates the optimizer has made (Adam's step counter, summed over its parameters)."""
    return float(sum(float(s["step"]) for s in opt.state.values() if "step" in s))


class Health:
    """The state of a method's networks and optimizers between two checks."""

    def __init__(self, method: Any):
        self.method = method
        self.last: dict[str, tuple[torch.Tensor, float, int]] = {}  # net -> (weight norms, optimizer steps, step)

    def check(self, step: int) -> tuple[int, str]:
        """``(0, "")`` when healthy, else ``(code, message)``: 1 an optimizer state that is not finite, 2 a network
        whose weights did not change since the last check though its optimizer stepped."""
        opts = self.method.optimizers()
        bad = optimizer_state_problem(opts)
        if bad is not None:
            return 1, (
                f"the optimizer state of {bad} became NaN or infinite by step {step}: the updates it makes are zero or"
                " NaN, so the run would train nothing (a loss weight or learning rate too large for the precision);"
                " no checkpoint written. Lower it, or check the data"
            )
        nets = self.method.networks()
        for name, opt in opts.items():
            params = [p.detach() for p in nets[name].parameters()] if name in nets else []
            if not params:
                continue
            norms, steps = torch.stack(torch._foreach_norm(params)).double(), _steps(opt)
            before = self.last.get(name)
            self.last[name] = (norms, steps, step)
            if before is not None and steps > before[1] and torch.equal(norms, before[0]):
                return 2, (
                    f"the weights of {name} have not changed from step {before[2]} to step {step} though its optimizer"
                    f" stepped {steps - before[1]:g} times: its updates are zero (gradients that vanish for the whole"
                    " network, or an optimizer state that overflowed); the run would train nothing"
                )
        return 0, ""
