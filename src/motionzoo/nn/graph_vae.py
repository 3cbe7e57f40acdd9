"""Layers of the hierarchical graph-convolutional VAE (HG-VAE, Bourached et al., eq. 4-5).

Graphs here have no fixed adjacency: a GCL mixes nodes with a learnable dense (possibly
rectangular) matrix S, so one layer can also change the number of nodes.

- :class:`GraphConvLayer` (GCL, eq. 4): ``A (B, N_in, F_in) -> act(S A W + b) (B, N_out, F_out)``;
  S may instead be a fixed node map (e.g. the body-part pooling of HM-VAE, :func:`part_pooling`).
  b is per node and feature (DESIGN.md) or, with ``node_bias=False``, per feature (the reference's
  ``GraphConvolution``).
- :class:`GraphConvBlock` (GCB, eq. 5): two GELU GCLs with dropout and a ReZero residual,
  ``A + alpha * GELU(S2 GELU(S1 A W1 + b1) W2 + b2)``, alpha initialised to 0 so a block starts
  as the identity (ReZero, Bachlechner et al.; as ``GC_Block`` of bouracha/generative_imputation).
  DESIGN.md writes the scalar on the other term; we follow ReZero and the reference code.
- :class:`GraphGaussianHead`: two linear GCLs giving mean and log-variance, clamped to [-20, 3].
- :func:`part_pooling`: the fixed body-part node map of HM-VAE.

Layout: every layer computes on node-major activations (N, B, F) in ``node_major``, where both
products of ``S A W`` are single matrix products (S on the (N, B F) view, W on the (N B, F)
view, forward and backward) instead of B small products with S broadcast over the batch;
``forward`` takes and returns the zoo's batch-first (B, N, F) (transposed views). A model
stacking the layers (HG-VAE) keeps its activations node-major between them.

Gaussian densities and KL: :mod:`motionzoo.nn.distributions`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from motionzoo.nn.distributions import LOGVAR_MAX, LOGVAR_MIN


class ReZero(nn.Module):
    """``alpha * x`` with one learnable scalar alpha initialised to 0."""

    def __init__(self):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.alpha * x

    def residual(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x + alpha * y`` in one pass (``addcmul``), the way every ReZero gate is used."""
        return torch.addcmul(x, self.alpha, y)


class NodeMajor(nn.Module):
    """A layer computing on node-major (N, B, F) in ``node_major``; ``forward`` is the same map
    on batch-first (B, N, F), returning (tuples of) batch-first views."""

    def forward(self, x: torch.Tensor, *args, **kwargs):
        out = self.node_major(x.transpose(0, 1), *args, **kwargs)
        if isinstance(out, tuple):
            return tuple(None if y is None else y.transpose(0, 1) for y in out)
        return out.transpose(0, 1)


class GraphConvLayer(NodeMajor):
    """GCL (eq. 4): (B, N_in, F_in) -> (B, N_out, F_out), ``act(S A W + b)``.

    S (N_out, N_in), W (F_in, F_out), b (N_out, F_out) (``node_bias=False``: (F_out,), the
    reference's) are all learned, initialised U(-1/sqrt(F_out), 1/sqrt(F_out)) as the reference.
    ``activation=False`` gives the linear map. ``node_map`` (N_out, N_in) replaces the learned S
    by a fixed (non-persistent) buffer.
    """

    def __init__(
        self,
        in_nodes: int,
        out_nodes: int,
        in_features: int,
        out_features: int,
        activation: bool = True,
        node_map: torch.Tensor | None = None,
        node_bias: bool = True,
    ):
        super().__init__()
        bound = 1.0 / math.sqrt(out_features)
        if node_map is None:
            self.S = nn.Parameter(torch.empty(out_nodes, in_nodes).uniform_(-bound, bound))
        elif node_map.shape != (out_nodes, in_nodes):
            raise ValueError(
                f"GraphConvLayer: node_map must be (out_nodes, in_nodes) = "
                f"({out_nodes}, {in_nodes}), got {tuple(node_map.shape)}"
            )
        else:
            self.register_buffer("S", node_map.detach().clone().float(), persistent=False)
        self.W = nn.Parameter(torch.empty(in_features, out_features).uniform_(-bound, bound))
        bias_shape = (out_nodes, out_features) if node_bias else (out_features,)
        self.b = nn.Parameter(torch.empty(bias_shape).uniform_(-bound, bound))
        self.activation = nn.GELU() if activation else nn.Identity()
        # S A W in the cheaper order: (S A) W when the layer shrinks the nodes more than the
        # features (multiply-adds per sample: N_out N_in F_in + N_out F_in F_out vs
        # N_in F_in F_out + N_out N_in F_out), e.g. the encoder's 54 -> 24 node reductions.
        self.nodes_first = out_nodes * in_features * (in_nodes + out_features) < (
            in_nodes * out_features * (in_features + out_nodes)
        )

    def node_major(self, x: torch.Tensor) -> torch.Tensor:
        """(N_in, B, F_in) -> (N_out, B, F_out)."""
        n, b, f = x.shape
        bias = self.b if self.b.dim() == 1 else self.b[:, None]  # (N_out, 1, F_out) per node
        if self.nodes_first:
            y = (self.S @ x.reshape(n, b * f)).view(-1, b, f) @ self.W
        else:
            y = (self.S @ (x @ self.W).view(n, -1)).view(-1, b, self.W.shape[1])
        return self.activation(y + bias)


class GraphConvBlock(NodeMajor):
    """GCB (eq. 5): (B, N, F) -> (B, N, F), two GCLs with GELU and dropout, ReZero residual."""

    def __init__(self, nodes: int, features: int, dropout: float = 0.0, node_bias: bool = True):
        super().__init__()
        gcl = dict(in_nodes=nodes, out_nodes=nodes, in_features=features, out_features=features)
        self.layers = nn.Sequential(
            GraphConvLayer(**gcl, node_bias=node_bias),
            nn.Dropout(dropout),
            GraphConvLayer(**gcl, node_bias=node_bias),
            nn.Dropout(dropout),
        )
        self.rezero = ReZero()

    def node_major(self, x: torch.Tensor) -> torch.Tensor:
        """(N, B, F) -> (N, B, F)."""
        y = x
        for layer in self.layers:
            y = layer.node_major(y) if isinstance(layer, GraphConvLayer) else layer(y)
        return self.rezero.residual(x, y)


class GraphGaussianHead(NodeMajor):
    """(B, N_in, F_in) -> (mu, logvar), each (B, N_out, F_out); logvar clamped to [-20, 3].
    ``node_map``, ``node_bias``: as :class:`GraphConvLayer`, for both."""

    def __init__(
        self,
        in_nodes: int,
        out_nodes: int,
        in_features: int,
        out_features: int,
        node_map: torch.Tensor | None = None,
        node_bias: bool = True,
    ):
        super().__init__()
        gcl = (in_nodes, out_nodes, in_features, out_features, False, node_map, node_bias)
        self.mean = GraphConvLayer(*gcl)
        self.logvar = GraphConvLayer(*gcl)

    def node_major(
        self, x: torch.Tensor, logvar: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(N_in, B, F_in) -> (mu, logvar), each (N_out, B, F_out); ``logvar=False`` skips the
        log-variance layer and returns None for it (posterior means only: imputation, log
        posterior, reconstruction)."""
        mu = self.mean.node_major(x)
        if not logvar:
            return mu, None
        return mu, self.logvar.node_major(x).clamp(LOGVAR_MIN, LOGVAR_MAX)


def part_pooling(groups: tuple[tuple[int, ...], ...], num_joints: int) -> torch.Tensor:
    """(3 P, 3 J) node map averaging the joints of each of the P ``groups`` per coordinate, for
    nodes ordered (joint, coordinate) as ``b t j c -> b (j c) t``; its transpose scaled to 0/1
    (``(pool > 0).float().T``) copies each part back to its joints."""
    joints = sorted(j for group in groups for j in group)
    if joints != list(range(num_joints)):
        raise ValueError(
            f"part groups {groups} must cover each of the {num_joints} joints exactly once"
        )
    pool = torch.zeros(len(groups), num_joints)
    for p, group in enumerate(groups):
        pool[p, list(group)] = 1.0 / len(group)
    return torch.kron(pool, torch.eye(3))
