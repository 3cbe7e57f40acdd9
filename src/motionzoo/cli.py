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

import difflib
import inspect
import os
import re
import sys
import warnings
from importlib import resources
from pathlib import Path
from typing import NoReturn

import pytorch_lightning as pl
from jsonargparse import DefaultHelpFormatter
from pytorch_lightning import callbacks
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import (
    LightningArgumentParser,
    LightningCLI,
    _get_module_type,
    _InstantiatorFn,
)

import motionzoo.data  # noqa: F401  (registers every DataModule with the parser)
import motionzoo.models  # noqa: F401  (registers every model with the parser)
from motionzoo import __version__
from motionzoo.pretrained import (
    ChecksumError,
    _import,
    load_pretrained_into,
    manifest_entry_beside,
)
from motionzoo.trainer import Trainer

TRACEBACK_ENV = "MOTIONZOO_TRACEBACK"
PRETRAINED = "pretrained:"  # --ckpt_path pretrained:<name>
DESCRIPTION = f"""motionzoo {__version__}: train, validate, test and predict with the zoo's models.

  motionzoo fit --config linear/h36m_synthetic   a packaged config by name, or a config file
  motionzoo test --config C --ckpt_path pretrained:<name>   published weights (fit: fine-tune)
  motionzoo fit --config C --ckpt_path last      resume the newest run of that config
  motionzoo models                               models, configs and pretrained weights
  motionzoo experiment --help                    the papers' experiments
  motionzoo export NAME --format onnx           a lifter as TorchScript or ONNX
  motionzoo convert --from semgcn SRC DST       a reference implementation's weights (semgcn, martinez)
  motionzoo --version

Models: {", ".join(motionzoo.models.__all__)}.
Errors print one line; add --traceback (or set {TRACEBACK_ENV}=1) for the full traceback."""

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


def _traceback_requested() -> bool:
    return os.environ.get(TRACEBACK_ENV, "") not in ("", "0")


def _accepted_options(class_path: str) -> list[str]:
    """Constructor arguments of a zoo class and of the bases its ``**kwargs`` reach."""
    try:
        cls = _import(class_path, object)
    except (ValueError, ImportError, AttributeError):
        return []
    names = []
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            names += [p for p in inspect.signature(klass.__init__).parameters if p != "self"]
    return names


def _type_names(text: str) -> str:
    names = re.findall(r"<class '(?:[\w.]+\.)?(\w+)'>", text)
    return " or ".join("None" if n == "NoneType" else n for n in names)


def summarise_parse_error(message: str) -> str:
    """jsonargparse's multi-line error as one line: the key, the class and what was wrong."""
    flat = " ".join(line.strip() for line in message.splitlines() if line.strip())
    first = re.match(r'Parser key "([^"]+)":\s*(.*)', flat)
    if first is None:
        return flat
    key, rest = first.groups()
    problem = re.search(r"- Problem with given class_path '([^']+)':\s*(.*?)(?: - |$)", rest)
    if problem is not None:
        class_path, detail = problem.groups()
        detail = re.sub(r'Parser key "([^"]+)":\s*', r"\1: ", detail).strip()
        detail = re.sub(r"Expected a <class '(?:[\w.]+\.)?(\w+)'>\. Got value: (.*)",
                        r"expected \1, got '\2'", detail)  # fmt: skip
        unknown = re.search(r"Option '([^']+)' is not accepted", detail)
        if unknown:
            close = difflib.get_close_matches(unknown.group(1), _accepted_options(class_path))
            detail += f"; did you mean {close[0]!r}?" if close else ""
        return f"{key} ({class_path}): {detail}"
    given = re.search(r"Given value: (.*)$", rest)
    subtypes = re.search(r"Subtypes: \[(.*?)\]", rest)
    if given and subtypes:
        return f"{key}: expected {_type_names(subtypes.group(1))}, got {given.group(1)!r}"
    return f"{key}: {rest}"


class _RawDescription(DefaultHelpFormatter):
    """The description as written (its lines are laid out by hand)."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "".join(indent + line for line in text.splitlines(keepends=True))


class _Parser(LightningArgumentParser):
    """Parse errors as one line and exit code 2 (the full message with --traceback)."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        # Nested parsers (a class's arguments, union subtypes) raise for the caller to catch.
        if _traceback_requested() or not self.exit_on_error:
            super().error(message, ex)
        parser = getattr(ex, "subcommand_parser", None) or self
        prog = parser.prog.replace(" [options]", "")
        _fail(f"{prog}: error: {summarise_parse_error(message)} (see {prog} --help)")


def _fail(line: str) -> NoReturn:
    sys.stderr.write(line + "\n")
    sys.exit(2)


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


class LearningRateMonitor(callbacks.LearningRateMonitor):
    """Lightning's LearningRateMonitor that stands aside when the Trainer has no logger
    (``--trainer.logger false``) instead of stopping the run."""

    def on_train_start(self, trainer, *args, **kwargs) -> None:
        if trainer.loggers:
            super().on_train_start(trainer, *args, **kwargs)

    def on_train_batch_start(self, trainer, *args, **kwargs) -> None:
        if trainer.loggers:
            super().on_train_batch_start(trainer, *args, **kwargs)

    def on_train_epoch_start(self, trainer, *args, **kwargs) -> None:
        if trainer.loggers:
            super().on_train_epoch_start(trainer, *args, **kwargs)


def latest_run(save_dir: str | Path, name: str) -> tuple[int, Path] | None:
    """(version, last.ckpt) of the newest ``<save_dir>/<name>/version_N`` that has a last.ckpt."""
    runs = []
    for last in Path(save_dir, name).glob("version_*/checkpoints/last.ckpt"):
        number = last.parent.parent.name.removeprefix("version_")
        if number.isdigit():
            runs.append((int(number), last))
    return max(runs) if runs else None


class MotionZooCLI(LightningCLI):
    def before_instantiate_classes(self) -> None:
        """``--ckpt_path pretrained:<name>``: start from (fit) or evaluate (validate / test /
        predict) a published weights file. ``fit --ckpt_path last``: continue the newest run of
        the config's logger folder, in its own version folder (its TensorBoard curves and
        checkpoints continue)."""
        subcommand = self.config.get("subcommand")
        config = self.config.get(subcommand) if subcommand else None
        ckpt_path = config.get("ckpt_path") if config is not None else None
        if isinstance(ckpt_path, str) and ckpt_path.startswith(PRETRAINED):
            self.pretrained, config.ckpt_path = ckpt_path.removeprefix(PRETRAINED), None
            return
        if isinstance(ckpt_path, str) and Path(ckpt_path).is_file():
            if manifest_entry_beside(ckpt_path) is not None:  # a zoo weights file, not a run's
                self.pretrained, config.ckpt_path = ckpt_path, None
                return
        if subcommand != "fit" or ckpt_path != "last":
            return
        logger = config.trainer.get("logger")
        init = logger.get("init_args") if hasattr(logger, "get") else None
        if init is None or init.get("save_dir") is None:
            return  # no logger folder to look in: Lightning's own "last" lookup
        name = init.get("name") or "lightning_logs"
        found = latest_run(init.save_dir, name)
        if found is None:
            _fail(
                f"motionzoo fit: error: --ckpt_path last: no run to resume under "
                f"{Path(init.save_dir, name)} (no version_*/checkpoints/last.ckpt)"
            )
        init.version, config.ckpt_path = found[0], str(found[1])
        sys.stderr.write(f"motionzoo: resuming {found[1]}\n")

    def _parse_ckpt_path(self) -> None:
        # A zoo weights file (listed by the manifest beside it) carries the architecture of its
        # own config, not a run's: the --config builds the model, load_pretrained_into checks it.
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if isinstance(ckpt_path, str) and Path(ckpt_path).is_file():
            if manifest_entry_beside(ckpt_path) is not None:
                return
        super()._parse_ckpt_path()

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        if getattr(self, "pretrained", None):
            load_pretrained_into(self.model, self.pretrained)
            sys.stderr.write(f"motionzoo: weights of pretrained {self.pretrained!r} loaded\n")

    def init_parser(self, **kwargs) -> LightningArgumentParser:
        kwargs.setdefault("description", DESCRIPTION)
        kwargs.setdefault("formatter_class", _RawDescription)
        return super().init_parser(**kwargs)

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
        parser_kwargs={"prog": "motionzoo"},
        parser_class=_Parser,
        args=args,
        run=run,
        auto_configure_optimizers=False,
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``motionzoo`` and ``lightning`` console scripts."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--traceback" in argv:
        argv.remove("--traceback")
        os.environ[TRACEBACK_ENV] = "1"
    if argv[:1] in (["--version"], ["-V"]):
        print(f"motionzoo {__version__}")
        return
    if argv[:1] == ["models"]:
        from motionzoo.index import model_index

        print(model_index(markdown="--markdown" in argv))
        return
    if argv[:1] == ["experiment"]:
        from motionzoo.experiments.__main__ import main as experiment

        sys.exit(experiment(argv[1:]))
    if argv[:1] == ["export"]:
        from motionzoo.export import main as export

        sys.exit(export(argv[1:]))
    if argv[:1] == ["convert"]:
        from motionzoo.convert import main as convert

        sys.exit(convert(argv[1:]))
    # LightningCLI reads sys.argv itself (given ``args`` as well, it warns on every run).
    sys.argv[1:] = resolve_config_arguments(argv)
    try:
        build_cli()
    except (FileNotFoundError, ValueError, ChecksumError) as error:  # what a user can fix
        if _traceback_requested():
            raise
        _fail(f"motionzoo: error: {error} (the full traceback with --traceback)")


if __name__ == "__main__":
    main()
