"""Deep-learning parts shared by every learned method (imports torch):
``backbones`` (five-level feature extractors) and ``weights`` (weight-file
reading and key mapping), ``modules`` (conv-BN-PReLU, ASPP, the one bilinear
resize), ``learned`` (the network and method base classes, inference),
``checkpoint`` (the checkpoint file format, read at inference and written by
training), ``train`` (the trainer) with its data pipeline ``data``,
``flops`` (MAC counting) and ``crf`` (dense-CRF post-processing)."""
