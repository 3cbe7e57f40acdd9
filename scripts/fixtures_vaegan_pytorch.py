"""Write the reference-equivalence fixture of VAEGAN from lucabergamini/VAEGAN-PYTORCH (DESIGN.md
section 8).

Takes a checkout of lucabergamini/VAEGAN-PYTORCH (never committed here) and builds its
``network.VaeGan`` (encoder, decoder, discriminator; ``recon_level=3`` as its ``main.py``) twice:

- at full size, ``VaeGan(z_size=128, recon_level=3)`` (``main.py``'s defaults, 64x64 images), to
  print the parameter counts that ``tests/convert/test_vaegan_pytorch.py`` pins;
- at 1/32 of its widths and z 8, for ``tests/fixtures/vaegan_pytorch_small.pt``: its parameters
  and BatchNorm statistics spread away from their initial values with a fixed seed (a fresh
  BatchNorm is the identity in eval mode), two fixed images x and latents z, and in eval mode the
  encoder's (mu, logvar) of x, the decoder's images of z, the discriminator's probability
  (sigmoid) of x and its Dis_l features of x (``mode="REC"``: the pre-BN output of the third
  strided block).

The reference hard-codes its widths, so the small network is ``network.py`` compiled with every
width literal (64 / 128 / 256 / 32 / 512 / 1024 in the channel and feature arguments and the
``self.size`` bookkeeping) divided by 32; nothing else in the file changes. ``network.py`` runs
as it is on current PyTorch (deprecated ``nn.init.uniform`` / ``F.sigmoid``, with warnings).

    python scripts/fixtures_vaegan_pytorch.py /path/to/VAEGAN-PYTORCH [--commit HASH]
"""

from __future__ import annotations

import re
import types
import warnings
from pathlib import Path

import torch
from fixtures_common import FixtureParser, count, perturb, save_fixture, weights

REPO = "lucabergamini/VAEGAN-PYTORCH"
SEED = 0
DIVISOR = 32
Z_SMALL = 8
WIDTH_ARGUMENT = re.compile(
    r"\b(channel_out|out_channels|out_features|in_features|num_features)=(32|64|128|256|512|1024)\b"
)
SIZE_ASSIGNMENT = re.compile(r"self\.size = (32|64|128|256)\b")


def import_network(checkout: Path, divisor: int) -> types.ModuleType:
    """``network.py`` of the checkout with its width literals divided by ``divisor``."""
    path = checkout / "network.py"
    source = path.read_text()
    if "class VaeGan" not in source:
        raise SystemExit(f"{path}: no class VaeGan; is this lucabergamini/VAEGAN-PYTORCH?")
    source, n_args = WIDTH_ARGUMENT.subn(lambda m: f"{m[1]}={int(m[2]) // divisor}", source)
    source, n_sizes = SIZE_ASSIGNMENT.subn(lambda m: f"self.size = {int(m[1]) // divisor}", source)
    if (n_args, n_sizes) != (12, 4):  # the widths of network.py at fa75275
        raise SystemExit(f"{path}: {n_args} width arguments, {n_sizes} sizes; expected 12, 4")
    module = types.ModuleType(f"network_div{divisor}")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def main(argv: list[str] | None = None) -> int:
    args = FixtureParser(__doc__, REPO).parse_args(argv)
    checkout, commit = args.checkout, args.commit
    warnings.filterwarnings("ignore", category=UserWarning)  # the reference's deprecated calls
    warnings.filterwarnings("ignore", category=FutureWarning)

    torch.manual_seed(SEED)
    model = import_network(checkout, DIVISOR).VaeGan(z_size=Z_SMALL, recon_level=3)
    generator = torch.Generator().manual_seed(SEED + 1)
    perturb(model, generator)
    model.eval()
    x = torch.rand(2, 3, 64, 64, generator=generator) * 2 - 1
    z = torch.randn(2, Z_SMALL, generator=generator)
    with torch.no_grad():
        mu, logvar = model.encoder(x)
        decoded = model.decoder(z)
        # the discriminator concatenates its two inputs: x[:1], x[1:] is x
        features = model.discriminator(x[:1], x[1:], "REC")
        probability = model.discriminator(x[:1], x[1:], "GAN")[:, 0]
    fixture = {
        "state_dict": weights(model),
        "input": {"x": x, "z": z},
        "output": {
            "mu": mu,
            "logvar": logvar,
            "decoded": decoded,
            "probability": probability,
            "features": features,
        },
        "config": {"model": "VaeGan", "z_size": Z_SMALL, "recon_level": 3, "divisor": DIVISOR},
        "reference": {"repo": REPO, "commit": commit},
    }
    save_fixture(fixture, args.out / "vaegan_pytorch_small.pt", f"{count(model):,} params")

    full = import_network(checkout, 1).VaeGan(z_size=128, recon_level=3)
    print(f"full-size parameter counts (z_size 128), {REPO}@{commit[:12]}:")
    for part in ("encoder", "decoder", "discriminator"):
        print(f"  {part}: {count(getattr(full, part)):,}")
    print(f"  VaeGan: {count(full):,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
