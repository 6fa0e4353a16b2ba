"""Files on disk: dataset names, layouts, image/GT pairing and the image
extensions (:mod:`.datasets`), decoding and PNG writing (:mod:`.imageio`),
the embedded demo dataset (:mod:`.demo`), and output-path checks with the
atomic writer (:mod:`.paths`)."""
