"""Re-store a pretrained checkpoint with float16 weights (half the file) and re-measure its
metrics with the stored weights, keeping the rest of its manifest entry.

    .venv/bin/python scripts/store_half.py graphsh-synthetic vaegan-sprites-synthetic

Only models with an evaluation below are supported (lifters on the synthetic H3.6M test split;
VAEGAN on test frames of the synthetic Sprites, as scripts/compare_vaegan.py measures them).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

import torch

from motionzoo.data.frames import FramesDataModule
from motionzoo.data.h36m_pose import H36MPoseDataModule
from motionzoo.models.families.lifting import LiftingModule
from motionzoo.models.vaegan import VAEGAN
from motionzoo.pretrained import load_pretrained, pretrained_info, save_pretrained
from motionzoo.trainer import make_trainer

SCRIPTS = Path(__file__).resolve().parent


def evaluate_lifter(model: LiftingModule) -> dict[str, float]:
    data = H36MPoseDataModule(root=None, num_joints=model.num_joints)
    trainer = make_trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    results = trainer.test(model, datamodule=data, verbose=False)[0]
    return {k: v for k, v in results.items() if k.startswith("test/")}


def evaluate_vaegan(model: VAEGAN) -> dict[str, float]:
    spec = importlib.util.spec_from_file_location("compare_vaegan", SCRIPTS / "compare_vaegan.py")
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    with tempfile.TemporaryDirectory() as tmp:
        source = {
            "class_path": "motionzoo.data.sprites.SpritesDataModule",
            "init_args": {"root": str(Path(tmp) / "sprites"), "synthetic_into_root": True,
                          "synthetic_characters": 22, "val_fraction": 0.1},
        }  # fmt: skip
        data = FramesDataModule(source, frames_per_sequence=None, batch_size=32)
        data.prepare_data()
        data.setup("test")
        return compare.evaluate(model, data.test_dataloader())


def main(names: list[str]) -> None:
    torch.manual_seed(0)
    for name in names:
        info = pretrained_info(name)
        model = load_pretrained(name)
        evaluate = evaluate_vaegan if isinstance(model, VAEGAN) else evaluate_lifter
        before = evaluate(model)
        half = model.half().float()  # exactly what loading the float16 file gives
        after = evaluate(half)
        for key in sorted(after):
            print(
                f"{name} {key}: float32 {before.get(key, float('nan')):.4f} -> float16 {after[key]:.4f}"
            )
        path = save_pretrained(
            half, name, config=info["config"], training_data=info["training_data"],
            metrics=after, description=info["description"] + "; weights stored as float16",
            storage_dtype=torch.float16,
        )  # fmt: skip
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main(sys.argv[1:])
