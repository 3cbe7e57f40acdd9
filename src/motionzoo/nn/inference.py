"""Inference copies of the zoo's networks: BatchNorm folded into the layer before it, dropout
gone, learnt adjacencies computed once. What the lifters' ``lift`` runs (``models.families.
lifting``).

``inference_copy(net)`` is a copy of ``net`` that computes ``net.eval()``'s function, for use
inside ``torch.inference_mode()``:

- BatchNorm in eval mode is the per-channel affine map y = s x + t, s = gamma / sqrt(var + eps),
  t = beta - s mean. After a map linear in its weights along the output channel (``nn.Linear``,
  every graph convolution of ``motionzoo.nn.graph``) it is that map with its weights scaled by s
  per output channel and its bias b replaced by s b + t: one pass over the activations less per
  layer. Folded into each ``GraphConvBNReLUDropout`` (graph conv -> BN -> ReLU, dropout gone)
  and each ``nn.Linear`` that an ``nn.Sequential`` follows with a BatchNorm (Martinez's blocks).
  A BatchNorm without running statistics (which normalises by the batch in eval mode too)
  stays.
- A graph conv's aggregation matrix (SemGConv's softmax over its edges, the modulated layer's
  symmetrised offset) and its diagonal split are computed once for the copy, not at every call.
- Dropout is the identity (eval mode), and so is the folded GConv unit's.

The copy shares the parameters and buffers it does not change with ``net`` (no copy of the
weights) and owns the folded ones: it is built from ``net``'s current weights, so build one per
use (``lift`` does: 40-80 ms for GraphSH(PreAggr), 3.7M parameters, on a busy 2-core CPU, i.e.
a few hundred poses' worth) rather than keep it while ``net`` trains.
"""

from __future__ import annotations

import copy
import itertools

import torch
from torch import nn

from motionzoo.nn.graph import GraphConv, GraphConvBNReLUDropout


def batch_norm_affine(norm: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(s, t) with eval-mode ``norm(x) = s x + t`` per channel, or ``None`` when ``norm`` has
    no running statistics (then it normalises by the batch and is not an affine map)."""
    if norm.running_mean is None or norm.running_var is None:
        return None
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    return scale, shift if norm.bias is None else shift + norm.bias


def inference_copy(net: nn.Module) -> nn.Module:
    """A copy of ``net`` in eval mode computing ``net.eval()``'s function with BatchNorm folded,
    dropout removed and graph adjacencies computed once (module docstring). ``net`` and its
    train / eval mode are unchanged."""
    shared = {id(t): t for t in itertools.chain(net.parameters(), net.buffers())}
    frozen = copy.deepcopy(net, memo=shared).eval()
    for module in list(frozen.modules()):
        for name, child in module.named_children():
            if isinstance(child, GraphConvBNReLUDropout):
                setattr(module, name, _fold_graph_conv_unit(child))
        if isinstance(module, GraphConv) and "weights_adjacency" not in vars(module):
            _freeze_adjacency(module)
        if isinstance(module, nn.Sequential):
            _fold_linear_batch_norm(module)
    return frozen


class GraphConvReLU(nn.Module):
    """ReLU(graph conv): an eval-mode ``GraphConvBNReLUDropout`` whose BatchNorm has been folded
    into ``conv``. x: (J, B, C_in) node-major -> (J, B, C_out).

    A conv computing ``GraphConv.forward`` (vanilla, SemGConv, pre-aggregation, modulated) runs
    as out = ReLU(x_j W'_j + sum_i N_ji x_i W_i + b) with per-node weights (J, C_in, C_out)
    read off its ``transform`` (a shared weight, a per-node one, the modulated channel scale:
    all per-node linear maps), the self-connection's scaled by diag(Â) and N = Â - diag(Â)
    (coupled: W' = 0, N = Â): two batched matmuls and an aggregation accumulated in place, no
    copy of an activation. Other convs run their own forward.
    """

    def __init__(self, conv: GraphConv):
        super().__init__()
        self.conv = conv
        self.per_node = type(conv).forward is GraphConv.forward
        if not self.per_node:
            return
        nodes, c_in = conv.num_nodes, conv.in_features
        basis = torch.eye(c_in, dtype=conv.bias.dtype, device=conv.bias.device)
        basis = basis.expand(nodes, c_in, c_in)  # node j's features = the unit vectors
        if conv.decouple:
            diagonal, neighbours = conv.decoupled_adjacency()
            self_weight = diagonal[:, None, None] * conv.transform(basis, conv.weight)
            neighbour_weight = conv.transform(basis, conv.neighbour_weight)
        else:
            self_weight, neighbours = None, conv.weights_adjacency()
            neighbour_weight = conv.transform(basis, conv.weight)
        self.self_weight, self.neighbour_weight = self_weight, neighbour_weight.contiguous()
        self.neighbours, self.bias = neighbours, conv.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.per_node:
            return self.conv(x).relu_()
        h = torch.bmm(x, self.neighbour_weight)
        if self.self_weight is None:
            out = torch.mm(self.neighbours, h.flatten(1)).view_as(h)
        else:
            out = torch.bmm(x, self.self_weight)
            out.view(len(out), -1).addmm_(self.neighbours, h.view(len(h), -1))
        return out.add_(self.bias).relu_()


def _fold_graph_conv_unit(unit: GraphConvBNReLUDropout) -> nn.Module:
    affine = batch_norm_affine(unit.norm)
    if affine is None:
        return unit
    conv, (scale, shift) = unit.conv, affine
    # GraphConv.weight_names: the stacked weights, each (..., C_in, C_out); other parameters
    # (the modulated layer's channel scale, SemGConv's edge logits) are not scaled.
    for name in conv.weight_names or ("weight", "neighbour_weight")[: 1 + conv.decouple]:
        setattr(conv, name, nn.Parameter(getattr(conv, name) * scale, requires_grad=False))
    bias = shift if conv.bias is None else torch.addcmul(shift, conv.bias, scale)
    conv.bias = nn.Parameter(bias, requires_grad=False)
    _freeze_adjacency(conv)
    return GraphConvReLU(conv)


def _freeze_adjacency(conv: GraphConv) -> None:
    """``conv`` (a module of the copy only) returns its aggregation matrices as computed now."""
    adjacency, split = conv.weights_adjacency(), conv.decoupled_adjacency()
    conv.weights_adjacency = lambda: adjacency
    conv.decoupled_adjacency = lambda: split


def _fold_linear_batch_norm(sequence: nn.Sequential) -> None:
    """Each ``Linear`` directly followed by a foldable BatchNorm in ``sequence`` takes it in;
    the BatchNorm becomes the identity."""
    for i in range(len(sequence) - 1):
        linear, norm = sequence[i], sequence[i + 1]
        if not (isinstance(linear, nn.Linear) and isinstance(norm, nn.BatchNorm1d)):
            continue
        affine = batch_norm_affine(norm)
        if affine is None:
            continue
        scale, shift = affine
        # nn.Linear's weight is (C_out, C_in): scale its rows.
        linear.weight = nn.Parameter(linear.weight * scale[:, None], requires_grad=False)
        bias = shift if linear.bias is None else torch.addcmul(shift, linear.bias, scale)
        linear.bias = nn.Parameter(bias, requires_grad=False)
        sequence[i + 1] = nn.Identity()
