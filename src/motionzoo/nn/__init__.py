"""Reusable layers, one idea per module.

- ``graph``: graph convolutions over a skeleton (vanilla, SemGConv, PreAggr) and the GConv unit
  graph conv -> BatchNorm -> ReLU -> Dropout (GraphSH, SeqRes).
- ``hourglass``: skeletal pool / unpool, the graph hourglass and the SE block of GraphSH.
- ``non_local``: SemGCN's non-local block over groups of joints (SeqRes ``non_local``).
- ``kernels``: fused CPU kernels behind ``graph`` and ``hourglass`` (``fused_kernels=False``
  runs the plain PyTorch composition they equal).
- ``linear``: the Martinez baseline's Linear-BatchNorm-ReLU-Dropout unit and residual block
  (LinearLifter, the cross-modal VAE's pose networks).
- ``graph_vae``: HG-VAE's GCL / GCB layers; ``conv``: 64x64 conv encoders, decoders and
  discriminator; ``resnet``: ResNet-18; ``cross_modal``: the cross-modal VAE's encoders and
  decoders; ``sequence_vae``: blocks of sequence VAEs; ``symplectic``: Hamiltonian operators.
"""
