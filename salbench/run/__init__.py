"""Runs: a :class:`~salbench.run.runner.RunSpec` becomes stored results
(:mod:`.runner`), guarded by the run identity and folder locks
(:mod:`.identity`); :mod:`.engine` evaluates many map sets under many protocols
in one pass and :mod:`.evaluate` is its one-set library entry."""
