"""Files on disk: dataset names and layouts, image/GT pairing and decoding
(:mod:`.datasets`, :mod:`.imageio`), the embedded demo dataset (:mod:`.demo`)
and output-path checks with atomic writes (:mod:`.paths`)."""
