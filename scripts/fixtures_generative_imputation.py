"""Write the reference-equivalence fixture of HG-VAE (bouracha/generative_imputation; DESIGN.md s. 8).

Takes a checkout of bouracha/generative_imputation (never committed here), imports its
``models.HGVAE`` from it, builds it at a small width with a fixed seed (AMASS's 54 nodes x 50
frames, hierarchy [[54, 50], [54, 4], [24, 4], [8, 4], [1, 8]], decoder stream 8), moves every
parameter away from its initial value (its ReZero gates start at 0: the blocks and levels behind
them would add nothing), runs a fixed input through its training pipeline (``train.py``:
``dct`` -> model -> inverse ``dct`` -> ``cal_loss``) and its ``cal_posterior`` in eval mode, and
saves ``tests/fixtures/generative_imputation_small.pt``: ``{state_dict, motion, means, sampled,
config, reference}``.

- ``motion`` (B, 50, 18, 3) mm; the reference's input (B, 54, 50) is its loader's raw reshape.
- ``means``: the pass with every latent at its mean (zero noise): posterior means and
  log-variances per level (z0 first), prior means / log-variances, decoder mean / log-variance
  (DCT domain), the time-domain reconstruction, KL per level, ``log_lik``, ``kl``, ``loss``
  (beta 1), ``log_posterior`` (``cal_posterior``, per sample).
- ``sampled``: the same (but the reconstruction) with recorded standard-normal ``noise`` per
  level.

The reference draws z with ``torch.normal`` inside ``models.utils.reparametisation_trick`` even
in eval mode; the script wraps that function so the draw returns the recorded noise (zeros for
``means``), the reference's own code doing the rest.

Patches, none to the checkout's files:
- ``models/utils.py`` imports pandas for its CSV bookkeeping only; where pandas is not installed
  an empty stand-in module is registered under that name.
- ``models/encoders.py`` hard-codes the hierarchy in ``GraphVDEncoder.__init__``; it is compiled
  with one line appended after that assignment which replaces the hierarchy when
  ``SMALL_LEVELS`` is set (left unset for the full-size count, the file's own numbers).
- The decoder stream width is ``GraphVDDecoder``'s default argument ``residual_size=256`` (its
  HGVAE never passes it): changed in ``__init__.__defaults__`` for the small model only.

It prints the parameter count of the reference HGVAE at its full size (input [54, 50]), the
number ``tests/convert/test_generative_imputation.py`` pins.

    python scripts/fixtures_generative_imputation.py /path/to/generative_imputation \
        [--commit HASH] [--out tests/fixtures]
"""

from __future__ import annotations

import importlib
import inspect
import sys
import types
from pathlib import Path

import torch
from fixtures_common import FixtureParser, count, save_fixture, weights

REPO = "bouracha/generative_imputation"
SEED = 0
JOINTS, FRAMES, BATCH = 18, 50, 2
SCALE = 0.1
SMALL_LEVELS, SMALL_RESIDUAL = [[54, 4], [24, 4], [8, 4], [1, 8]], 8
HIERARCHY = (
    "self.level_output_sizes = [[self.node_n, self.features], [self.node_n, 128], [24, 128], "
    "[8, 128], [1, 256]]"
)


def import_reference(checkout: Path) -> types.SimpleNamespace:
    """The checkout's ``models`` modules, ``encoders`` compiled with the hierarchy hook."""
    try:
        importlib.import_module("pandas")
    except ImportError:
        sys.modules["pandas"] = types.ModuleType("pandas")
    sys.path.insert(0, str(checkout))
    path = checkout / "models" / "encoders.py"
    source = path.read_text()
    if source.count(HIERARCHY) != 1:
        raise SystemExit(f"{path}: no hierarchy line {HIERARCHY!r}; is this {REPO}?")
    hook = "\n        if SMALL_LEVELS is not None:\n"
    hook += "            self.level_output_sizes = [[self.node_n, self.features]] + SMALL_LEVELS"
    encoders = types.ModuleType("models.encoders")
    encoders.__file__, encoders.SMALL_LEVELS = str(path), None
    exec(compile(source.replace(HIERARCHY, HIERARCHY + hook), str(path), "exec"), vars(encoders))
    sys.modules["models.encoders"] = encoders
    return types.SimpleNamespace(
        encoders=encoders,
        decoders=importlib.import_module("models.decoders"),
        utils=importlib.import_module("models.utils"),
        HGVAE=importlib.import_module("models.HGVAE").HGVAE,
    )


def set_residual(decoders: types.ModuleType, width: int) -> None:
    init = decoders.GraphVDDecoder.__init__
    if list(inspect.signature(init).parameters)[-1] != "residual_size":
        raise SystemExit("GraphVDDecoder.__init__ has no trailing residual_size argument")
    init.__defaults__ = (*init.__defaults__[:-1], width)


def perturb(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Every parameter moved to a seeded random value: ReZero gates to about 0.5, biases to
    0.1 N(0, 1), matrices by 0.3 of their spread."""
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            noise = torch.randn(tensor.shape, generator=generator)
            if name.endswith("resweight"):
                tensor.copy_(0.5 + 0.2 * noise)
            elif name.endswith("bias"):
                tensor.copy_(0.1 * noise)
            else:
                tensor.add_(0.3 * noise * tensor.abs().mean().clamp(min=0.1))


def run(ref: types.SimpleNamespace, model, x: torch.Tensor, noise: list[torch.Tensor]) -> dict:
    """The reference pipeline on x (B, 54, 50) with ``noise`` as its draws of z, top first."""
    draws = iter(noise)
    reparametisation_trick = ref.utils.reparametisation_trick

    def recorded(mu, log_var, device):
        normal = torch.normal
        torch.normal = lambda mean, std, size: next(draws).reshape(size)
        try:
            return reparametisation_trick(mu, log_var, device)
        finally:
            torch.normal = normal

    ref.utils.reparametisation_trick = recorded
    try:
        with torch.no_grad():
            b = len(x)
            x_dct = ref.utils.dct(model, x)
            mu, logvar, zs, kls = model(x_dct)
            x_hat = ref.utils.dct(model, mu, inverse=True)
            loss = model.cal_loss(
                x.reshape(b, -1), x_hat.reshape(b, -1), logvar.reshape(b, -1), kls
            )
            decoder = model.decoder
            levels = [str(level) for level in range(len(kls))]
            out = {
                "posterior_mu": [decoder.z_posterior_mus[k].clone() for k in levels],
                "posterior_logvar": [decoder.z_posterior_log_vars[k].clone() for k in levels],
                "prior_mu": [decoder.z_prior_mus[k].clone() for k in levels],
                "prior_logvar": [decoder.z_prior_log_vars[k].clone() for k in levels],
                "z": [zs[k].clone() for k in levels],  # the posterior means in "means"
                "mu": mu,
                "logvar": logvar,
                "reconstruction": x_hat,
                "kl_levels": torch.stack([kls[k] for k in levels]),
                "log_lik": model.log_lik,
                "kl": model.KL,
                "loss": loss,
            }
            if not any(n.abs().sum() for n in noise):  # the OoD score, at the posterior means
                draws = iter(noise)
                out["log_posterior"] = model.cal_posterior(x_dct)
    finally:
        ref.utils.reparametisation_trick = reparametisation_trick
    return out


def main(argv: list[str] | None = None) -> int:
    args = FixtureParser(__doc__, REPO).parse_args(argv)
    checkout, commit = args.checkout, args.commit
    ref = import_reference(checkout)
    nodes = JOINTS * 3

    def build():  # as main.py / occlusion_experiment.py build it
        return ref.HGVAE(
            input_n=[nodes, FRAMES], variational=True, output_variance=True, device="cpu"
        )

    full = count(build())
    ref.encoders.SMALL_LEVELS = SMALL_LEVELS
    set_residual(ref.decoders, SMALL_RESIDUAL)
    torch.manual_seed(SEED)
    model = build()
    model.beta = 1.0  # train.initialise's attribute; cal_loss reads it
    generator = torch.Generator().manual_seed(SEED + 1)
    perturb(model, generator)
    model.eval()
    sizes = model.encoder.level_output_sizes[1:][::-1]  # z0 first
    # motion (B, T, J, 3) "mm" at a scale that keeps the perturbed network's log-variances
    # inside their clamp [-20, 3]; the loader's raw reshape gives the model's input
    motion = SCALE * torch.randn(BATCH, FRAMES, JOINTS, 3, generator=generator)
    motion += SCALE * torch.randn(1, 1, JOINTS, 3, generator=generator)
    x = motion.reshape(BATCH, nodes, FRAMES)
    noise = [torch.randn(BATCH, n, f, generator=generator) for n, f in sizes]
    sampled = run(ref, model, x, noise)
    del sampled["reconstruction"]  # the decoder mean's IDCT: kept once, in "means"
    fixture = {
        "state_dict": weights(model),
        "motion": motion,
        "means": run(ref, model, x, [torch.zeros_like(n) for n in noise]),
        "sampled": {**sampled, "noise": noise},  # noise (B, n_l, f_l) per level
        "config": {
            "model": "HGVAE",
            "input_n": [nodes, FRAMES],
            "level_output_sizes": model.encoder.level_output_sizes,
            "residual_size": SMALL_RESIDUAL,
            "variational": True,
            "output_variance": True,
            "beta": 1.0,
        },
        "reference": {"repo": REPO, "commit": commit},
    }
    means = fixture["means"]
    summary = (
        f"{count(model):,} params; log_lik {means['log_lik'].item():.4f}, KL per level "
        f"{means['kl_levels'].tolist()}, decoder log-variance in "
        f"[{means['logvar'].min():.2f}, {means['logvar'].max():.2f}]"
    )
    save_fixture(fixture, args.out / "generative_imputation_small.pt", summary)
    print(f"full-size parameter count, {REPO}@{commit[:12]}: HGVAE(input_n=[54, 50]): {full:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
