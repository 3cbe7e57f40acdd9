"""``motionzoo experiment <name>`` (also ``python -m motionzoo.experiments <name>``): the paper
experiments as subcommands, one per module of :mod:`motionzoo.experiments`, each with the options
and help of its module (see :mod:`motionzoo.experiments.command`)."""

from __future__ import annotations

import argparse
import sys

from motionzoo.experiments import command, cross_modal, disentangle, occlusion, stochastic_depth

EXPERIMENTS = {
    "occlusion": occlusion,
    "stochastic-depth": stochastic_depth,
    "disentangle": disentangle,
    "cross-modal": cross_modal,
}


def build_parser(prog: str = "motionzoo experiment") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run an experiment of the papers on a pretrained name or a checkpoint file. "
        "The tables go to stdout, progress to stderr.",
        epilog=f"'{prog} EXPERIMENT --help' describes one experiment and its options.",
    )
    experiments = parser.add_subparsers(
        dest="experiment", required=True, metavar="EXPERIMENT", title="experiments"
    )
    for name, module in EXPERIMENTS.items():
        command.configure(experiments.add_parser(name, help=command.summary(module)), module)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one experiment: exit status 0, or 2 after a one-line error (a mistake in the input);
    ``--help`` and malformed options exit through argparse's SystemExit."""
    parser = build_parser()
    args = parser.parse_args(argv)
    status, _ = command.execute(args, f"{parser.prog} {args.experiment}")
    return status


if __name__ == "__main__":
    sys.exit(main())
