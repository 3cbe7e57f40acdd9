"""The zoo's shared Trainer set-up: precision by device, checkpointing, LR monitor, TensorBoard.

Every entry point (the CLI, ``make demo``, the benchmark scripts, tests) builds its Trainer from
:func:`trainer_defaults`, so a model trains the same way everywhere. Distribution is Lightning's
own: ``strategy="auto"`` picks DDP when ``devices``/``num_nodes`` ask for several processes
(torchrun and SLURM environments are detected by Lightning).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins import CheckpointIO, TorchCheckpointIO
from lightning_fabric.plugins.precision.precision import _PRECISION_INPUT
from pytorch_lightning.accelerators import CPUAccelerator
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger

from motionzoo.allocator import retained_cpu_memory
from motionzoo.data.cache import atomic_write, sweep_stale_temporaries

# Lightning advertises a cloud logger at every Trainer start; the zoo logs to TensorBoard.
for _name in ("lightning_fabric.utilities.rank_zero", "pytorch_lightning.utilities.rank_zero"):
    logging.getLogger(_name).addFilter(lambda record: "litlogger" not in record.getMessage())


def resolve_precision(precision: str | int | None = "auto", accelerator: str = "auto") -> str | int:
    """``"auto"`` -> ``"bf16-mixed"`` on CUDA with bf16, ``"16-mixed"`` on other CUDA,
    ``"32-true"`` on CPU (or when ``accelerator`` is ``"cpu"``); anything else is returned as is."""
    if precision not in ("auto", None):
        return precision
    on_cuda = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
    if not on_cuda:
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def default_callbacks(monitor: str | None = None, mode: str = "min") -> list[pl.Callback]:
    """``last.ckpt`` always, plus the best checkpoint by ``monitor``, and the LR monitor."""
    checkpoint = ModelCheckpoint(
        monitor=monitor,
        mode=mode,
        save_last=True,
        save_top_k=1,
        filename="best-{epoch}-{step}" if monitor else "{epoch}-{step}",
        auto_insert_metric_name=False,
    )
    return [checkpoint, LearningRateMonitor(logging_interval="step")]


def trainer_defaults(
    save_dir: str = "lightning_logs",
    name: str = "default",
    monitor: str | None = None,
    mode: str = "min",
    **overrides: Any,
) -> dict[str, Any]:
    """Keyword arguments for :class:`pytorch_lightning.Trainer` with the zoo's defaults."""
    kwargs: dict[str, Any] = dict(
        accelerator="auto",
        devices="auto",
        strategy="auto",
        precision="auto",
        logger=TensorBoardLogger(save_dir=save_dir, name=name),
        callbacks=default_callbacks(monitor, mode),
        log_every_n_steps=10,
        enable_progress_bar=True,
    )
    kwargs.update(overrides)
    return kwargs


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file in their own folder, fsynced and renamed (whatever
    TMPDIR is): a kill mid-write leaves the previous checkpoint, never a truncated one. The first
    save into a folder sweeps the temporary checkpoint files a killed run left there (one process
    writes a run's checkpoints)."""

    def __init__(self) -> None:
        super().__init__()
        self._swept: set[Path] = set()

    def save_checkpoint(self, checkpoint: dict, path, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        path = Path(path)
        if path.parent not in self._swept:
            sweep_stale_temporaries(path, older_than=0, pattern=".*.ckpt.*.tmp")
            self._swept.add(path.parent)
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))


class Trainer(pl.Trainer):
    """:class:`pytorch_lightning.Trainer` whose ``precision`` also takes ``"auto"`` (the
    default): bf16-mixed on CUDA with bf16, 16-mixed on other CUDA, 32-true on CPU; checkpoints
    are written atomically (:class:`AtomicCheckpointIO`) unless ``plugins`` name another
    CheckpointIO. On CPU, ``fit`` keeps the memory it frees for the next step
    (:func:`motionzoo.allocator.retained_cpu_memory`; HamiltonianVAE's paper step 38.8 -> 28.2 s)
    and hands it back at the end; ``retain_cpu_memory=False`` leaves glibc's defaults."""

    def __init__(
        self,
        *args: Any,
        precision: _PRECISION_INPUT | Literal["auto"] = "auto",
        retain_cpu_memory: bool = True,
        **kwargs: Any,
    ):
        self.retain_cpu_memory = retain_cpu_memory
        accelerator = kwargs.get("accelerator", "auto")
        plugins = kwargs.pop("plugins", None)
        plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [plugins] * bool(plugins)
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            plugins.append(AtomicCheckpointIO())
        super().__init__(
            *args,
            precision=resolve_precision(precision, str(accelerator)),
            plugins=plugins,
            **kwargs,
        )

    def fit(self, *args: Any, **kwargs: Any) -> None:
        on_cpu = isinstance(self.accelerator, CPUAccelerator)
        with retained_cpu_memory(self.retain_cpu_memory and on_cpu):
            super().fit(*args, **kwargs)


def make_trainer(**kwargs: Any) -> Trainer:
    """A Trainer with :func:`trainer_defaults`; keyword arguments override them."""
    return Trainer(**trainer_defaults(**kwargs))
