"""The zoo's models; importing this package makes every model known to the CLI."""

from motionzoo.models.baselines.fcvae import FCVAE
from motionzoo.models.baselines.hmvae import HMVAE
from motionzoo.models.classifier import SequenceClassifier
from motionzoo.models.conv_vae import ConvVAE
from motionzoo.models.hgvae import HGVAE
from motionzoo.models.linear import LinearLifter
from motionzoo.models.vaegan import VAEGAN

__all__ = ["FCVAE", "HGVAE", "HMVAE", "VAEGAN", "ConvVAE", "LinearLifter", "SequenceClassifier"]
