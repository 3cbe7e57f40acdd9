"""motionzoo: a PyTorch Lightning model zoo for human motion, human pose and image sequences."""

from motionzoo.pretrained import (
    download_pretrained,
    list_pretrained,
    load_model,
    load_pretrained,
    pretrained_info,
)

__version__ = "0.1.0"
__all__ = [
    "__version__",
    "download_pretrained",
    "list_pretrained",
    "load_model",
    "load_pretrained",
    "pretrained_info",
]
