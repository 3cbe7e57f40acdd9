"""Hamiltonian operators on K phase-space subspaces (Khan & Storkey, "Hamiltonian prior to
disentangle content and motion in image sequences", section 3; the HALO code's ``DynamicalModel``).

Each action k owns a phase space of dimension 2d, a state ``s = [q; p]`` (position, momentum,
d each). Its linear Hamiltonian dynamics is ``ds/dt = H_k s`` with a Hamiltonian matrix
``H_k = J M_k`` (``J = [[0, I], [-I, 0]]``, ``M_k`` symmetric: the quadratic energy
``E(s) = s^T M_k s / 2``), so the flow ``exp(t H_k)`` is a symplectic map,
``exp(t H_k)^T J exp(t H_k) = J``, and ``s_{t+n} = exp(n H_k) s_t`` for any integer n, forward
(n > 0) or backward (n < 0) in time.

Variants (``variant``):

- ``"H"``: M_k any symmetric 2d x 2d matrix (the symplectic group's generator).
- ``"skew"`` (the paper's skew-H): ``H_k = [[0, A_k], [-A_k, 0]]`` with A_k symmetric d x d, i.e.
  ``M_k = diag(A_k, A_k)``: H_k is both Hamiltonian and skew-symmetric, so ``exp(t H_k)`` is
  symplectic AND orthogonal (it preserves the norm of the state).

All exponentials ``exp(n H_k)`` for every k and every step n come from ONE
``torch.linalg.matrix_exp`` call on a (K * steps, 2d, 2d) batch, in float32 even under autocast
(the reference uses a 10-term Taylor series whose identity has the wrong size; ours is exact to
round-off). :meth:`HamiltonianOperator.rollout` exponentiates the steps n = 0..max|t - t_ref| in
that one call, gets the backward flows as symplectic inverses ``exp(-n H) = -J exp(n H)^T J``
(two products with J instead of as many more exponentials), applies them to every sample in one
einsum and gathers each sample's T states: no loop over subspaces or time steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from einops import rearrange
from torch import nn


def symplectic_form(d: int, dtype=torch.float32, device=None) -> torch.Tensor:
    """The canonical symplectic matrix ``J = [[0, I_d], [-I_d, 0]]`` (2d, 2d)."""
    eye = torch.eye(d, dtype=dtype, device=device)
    zero = torch.zeros(d, d, dtype=dtype, device=device)
    return torch.cat([torch.cat([zero, eye], 1), torch.cat([-eye, zero], 1)], 0)


class HamiltonianOperator(nn.Module):
    """K linear Hamiltonian flows on phase spaces of dimension ``phase_dim`` = 2d.

    Args:
        num_subspaces: K, one operator per action.
        phase_dim: 2d, the dimension of one subspace's state [q; p] (even).
        variant: ``"H"`` (H_k = J M_k, M_k symmetric 2d x 2d) or ``"skew"`` (H_k = [[0, A_k],
            [-A_k, 0]], A_k symmetric d x d; symplectic and orthogonal).

    The free parameters ``weight`` (K, 2d, 2d) or (K, d, d) are symmetrised,
    ``M = (W + W^T) / 2``, and initialised as the reference: ``orthogonal_`` with gain sqrt(2) on
    the (K, ...) tensor, i.e. K orthogonal rows of the flattened matrices, each of Frobenius norm
    sqrt(2) (a slow flow at the start of training).
    """

    def __init__(
        self,
        num_subspaces: int = 3,
        phase_dim: int = 24,
        variant: Literal["H", "skew"] = "H",
    ):
        super().__init__()
        if phase_dim < 2 or phase_dim % 2:
            raise ValueError(f"phase_dim {phase_dim}: expected an even 2d >= 2 (q and p halves)")
        if variant not in ("H", "skew"):
            raise ValueError(f"variant {variant!r}: expected 'H' or 'skew'")
        if num_subspaces < 1:
            raise ValueError(f"num_subspaces {num_subspaces}: expected at least one")
        self.num_subspaces, self.phase_dim, self.variant = num_subspaces, phase_dim, variant
        d = phase_dim // 2
        side = phase_dim if variant == "H" else d
        self.weight = nn.Parameter(torch.empty(num_subspaces, side, side))
        nn.init.orthogonal_(self.weight, gain=math.sqrt(2))
        self.register_buffer("J", symplectic_form(d), persistent=False)

    def generators(self) -> torch.Tensor:
        """The Hamiltonian matrices H_k (K, 2d, 2d), float32."""
        w = self.weight.float()
        sym = 0.5 * (w + w.transpose(-1, -2))
        if self.variant == "H":
            return self.J.float() @ sym
        zero = torch.zeros_like(sym)
        return torch.cat([torch.cat([zero, sym], -1), torch.cat([-sym, zero], -1)], -2)

    def exponentials(self, steps: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """``exp(n H_k)`` for every subspace k and every integer n in ``steps`` (S,) (negative n:
        backward in time): (K, S, 2d, 2d) float32, from one batched ``matrix_exp``."""
        steps = torch.as_tensor(steps, device=self.weight.device)
        if steps.ndim != 1:
            raise ValueError(
                f"steps: expected a 1D list of integers; got shape {tuple(steps.shape)}"
            )
        with torch.autocast(device_type=self.weight.device.type, enabled=False):
            h = self.generators()
            scaled = h[:, None] * steps.float()[None, :, None, None]  # (K, S, 2d, 2d)
            flat = torch.linalg.matrix_exp(rearrange(scaled, "k s i j -> (k s) i j"))
        return rearrange(flat, "(k s) i j -> k s i j", k=self.num_subspaces)

    def rollout(self, s_ref: torch.Tensor, t_ref: torch.Tensor, length: int) -> torch.Tensor:
        """States at times 0..length-1 from the state ``s_ref`` at time ``t_ref``.

        ``s_t = exp((t - t_ref) H_k) s_ref`` in every subspace k: forward for t > t_ref, backward
        for t < t_ref, ``s_ref`` itself at t = t_ref.

        Args:
            s_ref: (B, K, 2d), or (B, K * 2d) with the subspaces concatenated.
            t_ref: (B,) long, the reference time of each sample (any integer; 0..length-1 in
                training).
            length: T, the number of time steps returned.
        Returns:
            (B, T, K, 2d), or (B, T, K * 2d) for a flat ``s_ref``; float32.
        """
        flat = s_ref.ndim == 2
        k, n = self.num_subspaces, self.phase_dim
        if flat:
            if s_ref.shape[-1] != k * n:
                raise ValueError(
                    f"s_ref {tuple(s_ref.shape)}: expected (B, {k * n}) = (B, K * 2d) or "
                    f"(B, {k}, {n})"
                )
            s_ref = rearrange(s_ref, "b (k n) -> b k n", k=k)
        if s_ref.ndim != 3 or s_ref.shape[1:] != (k, n):
            raise ValueError(f"s_ref {tuple(s_ref.shape)}: expected (B, {k}, {n}) or (B, {k * n})")
        t_ref = torch.as_tensor(t_ref, device=s_ref.device).long().reshape(-1)
        if t_ref.shape[0] != s_ref.shape[0]:
            raise ValueError(f"t_ref has {t_ref.shape[0]} entries for {s_ref.shape[0]} samples")
        # offsets t - t_ref span [lo, hi]; exp(n H) for n = 0..max|n| from one matrix_exp, and
        # the backward flows exp(-n H) = exp(n H)^-1 = -J exp(n H)^T J (symplectic inverse)
        lo = int(-t_ref.max())
        hi = int(length - 1 - t_ref.min())
        m = max(abs(lo), abs(hi))
        forward = self.exponentials(torch.arange(m + 1, device=s_ref.device))  # (K, m+1, ...)
        j = self.J.float()
        backward = -j @ forward[:, 1:].flip(1).transpose(-1, -2) @ j  # n = -m..-1
        expo = torch.cat([backward, forward], 1)[:, lo + m : hi + m + 1]  # (K, S, 2d, 2d)
        offset = torch.arange(length, device=s_ref.device)[None] - t_ref[:, None] - lo  # (B, T)
        with torch.autocast(device_type=s_ref.device.type, enabled=False):
            # every sample's state at every offset (B, S, K, 2d), then each sample's T of them:
            # gathering vectors is cheaper than gathering (B, T) matrices
            states = torch.einsum("ksij,bkj->bski", expo, s_ref.float())
            out = states[torch.arange(len(states), device=s_ref.device)[:, None], offset]
        return rearrange(out, "b t k n -> b t (k n)") if flat else out
