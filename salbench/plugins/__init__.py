"""Method plugins: the :class:`~salbench.plugins.registry.Method` contract and
the registry that loads entry points lazily and refuses collisions
(:mod:`.registry`), typed method options (:mod:`.options`) and the
precomputed-maps method (:mod:`.maps`)."""
