"""The sequence VAEs' training steps beside their reference implementations', in one run.

    python scripts/versus_sequence.py dsvae /path/to/Disentangled-Sequential-Autoencoder \\
        [--batch 8] [--threads 2] [--rounds 5] [--warmup 2] [--only ours|reference] [--profile]
    python scripts/versus_sequence.py halo /path/to/HALO [--batch 24] ...

Pairs (``PAIRS``, to be merged into ``scripts/versus.py``'s), each at its paper config, built as
``scripts/fixtures_<reference>.py`` builds the reference, at full size:

- ``dsvae``: configs/dsvae/sprites.yaml (178,231,689 parameters) against yatindandi's
  ``DisentangledVAE()`` (full q); ours: ``loss_terms`` + backward + the model's own optimiser
  (``configure_optimizers``); the reference as its ``trainer.py``: ``forward``, ``loss_fn``,
  backward, Adam(lr 2e-4).
- ``halo``: configs/hamiltonian_vae/sprites.yaml (158,320,653 parameters) against HALO's
  ``SubspaceVAE`` with ``configs/sprites.yaml``; ours: ``loss_terms`` after pretraining (both
  decodes, the trajectory) + backward + the model's optimiser; the reference: the body of
  ``DynamicalModelTrainer.update`` for that config (``trainer.py`` itself needs TensorBoard),
  with its two Adams (encoder + decoder, and the operators).

8-frame 64x64 sequences in [-1, 1], the same for both sides. A step takes seconds: the defaults are
2 warm-up and 5 measured interleaved rounds. ``--profile`` prints torch.profiler's op table of one
step of each side instead of timing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from einops import rearrange, repeat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from versus import Pair, Step, _count_check, _peak_mib, interleaved  # noqa: E402

import motionzoo  # noqa: E402

CONFIGS = Path(motionzoo.__file__).parent / "configs"


def _paper_model(cls, config: str) -> torch.nn.Module:
    return cls(**yaml.safe_load((CONFIGS / config).read_text())["model"]["init_args"]).train()


def _frames(batch: int, frames: int = 8) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(batch, frames, 3, 64, 64, generator=generator) * 2 - 1


def _our_step(model, loss) -> Step:
    """zero_grad, ``loss()``, backward, step of the model's own ``configure_optimizers``."""
    optimizer = model.configure_optimizers()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        optimizer.step()

    return step


def _dsvae(checkout: Path, batch: int) -> tuple[Step, Step]:
    import fixtures_dsvae

    from motionzoo.models.baselines.dsvae import DSVAE

    ours = _paper_model(DSVAE, "dsvae/sprites.yaml")
    reference = fixtures_dsvae.import_model(checkout).DisentangledVAE().train()
    loss_fn = fixtures_dsvae.import_loss_fn(checkout)
    _count_check(ours, reference)
    x = _frames(batch)
    optimizer = torch.optim.Adam(reference.parameters(), 2e-4)

    def reference_step() -> None:  # trainer.py's train_model body
        optimizer.zero_grad()
        f_mean, f_logvar, _, z_mean, z_logvar, _, p_mean, p_logvar, recon = reference(x)
        loss_fn(x, recon, f_mean, f_logvar, z_mean, z_logvar, p_mean, p_logvar)[0].backward()
        optimizer.step()

    return _our_step(ours, lambda: ours.loss_terms(x)["loss"]), reference_step


def _halo(checkout: Path, batch: int) -> tuple[Step, Step]:
    import fixtures_halo

    from motionzoo.models.hamiltonian_vae import HamiltonianVAE

    ours = _paper_model(HamiltonianVAE, "hamiltonian_vae/sprites.yaml")
    _, model = fixtures_halo.import_halo(checkout)
    vae = fixtures_halo.build(model, fixtures_halo.SPRITES).train()
    _count_check(ours, vae)
    x = _frames(batch)
    action = torch.arange(batch) % 3
    u = F.one_hot(action, 3).float()
    adam = {"lr": 2e-4, "betas": (0.5, 0.999)}
    optim = torch.optim.Adam([*vae.encoder.parameters(), *vae.decoder.parameters()], **adam)
    optimlds = torch.optim.Adam(vae.lds.parameters(), **adam)

    def sse(a, b):
        return F.mse_loss(a, b, reduction="sum")

    def reference_step() -> None:  # DynamicalModelTrainer.update, configs/sprites.yaml
        optim.zero_grad()
        optimlds.zero_grad()
        length = x.shape[1]
        z, mu_z, lv_z, q, mu_q, lv_q, p, mu_p, lv_p = vae.encode(x, u)
        d = q.shape[-1]
        s = torch.cat([q, p], 3)
        s_gen, _ = vae.dynamics(s, u, length)
        z = repeat(z, "b z -> b t z", t=length)

        def decode(states):
            return vae.decode(torch.cat([z, rearrange(states[..., :d], "b t n d -> b t (n d)")], 2))

        def rows(v):
            return rearrange(v, "b t n d -> (b t) (n d)")

        kl_s = vae.vae_loss(rows(mu_q), rows(lv_q)) + vae.vae_loss(rows(mu_p), rows(lv_p))
        s_loss = sse(s_gen.flatten(2), s.flatten(2)) / batch
        recon = sse(x, decode(s_gen)) / batch + sse(x, decode(s)) / batch
        loss = recon + s_loss + (vae.vae_loss(mu_z, lv_z) + kl_s) / batch
        loss.backward()
        optim.step()
        optimlds.step()

    return _our_step(ours, lambda: ours.loss_terms(x, action)["loss"]), reference_step


PAIRS: dict[str, Pair] = {
    "dsvae": Pair("DSVAE (paper config) vs yatindandi DisentangledVAE, training step", _dsvae),
    "halo": Pair("HamiltonianVAE (paper config) vs HALO SubspaceVAE, training step", _halo),
}


def profile(step: Step, label: str, rows: int) -> None:
    step()  # warm-up
    with torch.profiler.profile(record_shapes=False) as prof:
        step()
    print(f"--- {label}")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pair", choices=sorted(PAIRS))
    parser.add_argument("checkout", type=Path, help="a checkout of the reference repository")
    parser.add_argument("--batch", type=int, default=None, help="default: dsvae 8, halo 24")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--only", choices=("ours", "reference"), help="time one side alone")
    parser.add_argument("--profile", type=int, metavar="ROWS", help="op tables, no timing")
    args = parser.parse_args(argv)
    batch = args.batch or {"dsvae": 8, "halo": 24}[args.pair]
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    pair = PAIRS[args.pair]
    ours, reference = pair.build(args.checkout.resolve(), batch)
    if args.profile:
        for label, step in (("ours", ours), ("reference", reference)):
            profile(step, label, args.profile)
        return 0
    if args.only:
        step, built, times = (ours if args.only == "ours" else reference), _peak_mib(), []
        for i in range(args.warmup + args.rounds):
            start = time.perf_counter()
            step()
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
        print(f"{pair.label}, {args.only} alone, batch {batch}: "
              f"{batch / statistics.median(times):.2f} samples/s; peak RSS {built:.0f} MiB "
              f"built, {_peak_mib():.0f} MiB after the steps")  # fmt: skip
        return 0
    t_ours, t_ref = interleaved(ours, reference, args.rounds, args.warmup)
    print(
        f"{pair.label}, batch {batch}, {args.threads} threads, "
        f"median of {args.rounds} interleaved steps:\n"
        f"  ours       {batch / t_ours:8.3f} samples/s\n"
        f"  reference  {batch / t_ref:8.3f} samples/s\n"
        f"  ratio      {t_ref / t_ours:8.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
