"""Metric families beyond the classic set (PySODMetrics 1.6.2's FmeasureV2,
size-invariant metrics, MSIoU, HCE, context measure; BASNet's relaxed boundary
F), each a :class:`~salbench.metrics.families.base.Family` over one
:class:`~salbench.metrics.families.base.ImageInput` per image."""
