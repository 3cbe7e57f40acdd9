"""What the experiments share as commands: a parser built from the experiment's module, progress
lines, and the user's mistakes told in one line.

Each experiment module defines ``add_arguments(parser)`` and ``run(args)``; :func:`configure`
turns its docstring into the help (the first paragraph as the description, the indented command
lines as examples) and adds ``--traceback``. ``python -m motionzoo.experiments.<module>`` and
``motionzoo experiment <name>`` (:mod:`motionzoo.experiments.__main__`) build the same parser.

Progress goes to stderr, one flushed line at a time, so the tables on stdout stay clean. An
unknown checkpoint, a missing file or data folder, or a model the experiment cannot use raises
:class:`CommandError`: one line on stderr and exit status 2, the traceback only with
``--traceback`` or ``MOTIONZOO_TRACEBACK=1``.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytorch_lightning as pl

from motionzoo.pretrained import load_model, read_manifest

TRACEBACK_ENV = "MOTIONZOO_TRACEBACK"


class CommandError(Exception):
    """A mistake in a command's input, told in one line (exit status 2)."""


@contextmanager
def user_errors() -> Iterator[None]:
    """Re-raise the FileNotFoundError / ValueError of a step that reads the user's input (an
    unknown checkpoint name, a missing file, a sha256 mismatch, a missing data folder) as a
    :class:`CommandError` with the same message."""
    try:
        yield
    except (FileNotFoundError, ValueError) as error:
        raise CommandError(str(error)) from error


def say(message: str) -> None:
    """One progress line on stderr, flushed at once."""
    print(message, file=sys.stderr, flush=True)


def steps(items: Iterable, what: str, min_interval_s: float = 0.0) -> Iterator:
    """``items``, saying ``what.format(item)`` with its number and the time so far as each
    starts (after the first, at most every ``min_interval_s`` seconds), and the total at the end.
    """
    n = len(items) if hasattr(items, "__len__") else "?"
    start = last = time.perf_counter()
    i = 0
    for i, item in enumerate(items, 1):
        now = time.perf_counter()
        if i == 1 or now - last >= min_interval_s:
            say(f"{what.format(item)} [{i}/{n}, {now - start:.1f} s]")
            last = now
        yield item
    say(f"done: {i} in {time.perf_counter() - start:.1f} s")


def _source(name_or_path: str) -> str | None:
    """What :func:`~motionzoo.pretrained.load_model` will read for ``name_or_path`` and how it
    checks it; None when it is neither a name nor a file (load_model then says so)."""
    manifest = read_manifest()
    if name_or_path in manifest:
        entry = manifest[name_or_path]
        return f"pretrained weights {entry['file']}, sha256 {entry['sha256'][:12]}... checked"
    path = Path(name_or_path)
    if not path.is_file():
        return None
    if any(e["file"] == path.name for e in read_manifest(path.parent).values()):
        return f"{path}, sha256 checked against {path.parent / 'manifest.json'}"
    return f"{path} (no manifest.json beside it lists the file: sha256 not checked)"


def load_checkpoint(name_or_path: str, *needs: str, purpose: str = "") -> pl.LightningModule:
    """The model (eval mode) of a pretrained name or checkpoint file, saying which file it reads;
    a model without the attributes ``needs`` is refused with ``purpose`` as the reason."""
    source = _source(str(name_or_path))
    if source is not None:
        say(f"loading {name_or_path}: {source}")
    start = time.perf_counter()
    with user_errors():
        model = load_model(name_or_path)
    missing = [attribute for attribute in needs if not hasattr(model, attribute)]
    if missing:
        raise CommandError(
            f"{name_or_path} is a {type(model).__name__}, which has no {', '.join(missing)}; "
            f"{purpose}"
        )
    size = sum(p.numel() for p in model.parameters()) / 1e6
    seconds = time.perf_counter() - start
    say(f"loaded {type(model).__name__} ({size:.2f}M parameters) in {seconds:.1f} s")
    return model


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks and ends each option's help with its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            action.option_strings
            and not action.required
            and not any(default is nothing for nothing in (None, False, argparse.SUPPRESS))
            and "default" not in text
        ):
            shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
            text += f" (default: {shown})"
        return text


def _paragraphs(module: ModuleType) -> list[str]:
    return inspect.cleandoc(module.__doc__ or "").split("\n\n")


def summary(module: ModuleType) -> str:
    """The first sentence of the module docstring, for a list of commands."""
    first = " ".join(_paragraphs(module)[0].split())
    return re.split(r"(?<=[.!?])\s+(?=[A-Z])", first, maxsplit=1)[0]


def configure(parser: argparse.ArgumentParser, module: ModuleType) -> argparse.ArgumentParser:
    """Give ``parser`` the experiment ``module``'s help texts, its options and ``--traceback``;
    ``parser.parse_args().run`` is then the module's ``run``."""
    paragraphs = _paragraphs(module)
    examples = [p for p in paragraphs if p.startswith("    ")]
    parser.description = paragraphs[0]
    parser.epilog = "\n\n".join(
        (["examples:\n" + "\n\n".join(examples)] if examples else [])
        + [f"The full protocol: python -m pydoc {module.__spec__.name}"]
    )
    parser.formatter_class = HelpFormatter
    module.add_arguments(parser)
    parser.add_argument(
        "--traceback",
        action="store_true",
        help=f"show the full traceback of an error (or set {TRACEBACK_ENV}=1)",
    )
    parser.set_defaults(run=module.run)
    return parser


def execute(args: argparse.Namespace, prog: str) -> tuple[int, Any]:
    """``(0, args.run(args))``, or ``(2, None)`` after telling a :class:`CommandError` in one
    line (re-raised with ``--traceback`` or ``MOTIONZOO_TRACEBACK=1``)."""
    try:
        return 0, args.run(args)
    except CommandError as error:
        if args.traceback or os.environ.get(TRACEBACK_ENV) == "1":
            raise
        print(f"{prog}: error: {error}", file=sys.stderr, flush=True)
        return 2, None


def main(module: ModuleType, argv: list[str] | None = None) -> Any:
    """``python -m motionzoo.experiments.<module>``: the result of the module's ``run``, or
    SystemExit(2) after a one-line error."""
    prog = f"python -m {module.__spec__.name}"
    args = configure(argparse.ArgumentParser(prog=prog), module).parse_args(argv)
    status, result = execute(args, prog)
    if status:
        raise SystemExit(status)
    return result
