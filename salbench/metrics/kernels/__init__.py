"""The numba kernels of the metrics core, one module per metric family, and
:mod:`.build`, which picks the ahead-of-time compiled build or the JIT one."""
