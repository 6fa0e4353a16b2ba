"""Shared machinery of the classical (superpixel-graph) saliency methods MR,
wCtr* and BSCA. Everything follows the authors' released MATLAB code rather
than the papers; where the code bases disagree (they were written by different
groups) both variants are provided and each method module picks its own.
One module per job:

* :mod:`salbench.classical.base`: :class:`ClassicalMethod`, the base class of
  the methods (CPU, one process per core, one image at a time), and the input
  normalisation every image goes through (``as_rgb_uint8``, ``predict_many``,
  ``ClassicalInputError``).
* :mod:`salbench.classical.matlab`: NumPy / SciPy equivalents of the MATLAB
  built-ins the code calls (``rgb2gray``, ``edge`` Sobel and Canny,
  ``graythresh``, ``im2uint8`` on writing, min-max normalisation, ``eps``).
* :mod:`salbench.classical.colour`: the four RGB → CIELab conversions of the
  authors' code (Getreuer's ``colorspace.m`` v1.2 and v1.1, Ruzon's
  ``RGB2Lab.m``, Zhu's ``Rgb2Lab.h``), as array functions and as numba
  per-pixel kernels on uint8 images.
* :mod:`salbench.classical.frame`: frame removal (``removeframe.m`` in Zhu's
  and in the MR / BSCA style) and ``framed_saliency``, the outer loop that
  crops the frame, computes superpixel saliency and pastes the map back.
* :mod:`salbench.classical.slic`: a numba SLIC with the seedings of Achanta's
  ``SLIC.cpp``, of ``SLICSuperpixelSegmentation.exe`` and of Zhu's
  ``SLIC_mex``, and ``Superpixels``, a segmentation with its per-superpixel
  counts, mean colour and position.
* :mod:`salbench.classical.graph`: superpixel adjacency (``AdjcProcloop.m``,
  ``GetAdjMatrix.m``), edge lists and Grady's edge weights.

Numerical work is vectorised NumPy / SciPy (``np.bincount`` reductions, sparse
matrices) or numba kernels; nothing loops over pixels in Python. Plugins
derive from ``salbench.classical.ClassicalMethod``; the helpers are imported
from their modules.
"""

from salbench.classical.base import ClassicalMethod

__all__ = ["ClassicalMethod"]
