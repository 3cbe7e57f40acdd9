"""Experiments of the paper models, runnable as ``python -m motionzoo.experiments.<name>``."""
