"""The results store: one SQLite file of runs, summaries, per-image scores,
problems, methods and claims. :mod:`.schema` is what lies on disk (tables,
migration, packing), :mod:`.results` the API (:class:`~salbench.store.results.ResultsStore`),
:mod:`.frames` the store as pandas DataFrames."""
