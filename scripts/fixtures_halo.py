"""Write the reference-equivalence fixture of HamiltonianVAE: HALO's ``SubspaceVAE`` (DESIGN.md s. 8).

Takes a checkout of MdAsifKhan/HALO (never committed here), imports ``base.py`` and ``model.py``
from it, builds ``SubspaceVAE`` with the options of HALO's ``configs/sprites.yaml`` (Hamiltonian
dynamics, bi-LSTM content, ``condnSonU: False``) at a small width with a fixed seed, spreads every
parameter and BatchNorm statistic away from its initial value, and saves
``tests/fixtures/halo_small.pt``: ``{state_dict, input, outputs, config, reference}``. The outputs,
in eval mode and without noise (HALO's ``reparameterisation`` at zero noise, the reference frame of
the trajectory fixed), are:

- ``mu_z``, ``logvar_z`` (B, z_dim); ``mu_q``, ``logvar_q``, ``mu_p``, ``logvar_p`` (B, T, K, d):
  the posterior of ``SubspaceVAE.encode``;
- ``hamiltonian`` (K, 2d, 2d) and ``exp_hamiltonian``: ``DynamicalModel.hamiltonian()`` and its
  exponential (``matrix_exp(usetorch=True)``, see below);
- ``trajectory`` (B, T, K, 2d): ``vae.lds`` from the raw posterior means at frame ``t_generate``
  (HALO's ``DynamicalModelTrainer.generate``); ``reconstruction`` and ``generation`` (B, T, 3, S, S):
  the decoder at the raw means and along that trajectory (before ``generate``'s roll);
- ``loss``: the terms of ``DynamicalModelTrainer.update`` (its formulas, computed here because
  ``trainer.py`` needs TensorBoard): ``recon_gen``, ``recon_enc`` (summed squared error / B),
  ``state``, ``kl_z``, ``kl_qp`` and ``elbo``, with the trajectory from frame ``t_loss``.

HALO's code does not run as released; this script patches a copy in memory, minimally:

- ``base.py``'s ``EncoderConv`` / ``DecoderConv`` hard-code 256 channels, FC 4096 and 64 x 64
  frames; the fixture's widths replace those numbers in the two classes' source (16 x 16 frames,
  so the 8 x 8 map becomes 2 x 2). At full size nothing is replaced.
- ``model.py`` imports ``Discriminator_V``, which ``base.py`` does not define: a placeholder.
- ``DynamicalModel.matrix_exp`` defaults to a Taylor series whose identity is ``eye(K)`` instead
  of ``eye(2d)``: it raises for every K != 2d (Sprites: K = 3, 2d = 24), so no Hamiltonian model
  was ever trained through it. Here its default is ``usetorch=True`` (``torch.matrix_exp``), the
  branch a run that works takes.

It also prints the parameter count of ``SubspaceVAE`` at the full size of ``configs/sprites.yaml``
(the number ``tests/convert/test_halo.py`` pins).

    python scripts/fixtures_halo.py /path/to/HALO [--commit HASH] [--out tests/fixtures]
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from fixtures_common import FixtureParser, count, perturb, save_fixture, weights

REPO = "MdAsifKhan/HALO"
SEED = 0
# configs/sprites.yaml's trainer.model section, and what train.py adds to it for Sprites
SPRITES = {
    "condnSonU": False, "useZ": True, "uselstmZ": True, "projection": True, "pretrain": False,
    "sequential": True, "qv_x": "qv_f_x1toT", "v_dim": 36, "h_dim": 2048, "z_dim": 256,
    "nm_operators": 3, "network": "conv", "decoder": "conv", "dynamics": "Hamiltonian",
    "u_dim": 3, "channels": 3, "width": 64, "height": 64,
}  # fmt: skip
SMALL = {"v_dim": 12, "h_dim": 16, "z_dim": 8, "width": 16, "height": 16}
WIDTHS = {"channels": 8, "hidden": 24}  # EncoderConv / DecoderConv's 256 and 4096
BATCH, FRAMES, T_LOSS, T_GENERATE = 3, 6, 2, 3


def _patch_class(source: str, name: str, replace: list[tuple[str, str]]) -> str:
    match = re.search(rf"^class {name}\(.*?(?=^class |\Z)", source, re.MULTILINE | re.DOTALL)
    if match is None:
        raise SystemExit(f"base.py: no class {name}; is this MdAsifKhan/HALO?")
    body = match.group(0)
    for old, new in replace:
        body = body.replace(old, new)
    return source[: match.start()] + body + source[match.end() :]


def import_halo(checkout: Path, channels: int = 256, hidden: int = 4096, side: int = 8):
    """HALO's ``base`` and ``model`` modules, the conv widths replaced (see the docstring)."""
    path = checkout / "base.py"
    source = path.read_text()
    flat = f"{channels}*{side}*{side}"
    source = _patch_class(
        source, "EncoderConv", [("256*8*8", flat), ("4096", str(hidden)), ("256", str(channels))]
    )
    source = _patch_class(
        source,
        "DecoderConv",
        [("256*8*8", flat), ("c=256, w=8, h=8", f"c={channels}, w={side}, h={side}"),
         ("256", str(channels))],
    )  # fmt: skip
    base = types.ModuleType("base")
    base.__file__ = str(path)
    exec(compile(source, str(path), "exec"), base.__dict__)
    base.Discriminator_V = None  # imported by model.py, defined nowhere
    taylor = base.DynamicalModel.matrix_exp  # raises: its identity is eye(K), not eye(2d)
    base.DynamicalModel.matrix_exp = lambda self, x, order=10, usetorch=True: taylor(
        self, x, order, usetorch
    )
    sys.modules["base"] = base
    sys.modules.pop("model", None)
    sys.path.insert(0, str(checkout))
    import model

    return base, model


def build(model_module, config: dict) -> torch.nn.Module:
    return model_module.SubspaceVAE(dict(config), "sprites", device_ids=["cpu"] * 3)


def noise_free(vae, x, space="v"):
    """``SubspaceVAE.reparameterisation`` at zero noise: the sample is the mean."""
    mu, logvar = {"q": (vae.mu_q, vae.sigma_q), "z": (vae.mu_z, vae.sigma_z),
                  "p": (vae.mu_p, vae.sigma_p)}[space]  # fmt: skip
    mu, logvar = mu(x), logvar(x)
    return mu, mu, logvar


def outputs(vae, frames: torch.Tensor, onehot: torch.Tensor) -> dict[str, torch.Tensor]:
    """The fixture's outputs (see the module docstring); ``vae`` in eval mode."""
    time = frames.shape[1]
    k = vae.lds.nm_operators
    with torch.no_grad(), mock.patch.object(type(vae), "reparameterisation", noise_free):
        z, mu_z, lv_z, q, mu_q, lv_q, p, mu_p, lv_p = vae.encode(frames, onehot)
        h = vae.lds.hamiltonian()
        out = {"mu_z": mu_z, "logvar_z": lv_z, "mu_q": mu_q, "logvar_q": lv_q, "mu_p": mu_p,
               "logvar_p": lv_p, "hamiltonian": h,
               "exp_hamiltonian": vae.lds.matrix_exp(h)}  # fmt: skip
        d = mu_q.shape[-1]
        # DynamicalModelTrainer.generate / reconstruct: the raw means, the operators from frame 3
        means = torch.cat([mu_q, mu_p], 3)
        out["trajectory"] = vae.lds(onehot, means[:, T_GENERATE], time, T_GENERATE)
        zt = repeat(mu_z, "b z -> b t z", t=time)

        def decode(s):
            return vae.decode(torch.cat([zt, rearrange(s[..., :d], "b t n d -> b t (n d)")], 2))

        out["reconstruction"] = decode(means)
        out["generation"] = decode(out["trajectory"])
        # DynamicalModelTrainer.update's terms, trajectory from frame T_LOSS of the samples
        s = torch.cat([q, p], 3)
        with mock.patch.object(torch, "randint", lambda *a, **kw: torch.tensor([T_LOSS])):
            s_gen, start = vae.dynamics(s, onehot, time)
        assert int(start) == T_LOSS and k == s.shape[2]
        b = len(frames)

        def sse(a, c):
            return F.mse_loss(a, c, reduction="sum")

        loss = {
            "recon_gen": sse(frames, decode(s_gen)) / b,
            "recon_enc": sse(frames, decode(s)) / b,
            "state": sse(s_gen, s) / b,
            "kl_z": vae.vae_loss(mu_z, lv_z) / b,
            "kl_qp": (vae.vae_loss(mu_q, lv_q) + vae.vae_loss(mu_p, lv_p)) / b,
        }
        loss["elbo"] = sum(loss.values())
        out["loss"] = torch.stack([loss[k] for k in ("recon_gen", "recon_enc", "state", "kl_z",
                                                     "kl_qp", "elbo")])  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    args = FixtureParser(__doc__, REPO).parse_args(argv)
    checkout, commit = args.checkout, args.commit

    _, full = import_halo(checkout)
    torch.manual_seed(SEED)
    print(f"HALO SubspaceVAE, configs/sprites.yaml: {count(build(full, SPRITES)):,} parameters")

    _, small = import_halo(checkout, WIDTHS["channels"], WIDTHS["hidden"], side=2)
    config = {**SPRITES, **SMALL}
    torch.manual_seed(SEED)
    vae = build(small, config)
    generator = torch.Generator().manual_seed(SEED)
    perturb(vae, generator)
    vae.eval()
    frames = torch.rand(BATCH, FRAMES, 3, 16, 16, generator=generator) * 2 - 1
    action = torch.tensor([0, 2, 1])
    fixture = {
        "state_dict": weights(vae),
        "input": {"frames": frames, "action": action},
        "outputs": outputs(vae, frames, F.one_hot(action, 3).float()),
        "config": {**config, **WIDTHS, "t_loss": T_LOSS, "t_generate": T_GENERATE},
        "reference": {"repo": REPO, "commit": commit, "model": "model.py SubspaceVAE"},
    }
    save_fixture(fixture, args.out / "halo_small.pt", f"{count(vae):,} parameters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
