"""ResNet18 is torchvision's resnet18: the state_dict keys and shapes (written out below from
torchvision/models/resnet.py, as data), the parameter count, the forward pass (recomputed with
torch.nn.functional from the state_dict) and loading a saved torchvision state_dict."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from motionzoo.nn.resnet import ResNet18

# torchvision.models.resnet18().state_dict(): key, shape (empty: a scalar num_batches_tracked).
TORCHVISION_RESNET18 = """
conv1.weight 64 3 7 7
bn1.weight 64
bn1.bias 64
bn1.running_mean 64
bn1.running_var 64
bn1.num_batches_tracked
layer1.0.conv1.weight 64 64 3 3
layer1.0.bn1.weight 64
layer1.0.bn1.bias 64
layer1.0.bn1.running_mean 64
layer1.0.bn1.running_var 64
layer1.0.bn1.num_batches_tracked
layer1.0.conv2.weight 64 64 3 3
layer1.0.bn2.weight 64
layer1.0.bn2.bias 64
layer1.0.bn2.running_mean 64
layer1.0.bn2.running_var 64
layer1.0.bn2.num_batches_tracked
layer1.1.conv1.weight 64 64 3 3
layer1.1.bn1.weight 64
layer1.1.bn1.bias 64
layer1.1.bn1.running_mean 64
layer1.1.bn1.running_var 64
layer1.1.bn1.num_batches_tracked
layer1.1.conv2.weight 64 64 3 3
layer1.1.bn2.weight 64
layer1.1.bn2.bias 64
layer1.1.bn2.running_mean 64
layer1.1.bn2.running_var 64
layer1.1.bn2.num_batches_tracked
layer2.0.conv1.weight 128 64 3 3
layer2.0.bn1.weight 128
layer2.0.bn1.bias 128
layer2.0.bn1.running_mean 128
layer2.0.bn1.running_var 128
layer2.0.bn1.num_batches_tracked
layer2.0.conv2.weight 128 128 3 3
layer2.0.bn2.weight 128
layer2.0.bn2.bias 128
layer2.0.bn2.running_mean 128
layer2.0.bn2.running_var 128
layer2.0.bn2.num_batches_tracked
layer2.0.downsample.0.weight 128 64 1 1
layer2.0.downsample.1.weight 128
layer2.0.downsample.1.bias 128
layer2.0.downsample.1.running_mean 128
layer2.0.downsample.1.running_var 128
layer2.0.downsample.1.num_batches_tracked
layer2.1.conv1.weight 128 128 3 3
layer2.1.bn1.weight 128
layer2.1.bn1.bias 128
layer2.1.bn1.running_mean 128
layer2.1.bn1.running_var 128
layer2.1.bn1.num_batches_tracked
layer2.1.conv2.weight 128 128 3 3
layer2.1.bn2.weight 128
layer2.1.bn2.bias 128
layer2.1.bn2.running_mean 128
layer2.1.bn2.running_var 128
layer2.1.bn2.num_batches_tracked
layer3.0.conv1.weight 256 128 3 3
layer3.0.bn1.weight 256
layer3.0.bn1.bias 256
layer3.0.bn1.running_mean 256
layer3.0.bn1.running_var 256
layer3.0.bn1.num_batches_tracked
layer3.0.conv2.weight 256 256 3 3
layer3.0.bn2.weight 256
layer3.0.bn2.bias 256
layer3.0.bn2.running_mean 256
layer3.0.bn2.running_var 256
layer3.0.bn2.num_batches_tracked
layer3.0.downsample.0.weight 256 128 1 1
layer3.0.downsample.1.weight 256
layer3.0.downsample.1.bias 256
layer3.0.downsample.1.running_mean 256
layer3.0.downsample.1.running_var 256
layer3.0.downsample.1.num_batches_tracked
layer3.1.conv1.weight 256 256 3 3
layer3.1.bn1.weight 256
layer3.1.bn1.bias 256
layer3.1.bn1.running_mean 256
layer3.1.bn1.running_var 256
layer3.1.bn1.num_batches_tracked
layer3.1.conv2.weight 256 256 3 3
layer3.1.bn2.weight 256
layer3.1.bn2.bias 256
layer3.1.bn2.running_mean 256
layer3.1.bn2.running_var 256
layer3.1.bn2.num_batches_tracked
layer4.0.conv1.weight 512 256 3 3
layer4.0.bn1.weight 512
layer4.0.bn1.bias 512
layer4.0.bn1.running_mean 512
layer4.0.bn1.running_var 512
layer4.0.bn1.num_batches_tracked
layer4.0.conv2.weight 512 512 3 3
layer4.0.bn2.weight 512
layer4.0.bn2.bias 512
layer4.0.bn2.running_mean 512
layer4.0.bn2.running_var 512
layer4.0.bn2.num_batches_tracked
layer4.0.downsample.0.weight 512 256 1 1
layer4.0.downsample.1.weight 512
layer4.0.downsample.1.bias 512
layer4.0.downsample.1.running_mean 512
layer4.0.downsample.1.running_var 512
layer4.0.downsample.1.num_batches_tracked
layer4.1.conv1.weight 512 512 3 3
layer4.1.bn1.weight 512
layer4.1.bn1.bias 512
layer4.1.bn1.running_mean 512
layer4.1.bn1.running_var 512
layer4.1.bn1.num_batches_tracked
layer4.1.conv2.weight 512 512 3 3
layer4.1.bn2.weight 512
layer4.1.bn2.bias 512
layer4.1.bn2.running_mean 512
layer4.1.bn2.running_var 512
layer4.1.bn2.num_batches_tracked
fc.weight 1000 512
fc.bias 1000
"""


def expected_keys() -> list[tuple[str, tuple[int, ...]]]:
    rows = [line.split() for line in TORCHVISION_RESNET18.strip().splitlines()]
    return [(key, tuple(int(d) for d in dims)) for key, *dims in rows]


def test_state_dict_keys_and_shapes_equal_torchvision_resnet18():
    expected = expected_keys()
    assert len(expected) == 122
    got = [(k, tuple(v.shape)) for k, v in ResNet18().state_dict().items()]
    assert got == expected  # same keys, shapes and order
    # torchvision's resnet18 has 11,689,512 parameters (its model card)
    assert sum(p.numel() for p in ResNet18().parameters()) == 11_689_512


def test_feature_extractor_drops_only_fc():
    got = [(k, tuple(v.shape)) for k, v in ResNet18(num_classes=0).state_dict().items()]
    assert got == [row for row in expected_keys() if not row[0].startswith("fc.")]
    with pytest.raises(RuntimeError, match="features"):
        ResNet18(num_classes=0)(torch.zeros(1, 3, 32, 32))


def reference_forward(state: dict, x: torch.Tensor) -> torch.Tensor:
    """resnet18 in eval mode written with torch.nn.functional only, from the state_dict."""

    def bn(h, p):
        return F.batch_norm(h, state[f"{p}.running_mean"], state[f"{p}.running_var"],
                            state[f"{p}.weight"], state[f"{p}.bias"], False, 0.0, 1e-5)  # fmt: skip

    h = F.relu(bn(F.conv2d(x, state["conv1.weight"], stride=2, padding=3), "bn1"))
    h = F.max_pool2d(h, 3, 2, 1)
    for stage in range(1, 5):
        for block in range(2):
            p = f"layer{stage}.{block}"
            stride = 2 if stage > 1 and block == 0 else 1
            out = F.relu(
                bn(F.conv2d(h, state[f"{p}.conv1.weight"], stride=stride, padding=1), f"{p}.bn1")
            )
            out = bn(F.conv2d(out, state[f"{p}.conv2.weight"], padding=1), f"{p}.bn2")
            if f"{p}.downsample.0.weight" in state:
                h = bn(
                    F.conv2d(h, state[f"{p}.downsample.0.weight"], stride=stride),
                    f"{p}.downsample.1",
                )
            h = F.relu(out + h)
    return F.linear(h.mean((2, 3)), state["fc.weight"], state["fc.bias"])


def randomised(model: ResNet18, seed: int = 0) -> ResNet18:
    """Random BatchNorm statistics and affine parameters, so they matter in the comparison."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith(("running_mean", "bias")):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif name.endswith(("running_var", "bn1.weight", "bn2.weight", "downsample.1.weight")):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
    return model.eval()


def test_forward_equals_functional_recomputation_at_64_px():
    torch.manual_seed(0)
    model = randomised(ResNet18(width=8)).double()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    logits = model(x)
    assert logits.shape == (2, 1000) and model.features(x).shape == (2, 64)
    torch.testing.assert_close(logits, reference_forward(model.state_dict(), x))


def test_full_width_shapes():
    model = ResNet18().eval()
    x = torch.randn(1, 3, 64, 64)
    assert model(x).shape == (1, 1000) and model.features(x).shape == (1, 512)


def test_loads_a_saved_torchvision_state_dict(tmp_path):
    torch.manual_seed(0)
    source = randomised(ResNet18(width=8), seed=1)
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    x = torch.randn(2, 3, 32, 32)
    target = ResNet18(width=8)
    target.load_torchvision_weights(path)
    torch.testing.assert_close(target.eval()(x), source(x))
    backbone = ResNet18(num_classes=0, width=8)
    backbone.load_torchvision_weights(path)  # fc.* of the file skipped
    torch.testing.assert_close(backbone.eval().features(x), source.features(x))


def test_mismatched_files_are_refused_with_the_path_and_keys(tmp_path):
    state = ResNet18(width=8).state_dict()
    renamed = {k.replace("layer1.0.conv1", "layer1.0.convA"): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "renamed.pth")
    with pytest.raises(
        ValueError, match=r"renamed.pth.*1 keys missing.*layer1.0.conv1.weight.*1 unexpected"
    ):
        ResNet18(width=8).load_torchvision_weights(tmp_path / "renamed.pth")
    torch.save(ResNet18(width=4).state_dict(), tmp_path / "narrow.pth")
    with pytest.raises(
        ValueError,
        match=r"narrow.pth: .* shapes differ.*conv1.weight: file \(4, 3, 7, 7\), model \(8, 3, 7, 7\)",
    ):
        ResNet18(width=8).load_torchvision_weights(tmp_path / "narrow.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="list.pth: expected a state_dict"):
        ResNet18(width=8).load_torchvision_weights(tmp_path / "list.pth")
