"""The zoo's models; importing this package makes every model known to the CLI."""

from motionzoo.models.baselines.dsvae import DSVAE
from motionzoo.models.baselines.fcvae import FCVAE
from motionzoo.models.baselines.hmvae import HMVAE
from motionzoo.models.classifier import SequenceClassifier
from motionzoo.models.conv_vae import ConvVAE
from motionzoo.models.cross_modal_vae import CrossModalVAE
from motionzoo.models.graphsh import GraphSH
from motionzoo.models.hamiltonian_vae import HamiltonianVAE
from motionzoo.models.hgvae import HGVAE
from motionzoo.models.linear import LinearLifter
from motionzoo.models.seqres import SeqRes
from motionzoo.models.vaegan import VAEGAN

__all__ = [
    "CrossModalVAE",
    "DSVAE",
    "FCVAE",
    "GraphSH",
    "HamiltonianVAE",
    "HGVAE",
    "SeqRes",
    "HMVAE",
    "VAEGAN",
    "ConvVAE",
    "LinearLifter",
    "SequenceClassifier",
]
