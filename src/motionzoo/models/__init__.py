"""The zoo's models; importing this package makes every model known to the CLI."""

from motionzoo.models.classifier import SequenceClassifier
from motionzoo.models.conv_vae import ConvVAE
from motionzoo.models.linear import LinearLifter
from motionzoo.models.vaegan import VAEGAN

__all__ = ["VAEGAN", "ConvVAE", "LinearLifter", "SequenceClassifier"]
