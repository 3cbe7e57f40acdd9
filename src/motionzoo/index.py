"""The model index (``motionzoo models``): every model of the zoo with its family, the packaged
configs that build it and the pretrained weights of the manifest with their metrics and training
data. Generated from the code and ``checkpoints/manifest.json``, so it cannot drift from them."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

import motionzoo.models
from motionzoo.pretrained import read_manifest

HEADLINE_METRICS = 3  # metrics shown per pretrained entry


def _headline(metrics: dict[str, float]) -> str:
    """The first few metrics of an entry, losses left out."""
    shown = [(k, v) for k, v in metrics.items() if "loss" not in k][:HEADLINE_METRICS]
    return ", ".join(f"{k} {v:.4g}" for k, v in shown)


def _family(cls: type) -> str:
    for base in cls.__mro__[1:]:
        if base.__module__.startswith("motionzoo.models.families."):
            return base.__module__.rpartition(".")[2].replace("_", " ")
    return "-"


def _configs() -> dict[str, list[str]]:
    """class path -> packaged config names (``<model>/<dataset>``)."""
    root = Path(str(resources.files("motionzoo") / "configs"))
    found: dict[str, list[str]] = {}
    for path in sorted(root.glob("*/*.yaml")):
        class_path = yaml.safe_load(path.read_text())["model"]["class_path"]
        found.setdefault(class_path, []).append(f"{path.parent.name}/{path.stem}")
    return found


def pretrained_table() -> str:
    """The pretrained weights as a Markdown table (README's "Pretrained weights", kept equal to
    this by a test): name, model, the config that rebuilds it, headline metrics, training data."""
    rows = [
        "| weights | model | config | metrics | trained on |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, entry in sorted(read_manifest().items()):
        model = entry["class_path"].rpartition(".")[2]
        data = entry["training_data"].replace("|", "/")
        rows.append(
            f"| `{name}` | {model} | `{entry['config']}` | {_headline(entry['metrics'])} | {data} |"
        )
    return "\n".join(rows)


def model_index(markdown: bool = False) -> str:
    """The index as text: one block per model, its configs and pretrained weights (``markdown``:
    the pretrained weights as the README's table)."""
    if markdown:
        return pretrained_table()
    configs, manifest = _configs(), read_manifest()
    blocks = []
    for name in sorted(motionzoo.models.__all__):
        cls = getattr(motionzoo.models, name)
        class_path = f"{cls.__module__}.{cls.__qualname__}"
        lines = [f"{name}  ({_family(cls)}; {class_path})"]
        lines.append(f"  configs: {', '.join(configs.get(class_path, [])) or '-'}")
        for weights, entry in sorted(manifest.items()):
            if entry["class_path"] != class_path:
                continue
            lines.append(f"  pretrained {weights}: {_headline(entry['metrics'])}")
            lines.append(f"    config {entry['config']}; data: {entry['training_data']}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
