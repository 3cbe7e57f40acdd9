"""``motionzoo fit|validate|test|predict --config configs/<model>/<dataset>.yaml``.

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
    model, DataModule and Trainer of the config (``args`` then omit the subcommand)."""
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
    build_cli(sys.argv[1:])


if __name__ == "__main__":
    main()
