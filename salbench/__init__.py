"""salbench: a benchmark and evaluation suite for salient object detection.

Importing the package is cheap (no numpy, numba or torch): the CLI imports only
what the chosen sub-command needs.
"""

__version__ = "0.1.0"
