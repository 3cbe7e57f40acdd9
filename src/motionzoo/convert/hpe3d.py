"""bsridatta/HPE3D's cross-modal VAE (@b37ad62, the KTH thesis' code) -> CrossModalVAE.

- ``hpe3d``: ``src/models/rgb_models.py`` ``EncoderRGB`` / ``DecoderRGB`` and
  ``src/models/pose_models.py`` ``Encoder2D`` / ``Decoder3D`` -> one ``CrossModalVAE`` with
  ``pose_style="residual"``, ``kl_normalization="hpe3d"``, ``image_units="imagenet"`` and the
  reference's pairs among ``rgb->rgb``, ``2d->3d``, ``rgb->3d`` (variant 4) that its modules
  form.

The reference's ``model_checkpoint`` writes one file per module, ``<run>_<name>.pt`` =
``{"epoch", "val_loss", "model_state_dict", "optimizer_state_dict"}``; the converter reads
their ``model_state_dict``s as one state_dict with keys prefixed by the module's name
(``EncoderRGB.backbone.0.weight``, ``Decoder3D.dec_out_block.0.bias``, ...), which
:func:`combine` writes from the files:

    python -c "from motionzoo.convert.hpe3d import combine; combine('ckpt/divine-bird', 'run.pt')"
    motionzoo convert --from hpe3d run.pt cross_modal_vae.ckpt

Units: the reference's poses are z-scored with its ``norm_stats.h5`` (root removed), as our
:class:`~motionzoo.nn.cross_modal.PoseNormalizer`; the converted model has no statistics
(``normalizer.*`` are not in the reference's weights): ``motionzoo test`` takes them from the
DataModule, Python users call ``set_statistics``. Its images are ImageNet-normalised
(``image_units="imagenet"``). Fixture: ``scripts/fixtures_hpe3d.py``; tests:
``tests/convert/test_hpe3d.py``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from motionzoo.convert._core import SAME, Source, Transform, need
from motionzoo.models.cross_modal_vae import CrossModalVAE

MODULES = ("EncoderRGB", "DecoderRGB", "Encoder2D", "Decoder3D")  # the reference's ``name``s
VARIANT_4 = (("rgb->rgb", "EncoderRGB", "DecoderRGB"), ("2d->3d", "Encoder2D", "Decoder3D"),
             ("rgb->3d", "EncoderRGB", "Decoder3D"))  # fmt: skip
NORMALIZER = ("pose3d_mean", "pose3d_std", "pose2d_mean", "pose2d_std", "has_statistics")
_LBAD = {"0": "w1", "1": "bn1"}  # our LBAD's Linear, BatchNorm -> the reference's


def combine(files: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write the converter's input from the reference's per-module checkpoint files: ``files``
    is their common prefix (``<save_dir>/<run>``; ``<prefix>_<name>.pt`` for each name of
    :data:`MODULES` that exists). Keeps the files' ``epoch`` and ``val_loss`` (as ``error``)."""
    prefix = Path(files)
    found = {n: prefix.parent / f"{prefix.name}_{n}.pt" for n in MODULES}
    found = {n: p for n, p in found.items() if p.is_file()}
    if not found:
        raise FileNotFoundError(f"{prefix}_<name>.pt: none found for <name> in {MODULES}")
    state, meta = {}, {}
    for name, path in found.items():
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if "model_state_dict" not in checkpoint:
            raise ValueError(f"{path}: key 'model_state_dict' missing; expected an HPE3D .pt")
        state.update({f"{name}.{k}": v for k, v in checkpoint["model_state_dict"].items()})
        meta.update({k: checkpoint[k] for k in ("epoch",) if k in checkpoint})
        if "val_loss" in checkpoint:
            meta["error"] = checkpoint["val_loss"]
    path = Path(dst)
    torch.save({"state_dict": state, **meta}, path)
    return path


def hpe3d_key(key: str) -> tuple[str, Transform]:
    """Our CrossModalVAE key -> the combined reference key (tensors as they are)."""
    group, modality, *rest = key.split(".")
    module = {("encoders", "rgb"): "EncoderRGB", ("encoders", "2d"): "Encoder2D",
              ("decoders", "rgb"): "DecoderRGB", ("decoders", "3d"): "Decoder3D"}.get(
        (group, modality))  # fmt: skip
    if module is None:
        raise ValueError(f"{key}: HPE3D @b37ad62 has no module for it (no 3D encoder)")
    head, *tail = rest
    if module == "EncoderRGB" and head == "backbone":  # torchvision children, fc dropped
        layer = {"conv1": "0", "bn1": "1"}.get(tail[0]) or str(int(tail[0][-1]) + 3)
        return f"{module}.backbone.{'.'.join([layer, *tail[1:]])}", SAME
    if module == "DecoderRGB":
        return (
            f"{module}.{ {'fc': 'fc_block', 'deconv': 'conv_block'}[head] }.{'.'.join(tail)}",
            SAME,
        )
    if head == "blocks" and tail[0] == "0":  # the input LBAD
        block = "enc_inp_block" if module == "Encoder2D" else "dec_inp_block"
        return f"{module}.{block}.{'.'.join(tail[1:])}", SAME
    if head == "blocks":  # blocks.<i>.layers.<k>.<0|1>.<leaf> -> LBAD_<2(i-1)+k+1>
        pair, _, unit, layer, leaf = tail
        return f"{module}.LBAD_{2 * (int(pair) - 1) + int(unit) + 1}.{_LBAD[layer]}.{leaf}", SAME
    if head == "out":
        return f"{module}.dec_out_block.0.{tail[0]}", SAME
    return f"{module}.{'.'.join(rest)}", SAME  # fc_mean, fc_logvar


def _shape(state, key: str, what: str) -> tuple[int, ...]:
    return tuple(need(state, key, "hpe3d", what).shape)


def build_hpe3d(state: Mapping[str, torch.Tensor]) -> tuple[CrossModalVAE, dict[str, Any]]:
    """The CrossModalVAE that HPE3D's modules in ``state`` form: pairs, latent, widths."""
    names = {k.split(".", 1)[0] for k in state}
    if not names & set(MODULES) or names - set(MODULES):
        raise ValueError(
            f"not an hpe3d state_dict: its keys begin with {sorted(names)[:4]}; expected keys "
            f"prefixed by the reference's module names {MODULES} (see motionzoo.convert.hpe3d)"
        )
    pairs = [pair for pair, enc, dec in VARIANT_4 if {enc, dec} <= names]
    if not pairs:
        raise ValueError(f"hpe3d modules {sorted(names)} form none of the pairs {VARIANT_4}")
    config: dict[str, Any] = {"pairs": pairs}
    for name, key in (("EncoderRGB", "fc_mean.weight"), ("Encoder2D", "fc_mean.weight"),
                      ("Decoder3D", "dec_inp_block.0.weight"), ("DecoderRGB", "fc_block.0.weight")):  # fmt: skip
        if name in names:
            shape = _shape(state, f"{name}.{key}", "(.., latent)")
            config["latent_dim"] = shape[0] if key.startswith("fc_mean") else shape[1]
            break
    for name, key, joints in (("Encoder2D", "enc_inp_block.0.weight", lambda s: s[1] // 2),
                              ("Decoder3D", "dec_out_block.0.weight", lambda s: s[0] // 3)):  # fmt: skip
        if name in names:
            block = "enc_inp_block" if name == "Encoder2D" else "dec_inp_block"
            config["pose_hidden"] = _shape(state, f"{name}.{block}.0.weight", "(neurons, ..)")[0]
            config["num_joints"] = joints(_shape(state, f"{name}.{key}", "(.., ..)")) + 1
            lbads = {int(m[1]) for k in state if (m := re.match(rf"{name}\.LBAD_(\d+)\.", k))}
            blocks = math.ceil(len(lbads) / 2)
            config["pose_encoder_blocks" if name == "Encoder2D" else "pose_decoder_blocks"] = blocks
    if "EncoderRGB" in names:
        config["backbone_width"] = _shape(state, "EncoderRGB.backbone.0.weight", "(64, 3, 7, 7)")[0]
    if "DecoderRGB" in names:
        channels = [_shape(state, f"DecoderRGB.conv_block.{i}.weight", "(c_in, c_out, 4, 4)")[0]
                    for i in (0, 3, 6, 9, 12)]  # fmt: skip
        start = _shape(state, "DecoderRGB.fc_block.0.weight", "(256 * 8 * 8, latent)")[0]
        config["image_decoder_channels"] = channels
        config["image_size"] = 32 * math.isqrt(start // channels[0])
    config.update(
        pose_style="residual", pose_dropout=0.2, pose_loss="l1", image_loss="l1",
        kl_normalization="hpe3d", image_units="imagenet", logvar_max=30.0,
        # train.py / trainer.py: each pair a full epoch in turn, Adam 4e-4, beta_cycling
        schedule="epoch", lr=4e-4, beta=0.0025, beta_schedule="cyclical",
        beta_cycle_epochs=40, beta_cycle_ratio=0.5,
    )  # fmt: skip
    return CrossModalVAE(**config), config


SOURCES = {
    "hpe3d": Source(
        "bsridatta/HPE3D src/models/{rgb_models,pose_models}.py",
        build_hpe3d,
        hpe3d_key,
        root="",
        derived=NORMALIZER,
    ),
}
