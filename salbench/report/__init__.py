"""Reports over the store: tables built by :mod:`.tables` (their columns and
marks in :mod:`.layout`) and drawn by :mod:`.render` (Markdown, LaTeX, CSV,
JSON), :mod:`.html` and :mod:`.figures` (curves), with :mod:`.escape` for
names; bootstrap intervals, paired tests and subsets (:mod:`.analysis`),
method comparison (:mod:`.compare`), failure cases (:mod:`.worst`) and
published claims (:mod:`.claims`)."""
