"""The sequence VAEs' pairs of ``scripts/versus.py``: training steps at the paper configs, the
references built as ``scripts/fixtures_<reference>.py`` builds them, at full size, on the same
8-frame 64x64 sequences in [-1, 1]. A step takes seconds: 2 warm-up and 5 measured rounds.

- ``dsvae``: configs/dsvae/sprites.yaml (178,231,689 parameters) against yatindandi's
  ``DisentangledVAE()`` (full q); ours: ``loss_terms`` + backward + the model's own optimiser
  (``configure_optimizers``); the reference as its ``trainer.py``: ``forward``, ``loss_fn``,
  backward, Adam(lr 2e-4).
- ``halo``: configs/hamiltonian_vae/sprites.yaml (158,320,653 parameters) against HALO's
  ``SubspaceVAE`` with ``configs/sprites.yaml``; ours: ``loss_terms`` after pretraining (both
  decodes, the trajectory) + backward + the model's optimiser; the reference: the body of
  ``DynamicalModelTrainer.update`` for that config (``trainer.py`` itself needs TensorBoard),
  with its two Adams (encoder + decoder, and the operators).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from versus_common import Pair, Step, count_check, model_step, paper_model


def _frames(batch: int, frames: int = 8) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(batch, frames, 3, 64, 64, generator=generator) * 2 - 1


def _dsvae(checkout: Path, batch: int) -> tuple[Step, Step]:
    import fixtures_dsvae

    from motionzoo.models.baselines.dsvae import DSVAE

    ours = paper_model(DSVAE, "dsvae/sprites.yaml").train()
    reference = fixtures_dsvae.import_model(checkout).DisentangledVAE().train()
    loss_fn = fixtures_dsvae.import_loss_fn(checkout)
    count_check(ours, reference)
    x = _frames(batch)
    optimizer = torch.optim.Adam(reference.parameters(), 2e-4)

    def reference_step() -> None:  # trainer.py's train_model body
        optimizer.zero_grad()
        f_mean, f_logvar, _, z_mean, z_logvar, _, p_mean, p_logvar, recon = reference(x)
        loss_fn(x, recon, f_mean, f_logvar, z_mean, z_logvar, p_mean, p_logvar)[0].backward()
        optimizer.step()

    return model_step(ours, lambda: ours.loss_terms(x)["loss"]), reference_step


def _halo(checkout: Path, batch: int) -> tuple[Step, Step]:
    import fixtures_halo

    from motionzoo.models.hamiltonian_vae import HamiltonianVAE

    ours = paper_model(HamiltonianVAE, "hamiltonian_vae/sprites.yaml").train()
    _, model = fixtures_halo.import_halo(checkout)
    vae = fixtures_halo.build(model, fixtures_halo.SPRITES).train()
    count_check(ours, vae)
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

    return model_step(ours, lambda: ours.loss_terms(x, action)["loss"]), reference_step


PAIRS: dict[str, Pair] = {
    "dsvae": Pair(
        "DSVAE (paper config) vs yatindandi DisentangledVAE, training step",
        "yatindandi/Disentangled-Sequential-Autoencoder",
        "model.py",
        _dsvae,
        batch=8,
        rounds=5,
        warmup=2,
    ),
    "halo": Pair(
        "HamiltonianVAE (paper config) vs HALO SubspaceVAE, training step",
        "MdAsifKhan/HALO",
        "base.py",
        _halo,
        batch=24,
        rounds=5,
        warmup=2,
    ),
}
