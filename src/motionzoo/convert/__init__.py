"""Reference checkpoints -> motionzoo models (DESIGN.md section 8, "Reference equivalence").

``convert(checkpoint, source)`` reads a network's weights as its authors' training script saves
them and returns the motionzoo model that computes the same function, its constructor options
chosen from the weights' shapes; ``save_converted`` writes it as a zoo weights file that
``motionzoo.load_model(path)``, ``Model.load_from_checkpoint(path)`` and
``motionzoo test --ckpt_path`` read. One module per reference, each with its ``SOURCES``:

- ``semgcn``, ``martinez``: garyzhao/SemGCN (``motionzoo.convert.semgcn``).
- ``graphsh-<gcn>`` (one per ``--gcn``): tamasino52/GraphSH (``motionzoo.convert.graphsh``).
- ``dsvae``: yatindandi/Disentangled-Sequential-Autoencoder (``motionzoo.convert.dsvae``).
- ``hpe3d``: bsridatta/HPE3D @b37ad62 (``motionzoo.convert.hpe3d``).
- ``vaegan_pytorch``: lucabergamini/VAEGAN-PYTORCH @fa75275 (``motionzoo.convert.vaegan_pytorch``).
- ``hgvae``: bouracha/generative_imputation @31de49e (``motionzoo.convert.generative_imputation``).
- ``halo``: MdAsifKhan/HALO @1195e6a (``motionzoo.convert.halo``).

Every reference key is used and every key of ours is filled; a missing or extra key, or a tensor
of the wrong shape, is a ``ValueError`` naming the reference key and both shapes. Equality with
the reference is tested on fixtures written by ``scripts/fixtures_<reference>.py``
(``tests/convert/``).

    motionzoo convert --from semgcn ckpt_semgcn_nonlocal.pth.tar semgcn_nonlocal.ckpt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from motionzoo.convert import (
    dsvae,
    generative_imputation,
    graphsh,
    halo,
    hpe3d,
    semgcn,
    vaegan_pytorch,
)
from motionzoo.convert._core import Source, apply, read_checkpoint, save_converted

__all__ = ["SOURCES", "Source", "convert", "main", "read_checkpoint", "save_converted"]

SOURCES: dict[str, Source] = {
    **semgcn.SOURCES,
    **graphsh.SOURCES,
    **dsvae.SOURCES,
    **hpe3d.SOURCES,
    **vaegan_pytorch.SOURCES,
    **generative_imputation.SOURCES,
    **halo.SOURCES,
}


def convert(checkpoint: Any, source: str) -> tuple[pl.LightningModule, dict[str, Any]]:
    """The motionzoo model (eval mode) computing the function of ``source``'s weights.

    checkpoint: a path, the reference's checkpoint dict or a bare state_dict.
    source: a key of ``SOURCES``.
    Returns the model and ``info``: source, reference repository, class_path, the constructor
    ``config`` chosen from the shapes, the checkpoint's ``epoch`` / ``error`` when given, and
    ``mapping`` (reference key -> our keys).
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {sorted(SOURCES)}")
    return apply(SOURCES[source], source, checkpoint)


def main(argv: list[str] | None = None) -> int:
    """``--from SOURCE SRC DST``: convert the reference checkpoint SRC into the zoo file DST."""
    parser = argparse.ArgumentParser(
        prog="motionzoo convert",
        description="Convert a reference implementation's checkpoint into a motionzoo weights "
        "file (readable by motionzoo.load_model and --ckpt_path).",
    )
    parser.add_argument("--from", dest="source", required=True, choices=sorted(SOURCES))
    parser.add_argument(
        "src", type=Path, help="the reference checkpoint (e.g. ckpt_semgcn.pth.tar)"
    )
    parser.add_argument("dst", type=Path, help="the motionzoo weights file to write")
    args = parser.parse_args(argv)
    try:
        model, info = convert(args.src, args.source)
    except (ValueError, FileNotFoundError) as error:
        print(f"motionzoo convert: error: {error}", file=sys.stderr)
        return 2
    save_converted(model, args.dst, source=args.source, info=info)
    config = ", ".join(f"{k}={v}" for k, v in info["config"].items())
    trained = "".join(f", {k} {info[k]}" for k in ("epoch", "error") if k in info)
    print(f"{args.src} -> {args.dst}: {type(model).__name__}({config}){trained}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
