"""Deep-learning parts shared by every learned method: backbones and their
weight-file key mapping, common modules, the learned-method base class, the
trainer and its data pipeline. Imports torch; nothing outside the learned
methods imports this package."""
