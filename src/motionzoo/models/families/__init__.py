"""The model families: each a base class fixing the family's verbs and their contracts.

- :mod:`.lifting`: 2D -> 3D pose lifters (LinearLifter, SeqRes, GraphSH).
- :mod:`.motion_vae`: VAEs of motion windows (HGVAE, HMVAE, FCVAE).
- :mod:`.image_vae`: VAEs of images (ConvVAE, VAEGAN).
- :mod:`.sequence_vae`: VAEs of image sequences with content and motion (HamiltonianVAE, DSVAE).

Every family builds on :class:`motionzoo.models.base.ZooModule` (one ``_common_step``, one
metric container, loss logging).
"""
