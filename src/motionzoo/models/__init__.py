"""The zoo's models; importing this package makes every model known to the CLI."""

from motionzoo.models.classifier import SequenceClassifier
from motionzoo.models.linear import LinearLifter

__all__ = ["LinearLifter", "SequenceClassifier"]
