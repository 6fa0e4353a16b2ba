"""What identifies a run's maps, and who may write a results folder.

* :func:`fingerprint_files` - a content fingerprint of a set of files (names,
  sizes, modification times), for datasets and precomputed maps;
* :func:`source_sha256` - the source code of a method class (its module and
  the modules of its bases, or its whole package);
* :func:`run_identity` - everything that can change a label's maps of one
  dataset, recorded beside the maps and compared on resume;
* :func:`diff` - the differences between two identities, for messages;
* :func:`versions` and :func:`git_revision` - the software a run used,
  stored with it;
* :class:`FolderLock` - an exclusive lock on a results folder while a run
  writes it; a second run is refused with the holder's pid, host and command.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Iterable

from salbench.errors import SalbenchError

LOCK_FILE = ".salbench.lock"
#: version of the identity record in ``.salbench-run.json``
IDENTITY_FORMAT = 2


def fingerprint_files(paths: Iterable[str | Path], root: str | Path | None = None) -> str:
    """sha256 over each file's name (relative to ``root``), size and mtime
    (ns), in sorted order: cheap, and changes when any file is added,
    removed, replaced or rewritten."""
    h = hashlib.sha256()
    base = Path(root) if root is not None else None
    rows = []
    for p in paths:
        p = Path(p)
        try:
            st = p.stat()
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size, mtime = -1, -1
        name = str(p.relative_to(base)) if base is not None and p.is_relative_to(base) else str(p)
        rows.append((name, size, mtime))
    for name, size, mtime in sorted(rows):
        h.update(f"{name}\0{size}\0{mtime}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def sha256_file(path: str | Path | None) -> str | None:
    """sha256 of a file's bytes; None when there is no such file."""
    if not path:
        return None
    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: salbench modules whose code does not change a map (plumbing around the methods)
_NOT_MAP_CODE = ("salbench.plugins.registry", "salbench.plugins.options", "salbench.errors")


def _salbench_deps(mod) -> list[str]:
    """Names of the salbench modules a method module uses directly (its
    imported functions, classes and modules), e.g. ``salbench.nn.backbones``
    for R3Net: their code shapes the maps too."""
    import types
    names = set()
    for v in vars(mod).values():
        name = v.__name__ if isinstance(v, types.ModuleType) else getattr(v, "__module__", None)
        if isinstance(name, str) and name.split(".")[0] in ("salbench", "salbench_methods") \
                and name not in _NOT_MAP_CODE:
            names.add(name)
    return sorted(names)


def _module_files(cls: type) -> list[Path]:
    """The source files behind a method class: the modules of its class and
    base classes (a package plugin: all its files), and the salbench modules
    those use directly."""
    mods: list[str] = []
    for c in cls.__mro__:
        if c is object or c.__module__ == "builtins" or c.__module__ in _NOT_MAP_CODE:
            continue
        mods.append(c.__module__)
        mod = sys.modules.get(c.__module__)
        if mod is not None:
            mods += _salbench_deps(mod)
    files: list[Path] = []
    for name in dict.fromkeys(mods):
        mod = sys.modules.get(name)
        f = getattr(mod, "__file__", None)
        if not f:
            continue
        p = Path(f)
        if p.name == "__init__.py" and not name.startswith("salbench"):  # a package plugin
            files += sorted(q for q in p.parent.rglob("*.py"))
        else:
            files.append(p)
    seen: set[Path] = set()
    return [p for p in files if not (p in seen or seen.add(p))]  # type: ignore[func-returns-value]


def source_sha256(cls: type) -> str:
    """sha256 of the source files that define a method class: its module
    (the whole package when it is a package's ``__init__``) and the modules of
    its base classes (e.g. ``salbench/nn/learned.py`` for R3Net)."""
    h = hashlib.sha256()
    for p in _module_files(cls):
        try:
            h.update(p.name.encode() + b"\0" + p.read_bytes())
        except OSError:
            h.update(p.name.encode() + b"\0<unreadable>")
    return h.hexdigest()


def plain(v: Any) -> Any:
    """JSON-ready copy (tuples to lists, paths to strings)."""
    return json.loads(json.dumps(v, default=str))


def crf_identity() -> dict[str, Any]:
    """The dense CRF's parameters and a hash of its code."""
    from salbench.nn import crf
    return {**{k.lower(): getattr(crf, k) for k in dir(crf) if k.startswith("CRF_")},
            "source_sha256": sha256_file(crf.__file__)}


def torch_threads() -> int | None:
    """torch's intra-op thread count (learned methods on the CPU)."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else None


def run_identity(spec, method, ds, *, batch: int, device: str, crf: bool, images: str,
                 source: str) -> dict[str, Any]:
    """Everything that can change a label's maps of ``ds``: the registered
    method ``spec`` and its prepared instance ``method`` (options, own
    identity, source hash ``source``), batch size, device, dtype, CPU thread
    count, CRF, input size, salbench version, and the dataset by resolved
    path and ``images`` (the fingerprint of its image records; the GT is
    re-read by every evaluation)."""
    import salbench
    learned = spec.cls.kind == "learned"
    amp = bool(method.options.get("amp")) and str(device).startswith("cuda")
    return {
        "format": IDENTITY_FORMAT,
        "method": spec.name,
        "options": plain(method.options),
        "method_identity": plain(method.identity()),
        "source_sha256": source,
        "batch_size": batch,
        "device": str(device),
        "dtype": ("bf16" if amp else "fp32") if learned else None,
        # CPU convolutions sum in a thread-count-dependent order (±1 grey level, rarely)
        "cpu_threads": torch_threads() if learned and str(device) == "cpu" else None,
        "crf": crf_identity() if crf else False,
        "input_size": plain(getattr(method, "input_size", None)),
        "salbench": salbench.__version__,
        "dataset": {"name": ds.name, "path": str(Path(ds.root).resolve()), "images": images},
    }


def versions() -> dict[str, str]:
    """Versions of salbench, Python and the numeric packages (torch when loaded)."""
    from importlib.metadata import PackageNotFoundError, version

    import salbench
    out = {"salbench": salbench.__version__, "python": sys.version.split()[0]}
    for pkg in ("numpy", "numba", "scipy", "opencv-python-headless", "pydensecrf2"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            pass
    if "torch" in sys.modules:
        out["torch"] = getattr(sys.modules["torch"], "__version__", "?")
    return out


def git_revision() -> str | None:
    """The checkout's commit (``-dirty`` with uncommitted changes), or None
    outside a git checkout."""
    import subprocess
    here = Path(__file__).resolve().parents[2]
    if not (here / ".git").exists():
        return None
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=20).stdout.strip()
        return (rev + ("-dirty" if dirty else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def diff(old: dict, new: dict, ignore: Iterable[str] = ()) -> dict[str, tuple[Any, Any]]:
    """``{key: (old, new)}`` of the flattened identities where they differ
    (keys in ``ignore`` are left out)."""
    a, b = flatten(json.loads(json.dumps(old))), flatten(json.loads(json.dumps(new)))
    skip = set(ignore)
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k) and k not in skip}


def _short(v: Any) -> str:
    s = json.dumps(v) if not isinstance(v, str) else v
    return s if len(s) <= 24 else s[:12] + "…" + s[-8:]


def describe_diff(d: dict[str, tuple[Any, Any]], limit: int = 8) -> str:
    """``key: old -> new; ...`` for messages."""
    parts = [f"{k}: {_short(a)} -> {_short(b)}" for k, (a, b) in d.items()]
    more = f"; and {len(parts) - limit} more" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


class FolderLock:
    """An exclusive, non-blocking ``flock`` on ``<folder>/.salbench.lock``,
    released when the process ends (also when killed). The file holds the
    holder's pid, host, command and start time for the refusal message."""

    def __init__(self, folder: str | Path, what: str = "") -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.what = what
        self._fh = None

    def acquire(self) -> "FolderLock":
        """Take the lock, or raise :class:`SalbenchError` naming its holder."""
        import fcntl
        self.folder.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            try:
                h = json.loads(holder)
                who = (f"pid {h.get('pid')} on {h.get('host')} ({h.get('command')}, started "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(h.get('started', 0)))})")
            except ValueError:
                who = "another salbench run"
            raise SalbenchError(f"{self.folder} is being written by {who}; wait for it to finish "
                                f"or store this run under another --name") from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "command": self.what or " ".join(sys.argv[:6]),
                             "started": time.time()}))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        """Give the lock up."""
        if self._fh is not None:
            import fcntl
            try:
                self._fh.seek(0)
                self._fh.truncate()
                fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            finally:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
