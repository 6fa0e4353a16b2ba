"""The results store: one SQLite file of runs, summaries, per-image scores,
problems and claims (:mod:`.results`)."""
