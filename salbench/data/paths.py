"""Output paths: checked before any work is done, and written atomically.

Each check raises :class:`salbench.errors.SalbenchError` with one line naming
the path and the problem (the CLI prints it and exits with status 2), so that
no command computes for minutes and then fails to write its result.

Decision on missing folders: the parent folders of an output file (and a
missing results folder) are *created* by the check, as the commands always
did, as long as the nearest existing ancestor is a writable folder; a path
through a file, or through a folder that cannot be written, is refused.

:func:`atomic_file` is the one atomic writer (JSON records, PNG maps, the
``eval --per-image`` CSV).
"""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from salbench.errors import SalbenchError


def display(name: object) -> str:
    """``name`` printable on any terminal / encodable as UTF-8: bytes that are
    not UTF-8 in a file name (surrogate-escaped by Python) are shown as
    ``\\xNN``."""
    s = os.fsdecode(name) if isinstance(name, (bytes, os.PathLike)) else str(name)
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _probe_writable(folder: Path) -> str | None:
    """None if a file can be created in ``folder``, else why not (tried for
    real: permission bits say nothing for root or read-only mounts)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".salbench-write-check.", dir=folder)
    except OSError as exc:
        if exc.errno in (errno.EROFS,):
            return "is on a read-only file system"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "is read-only (permission denied)"
        return f"cannot be written ({exc.strerror or exc})"
    os.close(fd)
    try:
        os.unlink(tmp)
    except OSError:  # pragma: no cover
        pass
    return None


def ensure_folder(folder: str | Path, what: str, create: bool = True) -> Path:
    """``folder`` exists (created with its parents when ``create``) and is
    writable; else one-line :class:`SalbenchError`."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SalbenchError(f"{what} {display(folder)} is a file, not a folder")
    if not folder.exists():
        # the nearest existing ancestor must be a writable folder
        anc = folder
        while not anc.exists() and anc != anc.parent:
            anc = anc.parent
        if anc.exists() and not anc.is_dir():
            raise SalbenchError(f"{what} {display(folder)}: {display(anc)} is a file, not a folder")
        if not create:
            raise SalbenchError(f"{what} {display(folder)} does not exist")
        why = _probe_writable(anc) if anc.exists() else None
        if why:
            raise SalbenchError(f"{what} {display(folder)} cannot be created: folder {display(anc)} {why}")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SalbenchError(f"{what} {display(folder)} cannot be created "
                                f"({exc.strerror or exc})") from None
    why = _probe_writable(folder)
    if why:
        raise SalbenchError(f"{what} {display(folder)} {why}")
    return folder


def check_output_file(path: str | Path, what: str) -> Path:
    """An output file (``--json``, ``--per-image``, ``-o``) can be written:
    not a folder, an existing file is writable, its folder exists (created if
    missing) and is writable. ``what`` names the option in the message."""
    path = Path(path)
    if str(path).endswith(os.sep) or path.is_dir():
        raise SalbenchError(f"{what} {display(path)} is a folder; give a file name")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise SalbenchError(f"{what} {display(path)} exists and is read-only")
    ensure_folder(path.parent if str(path.parent) else Path("."), f"{what} {display(path)}: folder")
    return path


def check_results_folder(results: str | Path, store: str | Path | None = None) -> Path:
    """For ``salbench run`` (call at start, before predicting): the results
    folder exists (created if missing) and is writable, and the store file, if
    it exists, is writable. Raises ``SalbenchError("results folder ... is
    read-only")`` and the like. Returns the results folder."""
    results = Path(results)
    if results.exists() and results.is_dir() and _probe_writable(results):
        raise SalbenchError(f"results folder {display(results)} is read-only "
                            f"(report can still read it; give --results for a writable folder)")
    ensure_folder(results, "results folder")
    if store is not None:
        store = Path(store)
        if store.is_dir():
            raise SalbenchError(f"--store {display(store)} is a folder; give a file name")
        ensure_folder(store.parent, f"store {display(store)}: folder")
        if store.exists() and not os.access(store, os.W_OK):
            raise SalbenchError(f"results store {display(store)} is read-only")
    return results


def _block_signals():
    """Block SIGINT / SIGTERM (returns the old mask, or None where unsupported)."""
    import signal
    try:
        return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    except (AttributeError, ValueError, OSError):  # pragma: no cover
        return None


def _restore_signals(old) -> None:
    import signal
    if old is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextmanager
def atomic_file(path: str | Path, mode: str = "w", *, fsync: bool = False, keep_partial: bool = False,
                tmp_name: str | None = None, **open_kw):
    """Write ``path`` through a temporary file beside it, ``os.replace``-d
    onto ``path`` when the block ends: a killed writer never leaves a
    half-written file under the final name. Yields the open temporary file.

    The temporary file is this writer's own (``.NAME.XXXX.tmp``, mode 0644),
    or ``tmp_name`` in the same folder. ``fsync`` flushes it to disk before
    the rename. When the block raises, the temporary file is deleted, unless
    ``keep_partial``: then what was written is renamed into place anyway
    (with SIGINT / SIGTERM blocked, so a second interrupt cannot strand it)
    and the exception goes on. Missing parent folders are created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tmp_name is not None:
        tmp = path.with_name(tmp_name)
        fh = open(tmp, mode, **open_kw)
        chmod = False
    else:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(name)
        fh = os.fdopen(fd, mode, **open_kw)
        chmod = True  # mkstemp creates 0600
    done = False
    try:
        yield fh
        done = True
    finally:
        if done or keep_partial:
            old = _block_signals() if keep_partial else None
            try:
                _finish(fh, tmp, path, fsync, chmod)
            finally:
                _restore_signals(old)
        else:
            _discard(fh, tmp)


def _finish(fh, tmp: Path, path: Path, fsync: bool, chmod: bool) -> None:
    """Close ``tmp`` and rename it onto ``path`` (deleted if that fails)."""
    try:
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
        fh.close()
        if chmod:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        _discard(fh, tmp)
        raise


def _discard(fh, tmp: Path) -> None:
    fh.close()
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def write_json_atomic(path: str | Path, obj, sort_keys: bool = False) -> None:
    """``obj`` as JSON (indent 1, trailing newline), written through
    :func:`atomic_file`."""
    import json
    with atomic_file(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=1, sort_keys=sort_keys)
        fh.write("\n")
