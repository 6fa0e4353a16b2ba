"""``python -m salbench``: the ``salbench`` command (also for ``torchrun -m
salbench train ...``). The working directory is removed from ``sys.path``
first, so no module there (a ``tqdm.py``, a ``salbench_methods/``) is
imported instead of the installed one."""

import os as _os
import sys

if __name__ == "__main__":
    _cwd = _os.path.realpath(_os.getcwd()) if _os.path.isdir(".") else None
    sys.path[:] = [p for p in sys.path
                   if p not in ("", ".") and (_cwd is None or _os.path.realpath(p) != _cwd)]
    from salbench.cli import main

    sys.exit(main())
