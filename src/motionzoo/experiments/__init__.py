"""Experiments of the paper models, one module each, run as ``motionzoo experiment <name>`` (or
``python -m motionzoo.experiments <name>``, or ``python -m motionzoo.experiments.<module>``); what
they share as commands is in :mod:`motionzoo.experiments.command`."""
