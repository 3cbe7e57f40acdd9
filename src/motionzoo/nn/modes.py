"""Run a module in eval mode (and without gradients) and restore its mode afterwards, also when
the body raises: the one idiom behind every model's inference verbs (``encode``, ``generate``,
``reconstruct``, ``lift`` ...) and the picture callbacks."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch
from torch import nn

F = TypeVar("F", bound=Callable)


@contextlib.contextmanager
def eval_mode(module: nn.Module, no_grad: bool = True) -> Iterator[nn.Module]:
    """``with eval_mode(model): ...``: the model in eval mode (BatchNorm running statistics,
    no dropout), without autograd unless ``no_grad=False``; its train/eval mode is restored."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            yield module
    finally:
        module.train(was_training)


def evaluating(method: F) -> F:
    """Decorator of a module method: run it inside :func:`eval_mode` of its module."""

    @functools.wraps(method)
    def wrapper(self: nn.Module, *args, **kwargs):
        with eval_mode(self):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
