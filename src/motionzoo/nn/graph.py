"""Graph convolutions over a skeleton, pluggable by name: ``vanilla`` (Kipf & Welling),
``semantic`` (SemGConv, Zhao et al. 2019), ``preagg`` / ``postagg`` / ``convstyle`` /
``nosharing`` (the weight-sharing study of Liu et al., ECCV 2020) and ``modulated`` (Zou & Tang,
ICCV 2021), the ``--gcn`` choices of the public GraphSH port.

Every layer maps node features x: (J, B, C_in) -> (J, B, C_out) over a fixed graph given as a
dense (J, J) adjacency Â (the zoo's ``Skeleton.adjacency()``: D^-1 (A + I), SemGCN's). Features
are node-major (the networks transpose their (B, J, 2) input once): the per-node weights of
PreAggr are then one batched matmul and every aggregation one (J, J) @ (J, B*C) matmul, with no
copies.

- ``vanilla``: out = Â X W + b (one weight shared by every node and edge).
- ``semantic``: Â is replaced by softmax_j(M_ij) with M_ij = e_ij learnable on the edges and
  self-loops of the graph (init 1) and -inf elsewhere, so each row sums to 1 over the neighbours.
- ``preagg``: each node transforms its own features with its own weight before the aggregation,
  h_j = x_j W_j, out_i = sum_j Â_ij h_j + b.
- ``postagg``: each node transforms the aggregate with its own weight, out_i = (sum_j Â_ij x_j) W_i
  + b.
- ``convstyle``: one weight for the self-connection, one for the neighbours of higher index and
  one for those of lower index (children / parent on a parents-first skeleton), as a 1D
  convolution has one per kernel offset.
- ``nosharing``: a weight per ordered pair of nodes, out_i = sum_j Â_ji x_j W_ji + b.
- ``modulated``: decoupled vanilla with a learnt per-node channel scale M (J, C_out) and a learnt
  dense adjacency offset Q (J, J): Â' = ((Â + Q) + (Â + Q)^T) / 2, h = M ⊙ (X W).

``decouple`` (Liu et al.'s "decoupled self-connection") splits Â into its diagonal and its
off-diagonal part with separate weights: out = diag(Â) ⊙ (X W0) + (Â - diag(Â)) (X W1) + b.
SemGCN's layer is decoupled by construction; Liu et al.'s best pre-aggregation is decoupled;
the GraphSH paper's vanilla row (0.22M parameters) is the plain, coupled Kipf layer. Those are the
defaults (``decouple=None``); ``convstyle`` and ``nosharing`` have no coupled form.

Initialisation is the public code's (SemGCN, Liu et al., the GraphSH port): weights from
``xavier_uniform_(gain=1.414)`` applied to the stacked weight tensor (K, C_in, C_out) or
(K, J, C_in, C_out), K = 2 when decoupled, whose fans include the stacking dims (so PreAggr's
weights start much smaller than a per-matrix Glorot init would make them); bias
U(+-1/sqrt(C_out)). It matters for a network's last graph conv (no BatchNorm after it): with a
per-matrix Glorot init SeqRes starts with outputs of metres and trained markedly worse.

``GraphConvBNReLUDropout`` is the GConv unit the networks stack: graph conv -> BatchNorm -> ReLU
-> Dropout (its fused CPU kernel lives in ``motionzoo.nn.kernels``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from motionzoo.nn.kernels import batch_norm_relu_dropout


class GraphConv(nn.Module):
    """Base of the graph convolutions: a fixed adjacency, one weight (two when decoupled), a
    bias.

    Subclasses set ``decouple_default``, create their weights with ``_weights(*shape)``,
    implement ``transform`` (features times a weight) and may override ``weights_adjacency``
    (the Â used to aggregate).

    Args:
        in_features, out_features: channels C_in, C_out.
        adjacency: (J, J) dense adjacency Â, self-loops included.
        decouple: separate self / neighbour weights; ``None`` takes the layer's default.
        bias: add a learnable bias (C_out,).
    """

    decouple_default = False
    #: whether ``decouple`` applies (False: the layer has its own split of Â)
    has_decouple = True
    #: whether ``weights_adjacency`` is learnt (split anew at each call) or the fixed Â
    learnt_adjacency = False
    #: names of the stacked weights; ``None``: ``weight`` (+ ``neighbour_weight`` if decoupled)
    weight_names: tuple[str, ...] | None = None

    def __init__(
        self,
        in_features: int,
        out_features: int,
        adjacency: torch.Tensor,
        decouple: bool | None = None,
        bias: bool = True,
    ):
        super().__init__()
        if adjacency.dim() != 2 or adjacency.shape[0] != adjacency.shape[1]:
            raise ValueError(
                f"adjacency must be a square (J, J) matrix, got {tuple(adjacency.shape)}"
            )
        if decouple is not None and not self.has_decouple:
            raise ValueError(
                f"{type(self).__name__} has no coupled / decoupled choice; leave decouple=None, "
                f"got decouple={decouple}"
            )
        self.in_features, self.out_features = in_features, out_features
        self.num_nodes = adjacency.shape[0]
        self.decouple = self.decouple_default if decouple is None else decouple
        adjacency = adjacency.detach().clone().float()
        self.register_buffer("adjacency", adjacency)
        # The decoupled split of a fixed adjacency, computed once: diag(Â) and Â - diag(Â).
        self.register_buffer("self_weights", torch.diagonal(adjacency).clone(), persistent=False)
        self.register_buffer(
            "neighbour_adjacency", adjacency - torch.diag_embed(self.self_weights), persistent=False
        )
        self.bias = None
        if bias:
            bound = 1.0 / math.sqrt(out_features)
            self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    def weights_adjacency(self) -> torch.Tensor:
        """(J, J) aggregation matrix Â used by ``forward``."""
        return self.adjacency

    def decoupled_adjacency(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Â split into its diagonal (J,) and its off-diagonal part (J, J)."""
        if self.learnt_adjacency:
            return _split(self.weights_adjacency())
        return self.self_weights, self.neighbour_adjacency

    def _weights(self, *shape: int) -> None:
        """``weight`` (shared, or the self-connection's when decoupled) and, when decoupled,
        ``neighbour_weight`` (or the layer's ``weight_names``), each of ``shape``: separate
        parameters, so that backward writes each gradient directly (a stacked tensor's slices
        would cost a zero-fill and copy)."""
        names = self.weight_names or (("weight", "neighbour_weight")[: 1 + self.decouple])
        bound = _xavier_bound((len(names), *shape))
        for name in names:
            setattr(self, name, nn.Parameter(torch.empty(*shape).uniform_(-bound, bound)))

    def transform(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """x: (J, B, C_in) -> (J, B, C_out): the features times ``weight``."""
        raise NotImplementedError

    def self_term(self, x: torch.Tensor, diagonal: torch.Tensor) -> torch.Tensor:
        """Decoupled self-connection plus bias, diag(Â)_j x_j W_self + b: (J, B, C_out)."""
        h = self.transform(x, self.weight)
        scale = diagonal[:, None, None]
        return scale * h if self.bias is None else torch.addcmul(self.bias, scale, h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (J, B, C_in) node-major -> (J, B, C_out)."""
        if not self.decouple:
            out = _aggregate(self.weights_adjacency(), self.transform(x, self.weight))
            return out if self.bias is None else out + self.bias
        diagonal, off_diagonal = self.decoupled_adjacency()
        neighbours = self.transform(x, self.neighbour_weight)
        # self term + off-diagonal aggregation in one addmm over (J, B*C).
        out = torch.addmm(
            self.self_term(x, diagonal).flatten(1), off_diagonal, neighbours.flatten(1)
        )
        return out.view_as(neighbours)

    def extra_repr(self) -> str:
        return (
            f"{self.in_features} -> {self.out_features}, nodes={self.num_nodes}, "
            f"decouple={self.decouple}, bias={self.bias is not None}"
        )


def _xavier_bound(shape: tuple[int, ...]) -> float:
    """The public code's xavier_uniform_(gain=1.414) bound for a weight of ``shape`` (stacked
    (K, ...)): torch's fans of a (d0, d1, ...) tensor are d1 * rest and d0 * rest."""
    rest = math.prod(shape[2:])
    return 1.414 * math.sqrt(6.0 / (shape[1] * rest + shape[0] * rest))


def _split(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A learnt (J, J) aggregation matrix split into its diagonal (J,) and the rest."""
    diagonal = torch.diagonal(a)
    return diagonal, a - torch.diag_embed(diagonal)


def _aggregate(a: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """sum_j a_ij h_j: (J, J) x (J, B, C) -> (J, B, C) as one (J, J) @ (J, B*C) matmul."""
    return torch.mm(a, h.flatten(1)).view(a.shape[0], *h.shape[1:])


class VanillaGraphConv(GraphConv):
    """Kipf & Welling: out = Â X W + b, one weight W (C_in, C_out) (decoupled: W0 self, W1
    neighbours)."""

    def __init__(self, in_features, out_features, adjacency, decouple=None, bias=True):
        super().__init__(in_features, out_features, adjacency, decouple, bias)
        self._weights(in_features, out_features)

    def transform(self, x, weight):
        return torch.matmul(x, weight)


class SemGraphConv(VanillaGraphConv):
    """SemGConv (Zhao et al., CVPR 2019, eq. 3): the vanilla transform with a learnable edge
    weighting, Â -> softmax over each node's neighbours (self included) of e_ij, e init 1.
    Decoupled by default, as SemGCN."""

    decouple_default = True
    learnt_adjacency = True

    def __init__(self, in_features, out_features, adjacency, decouple=None, bias=True):
        super().__init__(in_features, out_features, adjacency, decouple, bias)
        mask = self.adjacency > 0
        self.register_buffer("mask", mask)
        self.edge_weight = nn.Parameter(torch.ones(int(mask.sum())))

    def weights_adjacency(self):
        logits = torch.full_like(self.adjacency, float("-inf"))
        logits = logits.masked_scatter(self.mask, self.edge_weight.to(logits.dtype))
        return torch.softmax(logits, dim=1)


class ModulatedGraphConv(VanillaGraphConv):
    """Modulated GCN (Zou & Tang, ICCV 2021): decoupled vanilla weights, each node's output
    channels scaled by its own M_j (J, C_out, init 1), and a learnt offset Q (J, J, init 1e-6,
    every pair, edges or not) to the adjacency, symmetrised: Â' = (Â + Q + (Â + Q)^T) / 2."""

    decouple_default = True
    learnt_adjacency = True

    def __init__(self, in_features, out_features, adjacency, decouple=None, bias=True):
        super().__init__(in_features, out_features, adjacency, decouple, bias)
        self.weight_modulation = nn.Parameter(torch.ones(self.num_nodes, out_features))
        self.affinity_modulation = nn.Parameter(torch.full_like(self.adjacency, 1e-6))

    def transform(self, x, weight):
        return self.weight_modulation[:, None, :] * torch.matmul(x, weight)

    def weights_adjacency(self):
        a = self.adjacency + self.affinity_modulation
        return (a + a.T) / 2


class ConvStyleGraphConv(VanillaGraphConv):
    """Convolution-style (Liu et al., ECCV 2020): like a 1D kernel's offsets, one weight for the
    self-connection, one for the neighbours of higher index (upper triangle of Â) and one for
    those of lower index, out = diag(Â) ⊙ X W + triu(Â) X W_upper + tril(Â) X W_lower + b."""

    has_decouple = False
    weight_names = ("weight", "upper_weight", "lower_weight")

    def __init__(self, in_features, out_features, adjacency, decouple=None, bias=True):
        super().__init__(in_features, out_features, adjacency, decouple, bias)
        upper, lower = torch.triu(self.adjacency, 1), torch.tril(self.adjacency, -1)
        self.register_buffer("upper_adjacency", upper, persistent=False)
        self.register_buffer("lower_adjacency", lower, persistent=False)

    def forward(self, x):
        upper = self.transform(x, self.upper_weight).flatten(1)
        lower = self.transform(x, self.lower_weight).flatten(1)
        out = torch.addmm(
            self.self_term(x, self.self_weights).flatten(1), self.upper_adjacency, upper
        )
        out = torch.addmm(out, self.lower_adjacency, lower)
        return out.view(x.shape[0], x.shape[1], -1)


class PreAggGraphConv(GraphConv):
    """Pre-aggregation (Liu et al., ECCV 2020): node j transforms its own features with its own
    weight W_j (C_in, C_out) before the aggregation, out_i = sum_j Â_ij x_j W_j + b.
    Decoupled by default (Liu et al.'s best and GraphSH's PreAggr rows)."""

    decouple_default = True

    def __init__(self, in_features, out_features, adjacency, decouple=None, bias=True):
        super().__init__(in_features, out_features, adjacency, decouple, bias)
        self._weights(self.num_nodes, in_features, out_features)

    def transform(self, x, weight):
        # One batched matmul over nodes: (J, B, C_in) @ (J, C_in, C_out).
        return torch.bmm(x, weight)

    def self_term(self, x, diagonal):
        # Scale the (J, C_in, C_out) weights rather than the (J, B, C_out) features, and add
        # the bias inside the batched matmul.
        weight = diagonal[:, None, None] * self.weight
        if self.bias is None:
            return torch.bmm(x, weight)
        return torch.baddbmm(self.bias.expand(*x.shape[:2], -1), x, weight)


class PostAggGraphConv(PreAggGraphConv):
    """Post-aggregation (Liu et al., ECCV 2020): node i transforms the aggregate of its
    neighbourhood with its own weight, out_i = (sum_j Â_ij x_j) W_i + b (decoupled:
    Â_ii x_i W_i + (sum_{j != i} Â_ij x_j) W'_i + b). Decoupled by default, as ``preagg``."""

    def forward(self, x):
        if not self.decouple:
            out = self.transform(_aggregate(self.weights_adjacency(), x), self.weight)
            return out if self.bias is None else out + self.bias
        diagonal, off_diagonal = self.decoupled_adjacency()
        neighbours = _aggregate(off_diagonal, x)
        return torch.baddbmm(self.self_term(x, diagonal), neighbours, self.neighbour_weight)


class NoSharingGraphConv(GraphConv):
    """No weight sharing (Liu et al., ECCV 2020): a weight W_ji (C_in, C_out) per ordered pair
    (source j, target i), out_i = sum_j Â_ji x_j W_ji + b, ``weight`` (J, J, C_in, C_out).

    Â enters transposed (Â_ji, source row), as in Liu et al.'s code and the GraphSH port: with
    a weight per pair that only rescales W_ji, so the layer spans the same functions."""

    has_decouple = False

    def __init__(self, in_features, out_features, adjacency, decouple=None, bias=True):
        super().__init__(in_features, out_features, adjacency, decouple, bias)
        shape = (self.num_nodes, self.num_nodes, in_features, out_features)
        bound = _xavier_bound(shape)
        self.weight = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))

    def forward(self, x):
        # One (B, J*C_in) @ (J*C_in, J*C_out) product with Â folded into the weights.
        weight = self.weights_adjacency()[:, :, None, None] * self.weight
        out = torch.einsum("jbc,jicd->ibd", x, weight)
        return out if self.bias is None else out + self.bias


GRAPH_CONVS: dict[str, type[GraphConv]] = {
    "vanilla": VanillaGraphConv,
    "semantic": SemGraphConv,
    "preagg": PreAggGraphConv,
    "postagg": PostAggGraphConv,
    "convstyle": ConvStyleGraphConv,
    "nosharing": NoSharingGraphConv,
    "modulated": ModulatedGraphConv,
}


def graph_conv(
    kind: str,
    in_features: int,
    out_features: int,
    adjacency: torch.Tensor,
    decouple: bool | None = None,
    bias: bool = True,
) -> GraphConv:
    """The graph convolution named ``kind`` (a key of ``GRAPH_CONVS``)."""
    if kind not in GRAPH_CONVS:
        raise ValueError(f"unknown graph convolution {kind!r}; choose one of {sorted(GRAPH_CONVS)}")
    return GRAPH_CONVS[kind](in_features, out_features, adjacency, decouple=decouple, bias=bias)


class GraphConvBNReLUDropout(nn.Module):
    """The GConv unit of GraphSH's hourglass and of SemGCN's residual blocks: graph conv ->
    BatchNorm over channels -> ReLU -> Dropout(p).

    x: (J, B, C_in) node-major -> (J, B, C_out). BatchNorm statistics are over nodes and batch,
    per channel (SemGCN's ``BatchNorm1d`` on (B, C, J)).

    Args:
        kind, in_features, out_features, adjacency, decouple: the graph conv (``graph_conv``).
        dropout: p, the probability of zeroing an activation in training (inverted dropout).
        fused_kernels: in training on CPU with p > 0, run BatchNorm -> ReLU -> Dropout as one
            kernel (``motionzoo.nn.kernels.batch_norm_relu_dropout``: the same computation,
            another random stream); ``False`` always runs the modules below.
    """

    def __init__(
        self,
        kind: str,
        in_features: int,
        out_features: int,
        adjacency: torch.Tensor,
        dropout: float = 0.0,
        decouple: bool | None = None,
        fused_kernels: bool = True,
    ):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.conv = graph_conv(kind, in_features, out_features, adjacency, decouple)
        self.norm = nn.BatchNorm1d(out_features)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.fused_kernels = fused_kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (J, B, C_in) node-major -> (J, B, C_out)."""
        x = self.conv(x)
        flat, p = x.flatten(0, 1), self.dropout.p  # (J * B, C): BatchNorm over nodes and batch
        if self.fused_kernels and self.training and p > 0 and x.device.type == "cpu":
            return batch_norm_relu_dropout(self.norm, flat, p).view_as(x)
        return self.dropout(self.relu(self.norm(flat))).view_as(x)

    def extra_repr(self) -> str:
        return f"fused_kernels={self.fused_kernels}"
