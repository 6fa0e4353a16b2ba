"""Reports over the store: tables in Markdown / LaTeX / CSV / JSON / HTML
(:mod:`.tables`), bootstrap intervals, paired tests and subsets
(:mod:`.analysis`), method comparison (:mod:`.compare`), failure cases
(:mod:`.worst`) and published claims (:mod:`.claims`)."""
