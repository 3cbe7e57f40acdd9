"""ResNet-18 (He et al. 2016) whose ``state_dict`` equals torchvision's ``resnet18()``.

The architecture and the parameter names follow ``torchvision/models/resnet.py``: a 7x7 stride-2
``conv1`` (no bias), ``bn1``, ReLU, 3x3 stride-2 max pool, four stages ``layer1..layer4`` of two
:class:`BasicBlock` each (64/128/256/512 channels, stride 2 from ``layer2`` on, the first block of
a strided stage with a 1x1 conv + BN ``downsample``), global average pool and ``fc``. The keys,
shapes and BatchNorm buffers (``running_mean``, ``running_var``, ``num_batches_tracked``: 122
entries with ``fc``) are those of torchvision, so weights a user saved with
``torch.save(torchvision.models.resnet18(weights=...).state_dict(), path)`` load with
:meth:`ResNet18.load_torchvision_weights` (this package never downloads them and does not need
torchvision). The initialisation is torchvision's too (Kaiming normal, fan-out, for the convs;
BN weight 1, bias 0).

``width`` scales all channel counts (64 is torchvision's; smaller widths keep the keys but not
the shapes, for small CPU models). ``num_classes=0`` drops ``fc`` (a feature extractor, as the
cross-modal VAE's image encoder, whose heads replace it); loading torchvision weights then skips
the ``fc.*`` entries of the file. Any input size works (the pool is adaptive; 64 px gives a 2x2
``layer4`` map).
"""

from __future__ import annotations

import os

import torch
from einops import rearrange
from torch import nn

STAGES = (1, 2, 4, 8)  # stage widths in units of `width` (torchvision: 64, 128, 256, 512)


class BasicBlock(nn.Module):
    """Two 3x3 convs with BN; the identity (or ``downsample`` of it) is added before the last ReLU."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    """images (B, 3, H, W) -> logits (B, num_classes); :meth:`features` -> (B, 8 * width).

    Args:
        num_classes: size of ``fc`` (1000 as torchvision); 0 builds no ``fc``.
        width: channels of ``conv1`` / ``layer1`` (64 as torchvision).
    """

    def __init__(self, num_classes: int = 1000, width: int = 64):
        super().__init__()
        self.width = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = width
        for i, factor in enumerate(STAGES, start=1):
            channels = factor * width
            stride = 1 if i == 1 else 2
            stage = nn.Sequential(
                BasicBlock(in_channels, channels, stride), BasicBlock(channels, channels)
            )
            self.add_module(f"layer{i}", stage)
            in_channels = channels
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.num_features = in_channels
        self.fc = nn.Linear(in_channels, num_classes) if num_classes else None
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) -> pooled ``layer4`` features (B, 8 * width)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return rearrange(self.avgpool(x), "b c 1 1 -> b c")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fc is None:
            raise RuntimeError("ResNet18 built with num_classes=0 has no fc; use .features(x)")
        return self.fc(self.features(x))

    def load_torchvision_weights(self, path: str | os.PathLike) -> None:
        """Load a torchvision ``resnet18`` state_dict saved with ``torch.save`` (read with
        ``weights_only=True``). A file holding ``{"state_dict": ...}`` is accepted too. Without
        ``fc`` (``num_classes=0``) the file's ``fc.*`` entries are skipped. Raises ValueError
        naming the file and the missing / unexpected keys or the mismatched shapes."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise ValueError(
                f"{path}: expected a state_dict (dict of tensors) of torchvision resnet18, "
                f"got {type(state).__name__}"
            )
        if self.fc is None:
            state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        own = self.state_dict()
        missing, unexpected = sorted(own.keys() - state.keys()), sorted(state.keys() - own.keys())
        if missing or unexpected:
            raise ValueError(
                f"{path}: not a torchvision resnet18 state_dict: {len(missing)} keys missing "
                f"(e.g. {missing[:4]}), {len(unexpected)} unexpected (e.g. {unexpected[:4]})"
            )
        wrong = [
            f"{k}: file {tuple(state[k].shape)}, model {tuple(v.shape)}"
            for k, v in own.items()
            if tuple(state[k].shape) != tuple(v.shape)
        ]
        if wrong:
            raise ValueError(
                f"{path}: {len(wrong)} shapes differ from this ResNet18 (width {self.width}; "
                f"torchvision's is 64): {wrong[:4]}"
            )
        self.load_state_dict(state)
