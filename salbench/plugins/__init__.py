"""Method plugins: the :class:`~salbench.plugins.registry.Method` contract and
the registry that loads entry points lazily and refuses collisions
(:mod:`.registry`), typed method options (:mod:`.options`), the
precomputed-maps method (:mod:`.maps`) and the description rows of the
registered methods, with their parameter and GMAC counts (:mod:`.catalog`)."""
