"""Write the reference-equivalence fixture of the cross-modal VAE (DESIGN.md s. 8).

Takes a checkout of bsridatta/HPE3D at the thesis-era commit b37ad62 (never committed here),
imports its ``src/models`` package (``EncoderRGB``, ``DecoderRGB``, ``Encoder2D``,
``Decoder3D``), builds the four networks at a small size with a fixed seed, spreads their
parameters and BatchNorm statistics away from their initial values (``perturb`` of
``scripts/fixtures_common.py``: a fresh BatchNorm is the identity in eval mode), runs fixed
inputs in eval mode as the reference's ``validation_step`` does (z = mean, logvar clamped at 30, L1 reconstruction, its ``KLD``) and saves
``tests/fixtures/hpe3d_small.pt``:

- ``state_dict``: the four modules' state_dicts in one, each key prefixed by the module's
  ``name`` (``EncoderRGB.backbone.0.weight``, ...), the names that suffix its checkpoint
  files ``<run>_<name>.pt`` (``motionzoo.convert.hpe3d.combine`` builds the same from them);
- ``input``: ``image`` (B, 3, 64, 64) in [-1, 1] (the reference reads it ImageNet-normalised:
  (x01 - mean) / std, albumentations' ``Normalize()``), ``pose2d`` (B, 16, 2) and ``pose3d`` (B, 16, 3), z-scored, root removed;
- ``output``: ``mean_<m>`` / ``logvar_<m>`` of each encoder, the decoders' outputs at z = mean
  (``2d_3d``, ``rgb_3d``: (B, 48); ``rgb_rgb``: (B, 3, 64, 64)), and ``recon_<pair>`` /
  ``kld_<pair>`` of the reference's variant 4 pairs;
- ``reference`` (repository, commit), ``config`` (the sizes below).

Sizes: latent 8, pose networks 32 units (``self.neurons``, 1024 in the reference),
``DecoderRGB`` at an eighth of its widths (32, 16, 8, 4, 2 for 256 ... 16) from a 2 x 2 start
(8 x 8 in the reference: 64 px images instead of 256), ResNet-18 of width 4. These are textual
edits of the constants of the checkout's ``pose_models.py`` / ``rgb_models.py``, compiled in
memory (the files are not changed); everything else is the reference's code.

torchvision: the reference imports ``torchvision.models`` for ``resnet18`` only; where it is not
installed, ``--torchvision DIR`` puts a directory holding a torchvision-compatible stand-in
(``torchvision/models`` with ``resnet18(pretrained, width)``: torchvision's module tree and
names) first on ``sys.path``. The narrow ResNet needs that ``width`` argument either way.

It also prints the parameter counts of the reference networks at their full size (latent 500,
``train.py``'s default; 1024 units; 256 px; torchvision's ResNet-18), the numbers
``tests/convert/test_hpe3d.py`` pins.

    python scripts/fixtures_hpe3d.py /path/to/HPE3D [--torchvision DIR] [--commit HASH]
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import torch
from fixtures_common import FixtureParser, count, perturb, save_fixture

REPO = "bsridatta/HPE3D"
SEED = 0
LATENT, NEURONS, WIDTH, BATCH = 8, 32, 4, 2
DECODER_EDITS = [  # DecoderRGB at an eighth of its widths, from a 2 x 2 start (64 px); from
    # the output end, so that no edit produces text that a later one edits again
    ("self.hidden_dim = 256*8*8", "self.hidden_dim = 32*2*2"),
    ("x.view(-1, 256, 8, 8)", "x.view(-1, 32, 2, 2)"),
    ("nn.ConvTranspose2d(16, 3, 4, 2, 1)", "nn.ConvTranspose2d(2, 3, 4, 2, 1)"),
    ("nn.BatchNorm2d(16)", "nn.BatchNorm2d(2)"),
    ("nn.ConvTranspose2d(32, 16, 4, 2, 1)", "nn.ConvTranspose2d(4, 2, 4, 2, 1)"),
    ("nn.BatchNorm2d(32)", "nn.BatchNorm2d(4)"),
    ("nn.ConvTranspose2d(64, 32, 4, 2, 1)", "nn.ConvTranspose2d(8, 4, 4, 2, 1)"),
    ("nn.BatchNorm2d(64)", "nn.BatchNorm2d(8)"),
    ("nn.ConvTranspose2d(128, 64, 4, 2, 1)", "nn.ConvTranspose2d(16, 8, 4, 2, 1)"),
    ("nn.BatchNorm2d(128)", "nn.BatchNorm2d(16)"),
    ("nn.ConvTranspose2d(256, 128, 4, 2, 1)", "nn.ConvTranspose2d(32, 16, 4, 2, 1)"),
    (
        "models.resnet18(pretrained=self.pretrained)",
        "models.resnet18(pretrained=False, width=WIDTH)",
    ),
]
POSE_EDITS = [("self.neurons = 1024", "self.neurons = NEURONS")]


def import_models(checkout: Path, small: bool) -> types.ModuleType:
    """The checkout's ``src/models`` package; ``small``: with the edits above (each must
    apply exactly as often as written: 4 ``self.neurons``, the decoder lines once)."""
    folder = checkout / "src" / "models"
    for name in [n for n in sys.modules if n == "models" or n.startswith("models.")]:
        del sys.modules[name]
    package = types.ModuleType("models")
    package.__path__ = [str(folder)]
    sys.modules["models"] = package
    for name, edits in (
        ("model_utils", []),
        ("pose_models", POSE_EDITS),
        ("rgb_models", DECODER_EDITS),
    ):
        path = folder / f"{name}.py"
        source = path.read_text()
        for old, new in edits if small else []:
            if old not in source:
                raise SystemExit(f"{path}: {old!r} not found; is this HPE3D @b37ad62?")
            source = source.replace(old, new)
        module = types.ModuleType(f"models.{name}")
        module.__file__, module.__package__ = str(path), "models"
        module.NEURONS, module.WIDTH = NEURONS, WIDTH
        sys.modules[module.__name__] = module
        exec(compile(source, str(path), "exec"), module.__dict__)
        setattr(package, name, module)
    return package


def main(argv: list[str] | None = None) -> int:
    parser = FixtureParser(__doc__, f"{REPO} @b37ad62")
    parser.add_argument("--torchvision", type=Path, help="folder with a torchvision stand-in")
    args = parser.parse_args(argv)
    checkout, commit = args.checkout, args.commit
    if args.torchvision:
        sys.path.insert(0, str(args.torchvision.resolve()))

    m = import_models(checkout, small=True)
    torch.manual_seed(SEED)
    nets = {
        "EncoderRGB": m.rgb_models.EncoderRGB(LATENT, pretrained=False),
        "DecoderRGB": m.rgb_models.DecoderRGB(LATENT),
        "Encoder2D": m.pose_models.Encoder2D(LATENT),
        "Decoder3D": m.pose_models.Decoder3D(LATENT),
    }
    generator = torch.Generator().manual_seed(SEED + 1)
    for net in nets.values():
        perturb(net, generator)
        net.eval()
    image = torch.rand(BATCH, 3, 64, 64, generator=generator) * 2 - 1
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    image_imagenet = ((image + 1) / 2 - mean.view(3, 1, 1)) / std.view(3, 1, 1)
    pose2d = torch.randn(BATCH, 16, 2, generator=generator)
    pose3d = torch.randn(BATCH, 16, 3, generator=generator)
    inputs = {"rgb": image_imagenet, "2d": pose2d, "3d": pose3d}
    encoders = {"rgb": nets["EncoderRGB"], "2d": nets["Encoder2D"]}
    decoders = {"rgb": nets["DecoderRGB"], "3d": nets["Decoder3D"]}
    output = {}
    with torch.no_grad():
        for source, encoder in encoders.items():
            output[f"mean_{source}"], output[f"logvar_{source}"] = encoder(inputs[source])
        for source, target in (("rgb", "rgb"), ("2d", "3d"), ("rgb", "3d")):  # variant 4
            mu = output[f"mean_{source}"]
            logvar = torch.clamp(output[f"logvar_{source}"], max=30)  # _validation_step
            z = m.model_utils.reparameterize(mu, logvar, eval=True)
            recon = decoders[target](z)
            tag = f"{source}_{target}"
            output[tag] = recon
            target_batch = inputs[target]
            output[f"recon_{tag}"] = torch.nn.functional.l1_loss(
                recon.view(target_batch.shape), target_batch
            )
            output[f"kld_{tag}"] = m.model_utils.KLD(mu, logvar, type(decoders[target]).__name__)
    fixture = {
        "state_dict": {
            f"{name}.{k}": v.clone()
            for name, net in nets.items()
            for k, v in net.state_dict().items()
        },
        "input": {"image": image, "pose2d": pose2d, "pose3d": pose3d},
        "output": output,
        "config": {
            "latent_dim": LATENT,
            "neurons": NEURONS,
            "resnet_width": WIDTH,
            "image_size": 64,
            "decoder_channels": [32, 16, 8, 4, 2],
            "n_joints": 16,
        },  # fmt: skip
        "reference": {"repo": REPO, "commit": commit},
    }
    summary = f"{sum(map(count, nets.values())):,} params"
    save_fixture(fixture, args.out / "hpe3d_small.pt", summary)

    m = import_models(checkout, small=False)
    full = {
        "EncoderRGB": m.rgb_models.EncoderRGB(500, pretrained=False),
        "DecoderRGB": m.rgb_models.DecoderRGB(500),
        "Encoder2D": m.pose_models.Encoder2D(500),
        "Decoder3D": m.pose_models.Decoder3D(500),
    }
    print(f"full-size parameter counts (latent 500), {REPO}@{commit[:12]}:")
    for name, net in full.items():
        print(f"  {name}: {count(net):,}")
    print(f"  all four: {sum(map(count, full.values())):,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
