"""Diagonal Gaussians, the one place the zoo's VAEs take them from.

- :func:`gaussian_log_prob`: element-wise log N(x; mu, exp(logvar)).
- :func:`gaussian_kl`: element-wise KL(N(mu_q, var_q) || N(mu_p, var_p)), p = N(0, I) by default
  (Kingma & Welling 2014, appendix B, for the standard normal).
- :func:`reparameterize`: z = mu + exp(logvar / 2) * eps, eps ~ N(0, I).
- :func:`kl_weight_at`: the KL weight ("beta") of an epoch: constant, linear warm-up, cyclical
  (Fu et al. 2019).

Everything element-wise: the caller sums over the axes its model defines. Log-densities and KL
are computed in float32 outside autocast (DESIGN.md, mixed precision).
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2.0 * math.pi)
LOGVAR_MIN, LOGVAR_MAX = -20.0, 3.0  # the clamp of learned log-variances (HG-VAE reference)
KL_SCHEDULES = ("constant", "linear", "cyclical")


def gaussian_log_prob(x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Element-wise log N(x; mu, exp(logvar)), in float32 (outside autocast)."""
    with torch.autocast(x.device.type, enabled=False):
        x, mu, logvar = x.float(), mu.float(), logvar.float()
        return -0.5 * (LOG_2PI + logvar + (x - mu).square() * torch.exp(-logvar))


def gaussian_kl(
    mu_q: torch.Tensor,
    logvar_q: torch.Tensor,
    mu_p: torch.Tensor | None = None,
    logvar_p: torch.Tensor | None = None,
) -> torch.Tensor:
    """Element-wise KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p))) in float32; p defaults
    to N(0, 1) and broadcasts against q."""
    with torch.autocast(mu_q.device.type, enabled=False):
        mu_q, logvar_q = mu_q.float(), logvar_q.float()
        if mu_p is None and logvar_p is None:
            return 0.5 * (logvar_q.exp() + mu_q.square() - logvar_q - 1.0)
        mu_p = torch.zeros_like(mu_q) if mu_p is None else mu_p.float()
        logvar_p = torch.zeros_like(logvar_q) if logvar_p is None else logvar_p.float()
        return (
            0.5
            * (
                logvar_p
                - logvar_q
                + (logvar_q.exp() + (mu_q - mu_p).square()) * torch.exp(-logvar_p)
            )
            - 0.5
        )


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """A sample of N(mu, exp(logvar)) differentiable in mu and logvar."""
    return mu + torch.randn_like(mu) * (0.5 * logvar).exp()


def kl_weight_at(
    epoch: int,
    weight: float,
    schedule: str = "constant",
    *,
    start: float = 0.0,
    delay_epochs: int = 0,
    warmup_epochs: int = 0,
    cycle_epochs: int = 40,
    cycle_ratio: float = 0.5,
) -> float:
    """KL weight at ``epoch`` (0-based).

    ``constant``: ``weight``. ``linear``: ``start`` for ``delay_epochs``, then linearly to
    ``weight`` over ``warmup_epochs`` (HG-VAE: 1e-3 -> 1 over 200 epochs; HPE3D
    ``beta_annealing``: 0 for 10 epochs, then 40). ``cyclical`` (HPE3D ``beta_cycling``): restarts
    at ``start`` every ``cycle_epochs`` and reaches ``weight`` after ``cycle_ratio`` of a cycle.
    """
    if schedule == "constant":
        return weight
    if schedule == "linear":
        elapsed = epoch - delay_epochs
        progress = elapsed / warmup_epochs if warmup_epochs > 0 else float(elapsed >= 0)
    elif schedule == "cyclical":
        progress = (epoch % cycle_epochs) / cycle_epochs / cycle_ratio
    else:
        raise ValueError(f"KL schedule {schedule!r}; expected one of {KL_SCHEDULES}")
    return start + (weight - start) * min(1.0, max(0.0, progress))
