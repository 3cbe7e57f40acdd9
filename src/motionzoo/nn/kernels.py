"""Fused CPU kernels of the GConv layer and of skeletal pooling: the numbers of a plain PyTorch
composition in fewer passes. Layers take ``fused_kernels`` (default ``True``; ``False`` runs the
plain composition: ``nn.graph``, ``nn.hourglass``). On CUDA the GConv keeps the plain path.

- ``batch_norm_relu_dropout(norm, x, p)`` = ``nn.Dropout(p)(relu(norm(x)))`` in training, as one
  autograd node: ATen's BatchNorm kernels, then a 0/1 mask applied in place with the ReLU.
- ``dropout_keep(x, p)``: that mask, from packed random bits (2 bits an entry at p = 0.25).
- ``pair_max(x, pairs, inverse)`` = ``x[groups].amax(1)`` for groups of two joints, with a
  backward of float multiplies (ties split in halves, as amax's).

Why: on CPU, dropout's ``bernoulli_`` and amax's backward (equality masks, counts, scatter)
dominate a GraphSH step. Measured (batch 256, 1-2 threads): a GConv unit's forward + backward at
p = 0.25 and the pair pool's each run 1.8-2.3x faster; GraphSH(PreAggr) trains 1.3-1.45x faster
than with ``fused_kernels=False`` (``python -m benchmarks graphsh``).
"""

from __future__ import annotations

import functools

import torch
from torch import nn


def batch_norm_relu_dropout(norm: nn.BatchNorm1d, x: torch.Tensor, p: float) -> torch.Tensor:
    """dropout(relu(norm(x)), p) as one autograd node, x: (N, C) -> (N, C), with
    ``nn.BatchNorm1d.forward``'s running-statistics update and counter."""
    momentum = 0.0 if norm.momentum is None else norm.momentum
    if norm.training and norm.track_running_stats and norm.num_batches_tracked is not None:
        norm.num_batches_tracked.add_(1)
        if norm.momentum is None:  # cumulative moving average
            momentum = 1.0 / float(norm.num_batches_tracked)
    batch_stats = norm.training or norm.running_mean is None
    track = not norm.training or norm.track_running_stats
    weight, bias = norm.weight, norm.bias
    if not norm.affine:
        weight, bias = x.new_ones(x.shape[1]), x.new_zeros(x.shape[1])
    return _BatchNormReLUDropout.apply(
        x,
        weight,
        bias,
        norm.running_mean if track else None,
        norm.running_var if track else None,
        batch_stats,
        momentum,
        norm.eps,
        p,
    )


class _BatchNormReLUDropout(torch.autograd.Function):
    """relu(BN(x)) * m / (1 - p) = relu(BN'(x)) * m for a 0 / 1 dropout mask m, where BN' has
    the affine weight and bias scaled by 1 / (1 - p) (a positive scale commutes with the ReLU).

    The mask (``dropout_keep``, integer) is applied in place with the ReLU: no float mask is
    built, and the backward is one threshold on the output (a dropped or negative entry gives
    0), which the next layer keeps anyway, so no mask is saved. BN forward and backward are
    ATen's fused kernels; the whole unit is one autograd node instead of four.
    x: (N, C) -> (N, C).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, batch_stats, momentum, eps, p):
        scale = 1.0 / (1.0 - p)
        scaled_weight = weight * scale
        out, mean, invstd = torch.ops.aten.native_batch_norm(
            x, scaled_weight, bias * scale, running_mean, running_var, batch_stats, momentum, eps
        )
        out.mul_(dropout_keep(out, p)).relu_()
        ctx.save_for_backward(x, scaled_weight, running_mean, running_var, mean, invstd, out)
        ctx.batch_stats, ctx.eps, ctx.scale = batch_stats, eps, scale
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, scaled_weight, running_mean, running_var, mean, invstd, out = ctx.saved_tensors
        grad_x, grad_weight, grad_bias = torch.ops.aten.native_batch_norm_backward(
            torch.ops.aten.threshold_backward(grad, out, 0.0),
            x,
            scaled_weight,
            running_mean,
            running_var,
            mean,
            invstd,
            ctx.batch_stats,
            ctx.eps,
            [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]],
        )
        if grad_weight is not None:
            grad_weight = grad_weight.mul_(ctx.scale)
        if grad_bias is not None:
            grad_bias = grad_bias.mul_(ctx.scale)
        return grad_x, grad_weight, grad_bias, None, None, None, None, None, None


_INT64 = torch.iinfo(torch.int64)


def dropout_keep(x: torch.Tensor, p: float) -> torch.Tensor:
    """Dropout's keep mask for ``x``: 1 with probability 1 - p, else 0; x's shape, an integer
    dtype (uint8, or int16 on the 16-bit path).

    Each entry takes the fewest random bits that give p exactly: b = 1, 2, 4 or 8 bits when
    p 2**b is an integer (p = 0.25: 2 bits, 32 entries per 64-bit draw), otherwise 16 bits (p
    rounded to 1/65536). The bits are unpacked and thresholded in uint8 / int16 arithmetic only.
    On CPU the random draws dominate, and boolean masks (comparisons, ``masked_fill``,
    ``where``) cost ten times a float pass: this is about 5x cheaper than ``torch.rand`` and
    far cheaper than ``nn.Dropout``'s ``bernoulli_``.
    """
    bits = next((b for b in (1, 2, 4, 8) if float(p * 2**b).is_integer()), 16)
    threshold = round(p * 2**bits)  # the `threshold` lowest of the 2**bits levels are dropped
    n, per_draw = x.numel(), 64 // bits
    draws = torch.randint(
        _INT64.min, _INT64.max, (-(-n // per_draw),), dtype=torch.int64, device=x.device
    )
    if bits == 16:
        level = draws.view(torch.int16)[:n].view(x.shape)
        first_kept = threshold - 2**15  # int16 levels start at -2**15
    else:
        packed = draws.view(torch.uint8)
        if bits < 8:  # each byte holds 8 // bits levels: (8 // bits, bytes) -> flat
            packed = (packed >> _shifts(bits, x.device)).bitwise_and_(2**bits - 1).view(-1)
        level, first_kept = packed[:n].view(x.shape), threshold
    if first_kept == torch.iinfo(level.dtype).min:  # p = 0: every level is kept
        return torch.ones_like(level)
    # clamp to {first_kept - 1, first_kept}, minus (first_kept - 1): 0 dropped, 1 kept
    return level.clamp(first_kept - 1, first_kept).sub_(first_kept - 1)


@functools.cache
def _shifts(bits: int, device: torch.device) -> torch.Tensor:
    """(8 // bits, 1) uint8 bit offsets of the levels packed in a byte."""
    return torch.arange(0, 8, bits, dtype=torch.uint8, device=device)[:, None]


def pair_max(x: torch.Tensor, pairs: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """max(x[first_k], x[second_k]) for each pair k of a pairing of the nodes: x (2K, B, C)
    node-major -> (K, B, C).

    ``pairs`` is the (2K,) index [first members; second members] (a permutation of the nodes)
    and ``inverse`` its inverse permutation, so that forward and backward are one gather each.
    Without a gradient to compute (inference, tracing for export) it is plain ops.
    """
    if not (torch.is_grad_enabled() and x.requires_grad):
        k = len(pairs) // 2
        return torch.maximum(x.index_select(0, pairs[:k]), x.index_select(0, pairs[k:]))
    return _PairMax.apply(x, pairs, inverse)


class _PairMax(torch.autograd.Function):
    """``pair_max`` with a backward in float arithmetic: about 2x cheaper on CPU than
    ``amax``'s (equality masks, counts, scatter). The gradient goes to the larger member, split
    in halves at ties (as ``amax``)."""

    @staticmethod
    def forward(ctx, x, pairs, inverse):
        a, b = x.index_select(0, pairs).unflatten(0, (2, -1))
        if ctx.needs_input_grad[0]:
            # share of the first member: 1 where it is larger, 1/2 at a tie, else 0 (float
            # arithmetic: torch.heaviside is not vectorised on CPU, 10x slower)
            ctx.save_for_backward(torch.sub(a, b).sign_().add_(1.0).mul_(0.5), inverse)
        return torch.maximum(a, b)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        share, inverse = ctx.saved_tensors
        shares = grad.new_empty(2, *grad.shape)
        torch.mul(grad, share, out=shares[0])
        torch.sub(grad, shares[0], out=shares[1])
        return shares.flatten(0, 1).index_select(0, inverse), None, None
