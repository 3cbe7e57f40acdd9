"""Write the reference-equivalence fixtures of DSVAE (DESIGN.md section 8).

Takes a checkout of yatindandi/Disentangled-Sequential-Autoencoder (never committed here), builds
its ``DisentangledVAE`` (``model.py``) at a small width with a fixed seed, moves every parameter
and BatchNorm statistic away from its initial value (a fresh BatchNorm in eval mode is the
identity: that would prove nothing), runs a fixed input in eval mode and saves ``{state_dict,
input, outputs, config, reference}`` under ``tests/fixtures/``:

- ``dsvae_small.pt``: the full q(z_t | x_{1:T}, f) (the paper's model), 2 sequences of 32 x 32
  frames (the reference's ``in_size``), to keep the file small;
- ``dsvae_factorised_small.pt``: ``factorised=True`` (what the reference's ``trainer.py``
  trains), one sequence of 64 x 64 frames (Sprites-sized, for ``motionzoo test``).

``outputs`` are the reference's own eval-mode results: ``forward``'s posterior means and
log-variances of f and z, the prior's mean / log-variance sequence (``sample_z`` without sampling,
which ``forward`` runs) and the reconstruction; ``loss_fn``'s loss, ``kld_f`` and ``kld_z``
(per sequence) and the summed squared error per sequence (``mse``). The input is 8-bit pixels
k / 128 - 1, stored as float16 (exact).

It also prints the parameter counts of the network at its full size (``DisentangledVAE()``
defaults: f 256, z 32, conv_dim 2048, step 256, hidden 512), full and factorised q, the numbers
``tests/convert/test_dsvae.py`` pins.

Patches: none to ``model.py`` (it runs unchanged on current PyTorch; imported from the checkout
under its own module name). ``trainer.py`` cannot be imported (it imports torchvision and a
``dataset`` module the repository does not have, and starts training at import): this script
compiles only its ``loss_fn`` function, taken from the file's syntax tree, with ``torch`` and
``torch.nn.functional as F`` in scope as the file imports them.

    python scripts/fixtures_dsvae.py /path/to/Disentangled-Sequential-Autoencoder \\
        [--commit HASH] [--out tests/fixtures]
"""

from __future__ import annotations

import ast
import importlib.util
import types
from pathlib import Path

import torch
import torch.nn.functional as F
from fixtures_common import FixtureParser, count, save_fixture, weights
from torch import nn

REPO = "yatindandi/Disentangled-Sequential-Autoencoder"
SEED = 0
SMALL = {"f_dim": 8, "z_dim": 4, "conv_dim": 8, "step": 4, "hidden_dim": 8, "frames": 3}
VARIANTS = {  # fixture name -> (the reference constructor's remaining arguments, batch)
    "dsvae_small": ({"factorised": False, "in_size": 32}, 2),
    "dsvae_factorised_small": ({"factorised": True, "in_size": 64}, 1),
}


def import_model(checkout: Path) -> types.ModuleType:
    """The checkout's ``model.py``, unchanged, as the module ``dsvae_reference_model``."""
    path = checkout / "model.py"
    if not path.is_file() or "class DisentangledVAE" not in path.read_text():
        raise SystemExit(f"{path}: no DisentangledVAE; is this {REPO}?")
    spec = importlib.util.spec_from_file_location("dsvae_reference_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def import_loss_fn(checkout: Path):
    """``loss_fn`` of the checkout's ``trainer.py``, compiled alone (see the module docstring)."""
    path = checkout / "trainer.py"
    tree = ast.parse(path.read_text(), str(path))
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "loss_fn"]
    if not found:
        raise SystemExit(f"{path}: no loss_fn; is this {REPO}?")
    namespace = {"torch": torch, "F": F}
    exec(compile(ast.Module(found, type_ignores=[]), str(path), "exec"), namespace)
    return namespace["loss_fn"]


def perturb(model: nn.Module, frames: torch.Tensor, generator: torch.Generator) -> None:
    """Parameters moved by seeded noise (BatchNorm scales and every bias to random values); then
    BatchNorm statistics measured on ``frames`` (so that eval-mode activations stay O(1) and the
    tanh is not saturated) and moved by seeded factors."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if name.endswith("bias"):
                p.copy_(0.1 * noise)
            elif p.dim() == 1:  # BatchNorm scales
                p.copy_(1.0 + 0.3 * noise)
            else:
                p.add_(0.2 * noise * p.std())
        norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average: one batch gives its statistics
        model.train()(frames)
        for m in norms:
            m.running_mean.add_(
                0.1 * m.running_var.sqrt() * torch.randn(m.running_mean.shape, generator=generator)
            )
            m.running_var.mul_(0.5 + torch.rand(m.running_var.shape, generator=generator))
            m.momentum = 0.1
    model.eval()


def main(argv: list[str] | None = None) -> int:
    args = FixtureParser(__doc__, REPO).parse_args(argv)
    checkout, commit = args.checkout, args.commit
    reference = import_model(checkout)
    loss_fn = import_loss_fn(checkout)

    for name, (variant, batch) in VARIANTS.items():
        torch.manual_seed(SEED)
        config = {**SMALL, **variant}
        model = reference.DisentangledVAE(**config)
        generator = torch.Generator().manual_seed(SEED + 1)
        size = config["in_size"]
        pixels = torch.randint(
            0, 256, (batch, config["frames"], 3, size, size), generator=generator
        )
        x = pixels.float() / 128 - 1
        perturb(model, x, generator)
        with torch.no_grad():
            f_mean, f_logvar, _, z_mean, z_logvar, _, p_mean, p_logvar, recon = model(x)
            loss, kld_f, kld_z = loss_fn(
                x, recon, f_mean, f_logvar, z_mean, z_logvar, p_mean, p_logvar
            )
            prior_z = model.sample_z(batch, random_sampling=False)[2]
        outputs = {
            "f_mean": f_mean, "f_logvar": f_logvar, "z_mean": z_mean, "z_logvar": z_logvar,
            "prior_mean": p_mean, "prior_logvar": p_logvar, "prior_z": prior_z, "recon": recon,
            "loss": loss, "kld_f": kld_f, "kld_z": kld_z,
            "mse": F.mse_loss(recon, x, reduction="sum") / batch,
        }  # fmt: skip
        saturated = (recon.abs() > 0.999).float().mean().item()
        fixture = {
            "state_dict": weights(model),
            "input": x.half(),
            "outputs": outputs,
            "config": {"model": "DisentangledVAE", **config},
            "reference": {"repo": REPO, "commit": commit},
        }
        summary = (
            f"{count(model):,} params, recon {tuple(recon.shape)} ({saturated:.1%} saturated), "
            f"loss {loss.item():.4f} (kld_f {kld_f.item():.4f}, kld_z {kld_z.item():.4f})"
        )
        save_fixture(fixture, args.out / f"{name}.pt", summary)

    print(f"full-size parameter counts, {REPO}@{commit[:12]}:")
    for factorised in (False, True):
        label = "factorised q" if factorised else "full q"
        print(f"  DisentangledVAE(factorised={factorised}) ({label}): "
              f"{count(reference.DisentangledVAE(factorised=factorised)):,}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
