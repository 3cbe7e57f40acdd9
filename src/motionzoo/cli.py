"""``motionzoo fit|validate|test|predict --config configs/<model>/<dataset>.yaml``.

``--config`` takes a file, or the name of a config shipped with the package
(``graphsh/h36m_synthetic``, with or without ``configs/`` and ``.yaml``), so the commands work from
any folder after ``pip install motionzoo``.

A LightningCLI in subclass mode over every LightningModule and LightningDataModule of the zoo:
configs name classes by ``class_path`` (e.g. ``motionzoo.models.linear.LinearLifter`` or just
``LinearLifter``), and importing :mod:`motionzoo.models` and :mod:`motionzoo.data` makes them all
known to the parser, so there is no registry of names to keep. The Trainer is
:class:`motionzoo.trainer.Trainer` (``precision: auto``), and two callbacks are always present and
configurable from YAML: ``checkpoint`` (ModelCheckpoint, ``last.ckpt`` + best by
``checkpoint.monitor``) and ``lr_monitor``.
"""

from __future__ import annotations

import sys
import warnings
from importlib import resources
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.cli import (
    LightningArgumentParser,
    LightningCLI,
    _get_module_type,
    _InstantiatorFn,
)

import motionzoo.data  # noqa: F401  (registers every DataModule with the parser)
import motionzoo.models  # noqa: F401  (registers every model with the parser)
from motionzoo.trainer import Trainer

# Lightning 2.6 on torch 2.13 warns about its own use of a deprecated pytree class on every run.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def packaged_config(name: str) -> Path | None:
    """The config shipped with the package named ``name`` (``linear/h36m_synthetic``,
    ``configs/linear/h36m_synthetic.yaml`` ...), or None."""
    relative = name.removeprefix("configs/")
    relative = relative if relative.endswith((".yaml", ".yml")) else relative + ".yaml"
    path = Path(str(resources.files("motionzoo") / "configs" / relative))
    return path if path.is_file() else None


def packaged_configs() -> list[str]:
    """Names of the configs shipped with the package (``<model>/<dataset>``)."""
    root = Path(str(resources.files("motionzoo") / "configs"))
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.glob("*/*.yaml"))


def resolve_config_arguments(args: list[str]) -> list[str]:
    """``args`` with each ``--config X`` that is not a file replaced by the packaged config X."""
    out, expect_config = [], False
    for arg in args:
        flag, eq, value = arg.partition("=")
        if expect_config or (flag == "--config" and eq):
            value = arg if expect_config else value
            if not Path(value).exists() and (found := packaged_config(value)) is not None:
                value = str(found)
            arg = value if expect_config else f"--config={value}"
        expect_config = arg == "--config"
        out.append(arg)
    return out


class _TopLevelInstantiator(_InstantiatorFn):
    """Lightning's instantiator, which hands the config of ``model`` / ``data`` to the
    ``save_hyperparameters()`` of the class it builds, but only for the class that config names:
    a DataModule nested in another (``FramesDataModule``'s ``source``) records its own arguments,
    not its parent's."""

    def __call__(self, class_type, *args, applied_instantiation_links: dict, **kwargs):
        self.cli._dump_config()
        config = self.cli.config_dump.get(self.key, {})
        named = config.get("class_path") if isinstance(config, dict) else None
        if named and named.rpartition(".")[2] != class_type.__name__:
            return class_type(*args, **kwargs)
        return super().__call__(
            class_type, *args, applied_instantiation_links=applied_instantiation_links, **kwargs
        )


class MotionZooCLI(LightningCLI):
    def _add_instantiators(self) -> None:
        for key, base, subclasses in (
            ("model", self._model_class, self.subclass_mode_model),
            ("data", self._datamodule_class, self.subclass_mode_data),
        ):
            self.parser.add_instantiator(
                _TopLevelInstantiator(cli=self, key=key),
                _get_module_type(base),
                subclasses=subclasses,
            )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.save_last": True,
                "checkpoint.save_top_k": 1,
                "checkpoint.auto_insert_metric_name": False,
                "checkpoint.filename": "best-{epoch}-{step}",
            }
        )
        parser.add_lightning_class_args(LearningRateMonitor, "lr_monitor")
        parser.set_defaults({"lr_monitor.logging_interval": "step"})


def build_cli(args: list[str] | None = None, run: bool = True) -> MotionZooCLI:
    """The CLI over ``args`` (default ``sys.argv``); with ``run=False`` it only builds the
    model, DataModule and Trainer of the config (``args`` then omit the subcommand). A
    ``--config`` may name a packaged config (module docstring)."""
    if args is not None:
        args = resolve_config_arguments(list(args))
    return MotionZooCLI(
        model_class=pl.LightningModule,
        datamodule_class=pl.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        trainer_class=Trainer,
        trainer_defaults={
            "logger": {
                "class_path": "pytorch_lightning.loggers.TensorBoardLogger",
                "init_args": {"save_dir": "lightning_logs", "name": "default"},
            },
            "log_every_n_steps": 10,
            # Where checkpoints go when there is no logger (fast_dev_run): never ./checkpoints,
            # which in this repository holds the pretrained weights.
            "default_root_dir": "lightning_logs",
        },
        save_config_kwargs={"overwrite": True},
        args=args,
        run=run,
        auto_configure_optimizers=False,
    )


def main() -> None:
    """Entry point of the ``motionzoo`` and ``lightning`` console scripts."""
    # LightningCLI reads sys.argv itself (given ``args`` as well, it warns on every run).
    sys.argv[1:] = resolve_config_arguments(sys.argv[1:])
    build_cli()


if __name__ == "__main__":
    main()
