"""``salbench run``: predict maps with methods on datasets, evaluate, store.

The run is described by a :class:`RunSpec` (the CLI only builds one from its
arguments; :func:`salbench.run` builds one from keywords) and done by
:class:`Runner`, which returns a :class:`RunResult`. For each method and
dataset:

1. the method is created through the registry with its options checked
   against its declared schema, ``prepare()``-d (weights loaded) and
   ``bind()``-ed to every dataset before any image is read;
2. ``<results>/<label>/<dataset>/`` is locked (:class:`salbench.run.identity.FolderLock`)
   and the run identity - method, options, the method's own identity
   (weights sha256, precomputed maps' fingerprint), source hash, batch size,
   device, dtype, CRF parameters, input size, salbench version, the dataset's
   resolved path and content fingerprint - is compared with the one recorded
   in ``.salbench-run.json`` beside the maps. Any difference refuses the run,
   naming the differences, unless ``--recompute``; changed precomputed maps are
   re-scored. ``<label>`` is ``--name`` or the method name; a CRF method run
   against its default gets ``-nocrf`` / ``-crf`` appended;
3. maps missing from the folder are predicted and written atomically as PNG
   (the layout published results use), so a killed run resumes where it
   stopped. Parallelism follows ``Method.parallel``: ``"processes"`` - a
   process pool over images, each worker building its own instance;
   ``"none"`` / ``"threads"`` - batches of ``batch_size`` in this process
   (learned methods get their images ordered by size so batches hold one
   size; the method never mixes sizes in one tensor);
4. with CRF the raw maps go to ``<dataset>/.raw/`` and the dense CRF runs in a
   process pool; FPS is recorded without and with CRF;
5. all maps of the dataset are evaluated under each protocol and the per-image
   scores, summary, curves and problems go to the results store with one
   ``runs`` row holding the identity, versions, timings and status. A run
   whose process died is marked ``interrupted`` by the next run.

A corrupt image, a missing precomputed map or an unreadable GT is recorded as a
problem naming the file: everything else goes on, the problems are listed at the
end and the exit status is 1. A dataset with fewer pairs than registered is
scored and marked partial (``--strict`` refuses it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from salbench.errors import InputError, SalbenchError

SIGNATURE_FILE = ".salbench-run.json"
#: per-image (size, mtime) of the images the maps were made from
IMAGES_FILE = ".salbench-images.json"
RAW_DIR = ".raw"
#: version of the identity record in ``.salbench-run.json``
IDENTITY_FORMAT = 2
#: identity keys that do not change maps (where the weights file lies)
IDENTITY_IGNORED = ("method_identity.weights",)


def _plain(v: Any) -> Any:
    """JSON-ready copy (tuples to lists, paths to strings)."""
    return json.loads(json.dumps(v, default=str))


def _expected(ds) -> int | None:
    """The registered pair count of a dataset (None for a folder)."""
    info = getattr(ds, "info", None)
    return int(info.count) if info is not None and getattr(info, "count", None) else None


def _check_label(label: str) -> str:
    """A label becomes a folder name: letters, digits and ``. _ + * -`` only."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+*-]*", label):
        raise SalbenchError(f"label {label!r}: use letters, digits and . _ + * - only "
                            f"(it becomes the folder results/<label>/; choose one with --name)")
    return label


def _header_size(path: str | Path) -> tuple[int, int] | None:
    """(W, H) from an image file's header, without decoding it; None if unreadable."""
    from PIL import Image

    from salbench.data.imageio import png_header
    head = png_header(path)
    if head is not None:
        return head[0], head[1]
    try:
        with Image.open(path) as im:
            return im.size
    except Exception:
        return None


def _header_sizes(ds) -> dict[str, tuple[int, int] | None]:
    """(W, H) of every image of a dataset, from the headers."""
    return {p.name: _header_size(p.image) for p in ds.pairs}


def _torch_threads() -> int | None:
    """torch's intra-op thread count (learned methods on the CPU)."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else None


def _image_records(ds) -> dict[str, list]:
    """``{name: [file name, size, mtime_ns]}`` of a dataset's images: what its
    maps were made from, recorded beside them and fingerprinted in the identity."""
    out = {}
    for p in ds.pairs:
        try:
            st = Path(p.image).stat()
            out[p.name] = [Path(p.image).name, st.st_size, st.st_mtime_ns]
        except OSError:
            out[p.name] = [Path(p.image).name, -1, -1]
    return out


def _records_fingerprint(records: dict) -> str:
    import hashlib
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode("utf-8", "surrogateescape")
                          ).hexdigest()


def _dataset_fingerprint(ds) -> str:
    """Fingerprint of a dataset's images and GT (recorded with each run)."""
    from salbench.run.identity import fingerprint_files
    return fingerprint_files([p.image for p in ds.pairs] + [p.gt for p in ds.pairs], ds.root)


def _clear_maps(out_dir: Path) -> None:
    """Delete the maps (and raw pre-CRF maps) of a results folder."""
    for d in (out_dir, out_dir / RAW_DIR):
        if d.is_dir():
            for p in d.glob("*.png"):
                p.unlink()


def _remove_stale_tmp(out_dir: Path) -> None:
    """Temp files a killed run left (``.NAME.png.*.tmp``)."""
    for d in (out_dir, out_dir / RAW_DIR):
        if d.is_dir():
            for p in d.glob(".*.tmp"):
                try:
                    p.unlink()
                except OSError:
                    pass


def _by_size(todo: list) -> list:
    """Pairs ordered by image size (read from the file header), so batches
    hold images of one size; order within a size is kept. An unreadable image
    sorts first (predicted, and reported, on its own)."""
    return sorted(todo, key=lambda p: _header_size(p.image) or (0, 0))


# -- helpers ------------------------------------------------------------------

def versions() -> dict[str, str]:
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


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _tally(results, problems: dict, bar) -> int:
    """Consume ``(name, problem)`` results as they finish: a problem is
    recorded under its image name, the rest counted; returns the count."""
    n = 0
    for name, prob in results:
        if prob:
            problems[name] = prob
        else:
            n += 1
        bar.update(1)
    return n


def _progress(total: int, desc: str, disable: bool):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="img", disable=disable, dynamic_ncols=True,
                smoothing=0.1, file=sys.stderr)


# -- process-pool workers -------------------------------------------------------

@contextmanager
def _process_pool(workers: int, initializer: Callable | None = None, initargs: tuple = ()):
    """A process pool whose workers die with this process (also when it is
    killed) and that stops at once when the run is interrupted: pending tasks
    are cancelled and the workers terminated, instead of ``with
    ProcessPoolExecutor`` waiting for every queued image."""
    pool = ProcessPoolExecutor(workers, initializer=_pool_init, initargs=(initializer, initargs))
    try:
        yield pool
    except BaseException:
        procs = list((getattr(pool, "_processes", None) or {}).values())  # shutdown forgets them
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            try:
                proc.terminate()
            except Exception:  # already gone
                pass
        raise
    else:
        pool.shutdown(wait=True)


def _pool_init(initializer: Callable | None, initargs: tuple) -> None:
    """In each worker: die with the parent (Linux ``PR_SET_PDEATHSIG``), leave
    Ctrl-C and SIGTERM to their default handling (the parent stops the pool),
    then the pool's own initializer."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)
    except (OSError, AttributeError):  # not Linux: workers end when the pipe closes
        pass
    if initializer is not None:
        initializer(*initargs)


_WORKER: dict[str, Any] = {}


def _worker_init(spec_name: str, options: dict, weights: str | None, device: str,
                 plugins: list[str], dataset: Any = None, label: str = "") -> None:
    from salbench.plugins import registry
    for p in plugins:
        try:
            registry.load_plugin(p)
        except registry.RegistryError:
            pass  # already registered (fork) - get_spec below says if not
    m = registry.get_spec(spec_name).create(weights=weights, device=device, **options)
    m.prepare()
    if dataset is not None:
        m.bind(dataset, label, run_datasets=[dataset.name])
    _WORKER["method"] = m


def _predict_task(image_path: str, name: str, out_path: str) -> tuple[str, str | None]:
    """Read, predict, write one image in a worker. Returns (name, problem or None)."""
    return _predict_one(_WORKER["method"], image_path, name, out_path)


def _predict_one(m, image_path: str, name: str, out_path: str) -> tuple[str, str | None]:
    from salbench.data.imageio import read_rgb, write_png_atomic
    try:
        img = read_rgb(image_path)
        sal = _call_predict(m, [img], [name])[0]
        _check_map(sal, img, name, m)
        write_png_atomic(out_path, sal)
    except InputError as exc:
        return name, str(exc)
    return name, None


def _call_predict(m, images: list, names: list[str]) -> list:
    """``m.predict``; a bad input stays an :class:`InputError` (a problem of
    that image), any other exception of the method becomes one line naming
    the method, where it comes from and the image(s)."""
    try:
        out = m.predict(images, names)
    except (InputError, SalbenchError, KeyboardInterrupt):
        raise
    except Exception as exc:
        from salbench.plugins.registry import origin
        which = repr(names[0]) + (f" (and {len(names) - 1} more in its batch)" if len(names) > 1 else "")
        raise SalbenchError(f"method {m.name!r} ({origin(type(m))}) failed on image {which}: "
                            f"{type(exc).__name__}: {exc}") from None
    if not isinstance(out, (list, tuple)) or len(out) != len(images):
        raise SalbenchError(f"method {m.name!r} returned {type(out).__name__} "
                            f"{'of ' + str(len(out)) + ' maps ' if hasattr(out, '__len__') else ''}"
                            f"for {len(images)} image(s) ({names[0]!r}...); the contract is a list "
                            f"of one uint8 map per image")
    return list(out)


def _crf_task(image_path: str, raw_path: str, out_path: str, name: str) -> tuple[str, str | None]:
    from salbench.nn.crf import dense_crf
    from salbench.data.imageio import read_map, read_rgb, write_png_atomic
    try:
        img = read_rgb(image_path)
        raw = read_map(raw_path)
        write_png_atomic(out_path, dense_crf(img, raw))
    except InputError as exc:
        return name, str(exc)
    return name, None


def _check_map(sal, img, name: str, m) -> None:
    """The method contract: a uint8 map of the image's size (else one line, exit 2)."""
    import numpy as np
    if not isinstance(sal, np.ndarray) or sal.dtype != np.uint8 or sal.shape != img.shape[:2]:
        from salbench.plugins.registry import origin
        raise SalbenchError(f"method {m.name!r} ({origin(type(m))}) returned {getattr(sal, 'dtype', type(sal).__name__)} "
                            f"{tuple(getattr(sal, 'shape', ()))} for image {name!r}; the contract is "
                            f"a uint8 map of the image's size {tuple(img.shape[:2])}")


# -- the run specification ----------------------------------------------------------

@dataclass
class RunSpec:
    """Everything a run needs, independent of any command line.

    ``options`` are the methods' options: a dict of typed values, or
    ``["key=value", ...]`` strings parsed against each method's declared
    schema (:mod:`salbench.plugins.options`); with several methods every option must
    be one each of them declares. ``maps`` is the ``maps`` method's folder
    (the same as ``options={"maps": DIR}``); a ``DIR`` laid out as
    ``DIR/<method>/<dataset>/`` or ``DIR/<dataset>/<method>/`` gives one label
    per map set. Precomputed maps are evaluated where they are unless
    ``copy_maps``. ``recompute`` replaces maps made with another identity
    instead of refusing; ``strict`` makes a partial dataset (fewer pairs than
    registered) an error.
    """

    methods: Sequence[str]
    datasets: Sequence[str] | str = "all"
    options: Mapping[str, Any] | Sequence[str] = field(default_factory=dict)
    weights: str | None = None
    device: str = "cpu"
    crf: bool | None = None
    protocols: Sequence[str] | None = None
    data_root: str | None = None
    results: str = "results"
    store: str | None = None
    plugins: Sequence[str] = ()
    batch_size: int | None = None
    workers: int | None = None
    maps: str | None = None
    name: str | None = None
    recompute: bool = False
    strict: bool = False
    copy_maps: bool = False
    progress: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.methods, str):
            self.methods = [n.strip() for n in self.methods.split(",") if n.strip()]
        if isinstance(self.protocols, str):
            self.protocols = [self.protocols]
        if self.batch_size is not None and int(self.batch_size) < 1:
            raise SalbenchError("--batch-size must be >= 1")
        if self.workers is not None and int(self.workers) < 1:
            raise SalbenchError("--workers must be >= 1")


@dataclass
class DatasetRun:
    """What one (method label, dataset) run stored."""

    run_id: str
    label: str
    method: str
    dataset: str
    status: str
    n_images: int
    n_expected: int | None
    n_evaluated: int = 0
    n_predicted: int = 0
    n_resumed: int = 0
    out_dir: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        """Fewer pairs than the dataset's registered count."""
        return self.n_expected is not None and self.n_images < self.n_expected


@dataclass
class RunResult:
    """What :meth:`Runner.run` did: one :class:`DatasetRun` per label and
    dataset, the problems, the exit status the CLI returns (0, or 1 when any
    problem was recorded) and the store they went to."""

    runs: list[DatasetRun]
    problems: list[str]
    store: str
    exit_code: int

    def frame(self, per_image: bool = False):
        """The stored scores of these runs as a pandas DataFrame (see
        :func:`salbench.api.results`)."""
        from salbench.api import results
        return results(self.store, methods=sorted({r.label for r in self.runs}),
                       datasets=sorted({r.dataset for r in self.runs}), per_image=per_image)


def _crf_identity() -> dict[str, Any]:
    """The dense CRF's parameters and a hash of its code."""
    from salbench.nn import crf
    from salbench.run.identity import sha256_file
    return {**{k.lower(): getattr(crf, k) for k in dir(crf) if k.startswith("CRF_")},
            "source_sha256": sha256_file(crf.__file__)}


# -- the run ----------------------------------------------------------------------

@dataclass
class _Entry:
    """One method label of a run: the registered method, its checked options,
    the label results go under, and (after :meth:`Runner._prepare`) the
    prepared instance and its settings."""

    spec: Any
    options: dict[str, Any]
    label: str
    map_set: str | None = None      # one map set of a multi-set --maps ROOT
    method: Any = None
    crf: bool = False
    batch: int = 1
    weights: str | None = None
    skip: dict[str, str] = field(default_factory=dict)   # dataset -> why this label skips it


@dataclass
class _Job:
    """One (label, dataset) of a run while it runs: its store row, the maps
    to evaluate and what went wrong."""

    entry: _Entry
    ds: Any
    out_dir: Path
    run_id: str
    outcome: DatasetRun
    maps: dict[str, Path] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    prob_rows: list = field(default_factory=list)
    missing: int = 0
    finished: bool = False
    timing: dict = field(default_factory=dict)   # predicted count, seconds, FPS (store columns)


class Runner:
    """Runs a :class:`RunSpec`. Every method label is prepared first (options,
    weights, dataset bindings: errors come before any work); then, dataset by
    dataset, each label's missing maps are predicted under a lock on its
    results folder, and all labels' maps are evaluated under every protocol
    in one pass (each GT decoded once, see :mod:`salbench.run.engine`) and
    stored with the run identity. ``log`` receives progress lines."""

    def __init__(self, spec: RunSpec, log: Callable[[str], None] | None = None) -> None:
        self.spec = spec
        self.results = Path(spec.results)
        self.workers = int(spec.workers or _default_workers())
        self.quiet = not spec.progress
        self.problems: list[str] = []
        self.outcomes: list[DatasetRun] = []
        self._log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self._cache: dict[Any, Any] = {}

    def log(self, msg: str) -> None:
        self._log(msg)

    # -- top level ---------------------------------------------------------
    def run(self) -> RunResult:
        """Do the whole run; returns what was stored."""
        from salbench.data import datasets
        from salbench.plugins import registry
        from salbench.metrics.protocols import PROTOCOLS, get_protocol
        from salbench.store.results import ResultsStore, default_path

        sp = self.spec
        self.plugins = list(sp.plugins or [])
        for p in self.plugins:
            added = registry.load_plugin(p)
            self.log(f"plugin {p}: {', '.join(added)}")
        names = list(sp.methods)
        if not names:
            raise SalbenchError("--method: name at least one method")
        if sp.name and len(names) > 1:
            raise SalbenchError("--name labels one method; run the methods separately")
        specs = [registry.get_spec(n) for n in names]  # unknown names fail before any work
        opts = [self._options(s) for s in specs]  # bad options too
        protocols = ([get_protocol(p).name for p in sp.protocols] if sp.protocols
                     else list(PROTOCOLS))
        ds_spec = sp.datasets if isinstance(sp.datasets, str) else ",".join(sp.datasets)
        dsets = datasets.expand(ds_spec, sp.data_root, warn=self.log)
        self._check_partial(dsets)
        for ds in dsets:  # the name becomes results/<label>/<dataset>/: never a path
            if ds.name in ("", ".", "..") or "/" in ds.name or "\\" in ds.name or "\0" in ds.name:
                raise SalbenchError(f"dataset folder {ds.root}: its name {ds.name!r} cannot be a "
                                    f"results folder name; rename the folder")
        self._ds_names = [ds.name for ds in dsets]
        entries: list[_Entry] = []
        for spec, o in zip(specs, opts):
            entries += self._entries(spec, o, dsets)
        labels = [e.label for e in entries]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise SalbenchError(f"two methods of this run would be stored under one label: "
                                f"{', '.join(dup)}; run them separately with --name")
        from salbench.data.paths import check_results_folder
        check_results_folder(sp.results, sp.store)
        store_path = Path(sp.store) if sp.store else default_path(self.results)
        store = ResultsStore(store_path)
        n_dead = store.mark_dead_runs()
        if n_dead:
            self.log(f"note: {n_dead} earlier run(s) whose process died are marked interrupted")
        try:
            for e in entries:
                self._prepare(e, dsets, store)
            for ds in dsets:
                self.run_dataset(entries, ds, protocols, store)
        finally:
            store.close()
        if self.problems:
            self.log(f"\n{len(self.problems)} problem(s); everything else was computed and stored:")
            for p in self.problems:
                self.log(f"  - {p}")
        return RunResult(self.outcomes, list(self.problems), str(store_path),
                         1 if self.problems else 0)

    def _options(self, spec) -> dict[str, Any]:
        from salbench.plugins.options import parse_cli, validate
        schema = spec.cls.options_schema()
        given = self.spec.options
        if isinstance(given, Mapping):
            opts = validate(spec.name, schema, dict(given))
        else:
            opts = parse_cli(spec.name, schema, list(given or []))
        if self.spec.maps:
            if "maps" not in {o.name for o in schema}:
                raise SalbenchError(f"--maps applies to the maps method, not {spec.name!r}")
            opts["maps"] = str(Path(self.spec.maps).expanduser().resolve())
        return opts

    def _check_partial(self, dsets) -> None:
        for ds in dsets:
            expected = _expected(ds)
            if expected is not None and len(ds.pairs) < expected:
                msg = (f"{ds.name}: {len(ds.pairs)} of its {expected} registered pairs found under "
                       f"{ds.root}; scored and marked partial ({len(ds.pairs)}/{expected})")
                if self.spec.strict:
                    raise SalbenchError(msg.split(";")[0] + "; --strict refuses a partial dataset")
                self.log(f"warning: {msg}")

    def _entries(self, spec, options: dict[str, Any], dsets) -> list[_Entry]:
        """The labels one method contributes: one, or one per map set when
        ``--maps ROOT`` holds several (``ROOT/<method>/<dataset>/`` or
        ``ROOT/<dataset>/<method>/``)."""
        sp = self.spec
        finder = getattr(spec.cls, "find_map_sets", None)
        if finder is not None and options.get("maps") and not options.get("set"):
            found = finder(Path(options["maps"]), [ds.name for ds in dsets])
            if found is not None:
                layout, sets = found
                if sp.name:
                    raise SalbenchError(f"--name labels one map set, but {options['maps']} holds "
                                        f"{len(sets)} ({', '.join(sets)}); drop --name")
                self.log(f"maps: {options['maps']} is laid out as {layout}: {len(sets)} map sets "
                         f"({', '.join(sets)}) on {', '.join(ds.name for ds in dsets)}")
                return [_Entry(spec, {**options, "set": s}, _check_label(s), map_set=s) for s in sets]
        cls = spec.cls
        # the CRF a method uses: --crf/--no-crf where it supports one, else none
        crf = cls.supports_crf and (cls.default_crf if sp.crf is None else bool(sp.crf))
        label = _check_label(sp.name or spec.name)
        if not sp.name and cls.supports_crf and crf != cls.default_crf:
            label += "-crf" if crf else "-nocrf"
        return [_Entry(spec, options, label, crf=crf)]

    def _prepare(self, e: _Entry, dsets, store) -> None:
        """Create and prepare the method, bind every dataset (errors before any
        work), describe it in the store."""
        from salbench.plugins.registry import MethodNotReady
        sp = self.spec
        cls = e.spec.cls
        if sp.crf and not cls.supports_crf:
            self.log(f"note: {e.spec.name} does not use the dense CRF; --crf ignored")
        if e.crf:
            try:
                import salbench.nn.crf  # noqa: F401
            except ImportError as exc:
                raise SalbenchError(f"--crf: salbench.nn.crf is not available ({exc}); use --no-crf") from None
        e.batch = int(sp.batch_size or max(1, int(getattr(cls, "batch_size", 1) or 1)))
        e.weights = str(Path(sp.weights).expanduser()) if sp.weights else None
        if e.weights and not Path(e.weights).is_file():
            raise SalbenchError(f"--weights {e.weights}: no such file")
        e.method = e.spec.create(weights=e.weights, device=sp.device, **e.options)
        e.method.prepare()  # before any image is read
        names = [ds.name for ds in dsets]
        for ds in dsets:
            try:
                e.method.bind(ds, e.label, run_datasets=names)
            except MethodNotReady as exc:
                if e.map_set is None:
                    raise
                e.skip[ds.name] = str(exc)
                self.log(f"note: map set {e.label} has no maps for {ds.name}; skipped")
        self._describe(store, e.label, e.spec, e.method)

    def _describe(self, store, label, spec, method) -> None:
        params = gmacs = None
        size = tuple(getattr(method, "cost_size", (300, 300)))
        if spec.cls.kind == "learned":
            try:
                from salbench.commands.listing import method_cost
                params, gmacs = method_cost(spec, {k: v for k, v in method.options.items()
                                                   if k in spec.cls.default_options}, size)
            except Exception as exc:  # description only: never fail a run on it
                self.log(f"note: {label}: params/GMACs unavailable ({type(exc).__name__}: {exc})")
        store.put_method(label, spec.name, spec.cls.kind, spec.cls.paper, params, gmacs,
                         size if gmacs is not None else None)

    # -- identity ------------------------------------------------------------
    def _cached(self, key: Any, fn: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def identity(self, e: _Entry, ds) -> dict[str, Any]:
        """Everything that can change this label's maps of ``ds`` (compared on
        resume). The dataset enters by resolved path and a fingerprint of its
        images (the maps depend on them; the GT is re-read by every evaluation)."""
        import salbench
        from salbench.run.identity import source_sha256
        spec, method = e.spec, e.method
        learned = spec.cls.kind == "learned"
        amp = bool(method.options.get("amp")) and str(self.spec.device).startswith("cuda")
        images = _records_fingerprint(self._records(ds))
        return {
            "format": IDENTITY_FORMAT,
            "method": spec.name,
            "options": _plain(method.options),
            "method_identity": _plain(method.identity()),
            "source_sha256": self._cached(("source", spec.cls), lambda: source_sha256(spec.cls)),
            "batch_size": e.batch,
            "device": str(self.spec.device),
            "dtype": ("bf16" if amp else "fp32") if learned else None,
            # CPU convolutions sum in a thread-count-dependent order (±1 grey level, rarely)
            "cpu_threads": _torch_threads() if learned and str(self.spec.device) == "cpu" else None,
            "crf": _crf_identity() if e.crf else False,
            "input_size": _plain(getattr(method, "input_size", None)),
            "salbench": salbench.__version__,
            "dataset": {"name": ds.name, "path": str(Path(ds.root).resolve()), "images": images},
        }

    def _check_identity(self, out_dir: Path, ident: dict, label: str, ds,
                        referenced: bool = False) -> str:
        """Compare with the identity of the maps already in ``out_dir`` (of
        the last run, for ``referenced`` precomputed maps, which are not
        copied). Returns ``"new"``, ``"same"``, ``"images"`` (maps of changed
        images deleted) or ``"recompute"`` (all old maps deleted); refuses
        (SalbenchError naming the differences) otherwise."""
        from salbench.run.identity import describe_diff, diff
        from salbench.data.paths import write_json_atomic
        f = out_dir / SIGNATURE_FILE
        if referenced and any(out_dir.glob("*.png")):
            self.log(f"note: {label}/{ds.name}: maps are referenced where they are; the copies an "
                     f"earlier run made are deleted")
            _clear_maps(out_dir)
        has_maps = (any(out_dir.glob("*.png")) or any((out_dir / RAW_DIR).glob("*.png"))
                    or (referenced and f.is_file()))
        old: dict | None = None
        if f.is_file():
            try:
                old = json.loads(f.read_text())
            except ValueError:
                old = {"format": "unreadable"}
        elif has_maps:
            old = {"format": "none (maps without a record of what made them)"}
        verdict = "new" if not has_maps else "same"
        if old is not None and has_maps:
            d = diff(old, ident, ignore=IDENTITY_IGNORED)
            if d:
                if all(k.startswith("method_identity.maps_") for k in d):
                    self.log(f"note: {label}/{ds.name}: the precomputed maps changed since the last "
                             f"run ({describe_diff(d)}); re-scoring them")
                    _clear_maps(out_dir)
                    verdict = "recompute"
                elif list(d) == ["dataset.images"]:
                    n = self._clear_changed_images(out_dir, ds)
                    self.log(f"note: {label}/{ds.name}: the dataset's images changed since the last "
                             f"run; {n} map(s) of changed or removed images deleted, new images "
                             f"are predicted")
                    verdict = "images"
                elif self.spec.recompute:
                    self.log(f"note: {label}/{ds.name}: --recompute: replacing maps made with other "
                             f"settings ({describe_diff(d)})")
                    _clear_maps(out_dir)
                    verdict = "recompute"
                else:
                    raise SalbenchError(
                        f"{out_dir} holds maps made with other settings ({describe_diff(d)}); "
                        f"rerun with --recompute to replace them, or store this run under another "
                        f"label with --name")
        write_json_atomic(out_dir / IMAGES_FILE, self._records(ds), sort_keys=True)
        write_json_atomic(f, ident, sort_keys=True)
        return verdict

    def _records(self, ds) -> dict:
        """:func:`_image_records` of ``ds``, read once per run."""
        return self._cached(("records", ds.root, ds.name), lambda: _image_records(ds))

    def _clear_changed_images(self, out_dir: Path, ds) -> int:
        """Delete the maps of images whose (size, mtime) differ from the
        record of the last run, or that are no longer in the dataset."""
        try:
            old = json.loads((out_dir / IMAGES_FILE).read_text())
        except (OSError, ValueError):
            old = {}
        now = self._records(ds)
        n = 0
        for d in (out_dir, out_dir / RAW_DIR):
            if not d.is_dir():
                continue
            for p in d.glob("*.png"):
                if p.stem not in now or old.get(p.stem) != now[p.stem]:
                    p.unlink()
                    n += 1
        return n

    # -- one dataset ---------------------------------------------------------
    def run_dataset(self, entries: list[_Entry], ds, protocols, store) -> None:
        """Every label on one dataset: lock each results folder, check its
        identity, predict what is missing (or reference precomputed maps),
        then evaluate all labels in one pass and store."""
        from contextlib import ExitStack

        from salbench.run.identity import FolderLock
        jobs: list[_Job] = []
        with ExitStack() as locks:
            try:
                todo = []
                for e in entries:  # locks and identities first: refusals come before any work
                    if ds.name in e.skip:
                        continue
                    e.method.bind(ds, e.label, run_datasets=self._ds_names)
                    out_dir = self.results / e.label / ds.name
                    locks.enter_context(FolderLock(out_dir, what=f"salbench run --method "
                                                   f"{e.spec.name} ({e.label}) on {ds.name}"))
                    _remove_stale_tmp(out_dir)
                    ident = self.identity(e, ds)
                    self._check_identity(out_dir, ident, e.label, ds, referenced=self._references(e))
                    todo.append((e, out_dir, ident))
                for e, out_dir, ident in todo:  # each method is still bound to this dataset
                    job = self._start(e, ds, out_dir, ident, protocols, store)
                    jobs.append(job)
                    self._produce(job)
                self._evaluate(jobs, ds, protocols, store)
            finally:
                stopped = sys.exc_info()[0]
                for job in jobs:
                    self._finish(job, store, failed=stopped is not None and
                                 not issubclass(stopped, KeyboardInterrupt))

    def _references(self, e: _Entry) -> bool:
        """Precomputed maps are evaluated where they are (not copied) unless
        ``--copy-maps``."""
        return bool(getattr(e.method, "references_maps", False)) and not self.spec.copy_maps

    def _start(self, e: _Entry, ds, out_dir: Path, ident: dict, protocols, store) -> _Job:
        final = [p for p in ds.pairs if (out_dir / f"{p.name}.png").exists()]
        n_done_before = 0 if self._references(e) else len(final)
        expected = _expected(ds)
        run_id = uuid.uuid4().hex
        mid = ident.get("method_identity") or {}
        info = self._cached("versions", lambda: (versions(), git_revision()))
        store.start_run(run_id, method=e.label, method_name=e.spec.name, dataset=ds.name,
                        protocols=protocols, options=ident["options"],
                        weights=e.weights or mid.get("weights"),
                        weights_sha256=mid.get("weights_sha256"), crf=int(e.crf),
                        device=self.spec.device, versions=info[0], git_revision=info[1],
                        n_images=len(ds.pairs), n_resumed=n_done_before, host=socket.gethostname(),
                        pid=os.getpid(), identity=ident, dataset_path=ident["dataset"]["path"],
                        dataset_fingerprint=self._cached(("dsfp", ds.root, ds.name),
                                                         lambda: _dataset_fingerprint(ds)),
                        n_expected=expected, batch_size=e.batch, dtype=ident["dtype"],
                        source_sha256=ident["source_sha256"])
        outcome = DatasetRun(run_id, e.label, e.spec.name, ds.name, "running", len(ds.pairs), expected,
                             n_resumed=n_done_before, out_dir=str(out_dir))
        self.outcomes.append(outcome)
        job = _Job(e, ds, out_dir, run_id, outcome)
        for prob in ds.problems:
            self._problem(f"{ds.name}: {prob}")
            job.prob_rows.append(("dataset", None, None, str(prob)))
        if expected is not None and len(ds.pairs) < expected:
            job.prob_rows.append(("partial", None, str(ds.root), f"{len(ds.pairs)}/{expected} pairs"))
        return job

    def _produce(self, job: _Job) -> None:
        """Predict (and CRF) the missing maps, or look up referenced ones;
        fills ``job.maps`` with every map there is to evaluate."""
        e, ds, out_dir = job.entry, job.ds, job.out_dir
        if self._references(e):
            sizes = self._cached(("sizes", ds.root, ds.name), lambda: _header_sizes(ds))
            for p in ds.pairs:
                path = e.method.map_file(p.name)
                if path is None:
                    job.problems[p.name] = (f"{Path(e.method.folder) / (p.name + '.png')}: no "
                                            f"precomputed map for image {p.name!r} in {e.method.folder}")
                    continue
                msize = _header_size(path)
                if msize is not None and sizes.get(p.name) not in (None, msize):
                    w, h = msize
                    iw, ih = sizes[p.name]
                    job.problems[p.name] = (f"{path}: map is {w}x{h} but image {p.name!r} is "
                                            f"{iw}x{ih}")
                    continue
                job.maps[p.name] = Path(path)
            return
        raw_dir = out_dir / RAW_DIR if e.crf else out_dir
        final = {p.name: out_dir / f"{p.name}.png" for p in ds.pairs}
        todo_pred = [p for p in ds.pairs if not final[p.name].exists()
                     and not (e.crf and (raw_dir / f"{p.name}.png").exists())]
        if job.outcome.n_resumed:
            self.log(f"{e.label}/{ds.name}: resuming, {job.outcome.n_resumed} of {len(ds.pairs)} maps "
                     f"already in {out_dir}")
        t0 = time.perf_counter()
        n_pred = self._predict(e.spec, e.method, e.label, ds, todo_pred, raw_dir, e.batch, e.weights,
                               job.problems)
        t_pred = time.perf_counter() - t0
        t_crf, n_crf = 0.0, 0
        if e.crf:
            todo_crf = [p for p in ds.pairs if not final[p.name].exists()
                        and (raw_dir / f"{p.name}.png").exists()]
            t1 = time.perf_counter()
            n_crf = self._crf(e.label, ds.name, todo_crf, raw_dir, out_dir, job.problems)
            t_crf = time.perf_counter() - t1
        fps = n_pred / t_pred if n_pred and t_pred > 0 else None
        fps_crf = 1.0 / (t_pred / n_pred + t_crf / n_crf) if e.crf and n_pred and n_crf else None
        job.outcome.n_predicted = n_pred
        job.timing = dict(n_predicted=n_pred, predict_seconds=t_pred,
                          crf_seconds=t_crf if e.crf else None, fps=fps, fps_crf=fps_crf)
        job.maps = {n: f for n, f in final.items() if f.exists()}

    def _evaluate(self, jobs: list[_Job], ds, protocols, store) -> None:
        """All labels of this dataset under every protocol, in one pass."""
        from salbench.run.engine import evaluate_sets
        for job in jobs:
            if job.timing:
                store.update_run(job.run_id, **job.timing)
        sets = {job.entry.label: job.maps for job in jobs if job.maps}
        per_image: dict[tuple[str, str], dict[str, dict]] = {}

        def on_image(label, proto, name, scores):
            per_image.setdefault((label, proto), {})[name] = dict(scores)

        results = evaluate_sets([(p.name, p.gt) for p in ds.pairs], sets, protocols,
                                workers=self.workers, on_image=on_image) if sets else {}
        for job in jobs:
            label = job.entry.label
            res = results.get(label, {})
            counts = []
            for proto in protocols:
                summary = res.get(proto)
                if summary is None:
                    continue
                for u in summary.get("unreadable") or []:
                    job.problems[str(u.get("name"))] = f"{u.get('path')}: {u.get('problem')}"
                n_res = summary["resized"]["count"]
                if n_res:
                    self.log(f"note: {label}/{ds.name} ({proto}): {n_res} map(s) resized to their "
                             f"GT's size for evaluation (GT size differs from the image), e.g. "
                             f"{summary['resized']['names'][:3]}")
                store.put_results(label, ds.name, proto, summary, per_image.get((label, proto), {}),
                                  job.run_id)
                counts.append(int(summary["count"]))
            if not counts:
                job.problems.setdefault("<evaluation>", f"{label}/{ds.name}: no maps to evaluate")
            job.outcome.n_evaluated = min(counts) if len(counts) == len(protocols) else 0
            job.missing = len(ds.pairs) - len(job.maps)
            job.finished = True
            fps, fps_crf = job.timing.get("fps"), job.timing.get("fps_crf")
            fps_txt = f"{fps:.2f} img/s" if fps else "n/a (nothing new to predict)"
            if fps_crf:
                fps_txt += f", {fps_crf:.2f} img/s with CRF"
            if self._references(job.entry):
                fps_txt = f"maps referenced in {job.entry.method.folder}"
            part = (f" (partial: {len(ds.pairs)}/{job.outcome.n_expected})" if job.outcome.partial
                    else "")
            self.log(f"{label}/{ds.name}: {job.outcome.n_evaluated}/{len(ds.pairs)} maps evaluated"
                     f"{part} ({job.outcome.n_predicted} predicted now; {fps_txt})")

    def _finish(self, job: _Job, store, failed: bool = False) -> None:
        """Status, problems and their rows of one (label, dataset); a job that
        did not get through evaluation is ``interrupted`` (Ctrl-C, SIGTERM)
        or ``failed`` (an error stopped the run)."""
        label, ds = job.entry.label, job.ds
        for name, msg in sorted(job.problems.items()):
            self._problem(msg if name.startswith("<") else f"{label}/{ds.name}: {msg}")
            job.prob_rows.append(("predict" if not name.startswith("<") else "evaluate",
                                  None if name.startswith("<") else name, None, msg))
        if not job.finished:
            status = "failed" if failed else "interrupted"
        else:
            status = "done" if not job.problems and not job.missing else "done-with-problems"
        job.outcome.status = status
        job.outcome.problems = sorted(job.problems.values())
        store.update_run(job.run_id, status=status, finished=time.time(),
                         n_problems=len(job.problems), problems=sorted(job.problems.values()))
        store.put_problems(job.run_id, label, ds.name, job.prob_rows)

    def _problem(self, msg: str) -> None:
        self.problems.append(msg)

    # -- prediction ----------------------------------------------------------
    def _predict(self, spec, method, label, ds, todo, out_dir, batch, weights, problems) -> int:
        if not todo:
            return 0
        out_dir.mkdir(parents=True, exist_ok=True)
        bar = _progress(len(todo), f"{label}/{ds.name}", self.quiet)
        n = 0
        try:
            if method.parallel == "processes" and self.workers > 1 and len(todo) > 1:
                with _process_pool(self.workers, _worker_init,
                                   (spec.name, dict(method.options), weights, self.spec.device,
                                    self.plugins, ds, label)) as pool:
                    futs = [pool.submit(_predict_task, str(p.image), p.name,
                                        str(out_dir / f"{p.name}.png")) for p in todo]
                    n = _tally((f.result() for f in as_completed(futs)), problems, bar)
            elif method.parallel == "threads" and self.workers > 1 and len(todo) > 1:
                # one shared instance, images in parallel threads (GIL-free kernels)
                def task(p):
                    return _predict_one(method, str(p.image), p.name, str(out_dir / f"{p.name}.png"))

                with ThreadPoolExecutor(self.workers) as pool:
                    futs = [pool.submit(task, p) for p in todo]
                    n = _tally((f.result() for f in as_completed(futs)), problems, bar)
            else:
                if batch > 1 and spec.cls.kind == "learned":
                    todo = _by_size(todo)  # same-size images together: full batches
                n = self._predict_inline(method, todo, out_dir, batch, problems, bar)
        finally:
            bar.close()
        return n

    def _predict_inline(self, method, todo, out_dir, batch, problems, bar) -> int:
        from salbench.data.imageio import read_rgb, write_png_atomic

        def load(p):
            try:
                return p, read_rgb(p.image), None
            except InputError as exc:
                return p, None, str(exc)

        n = 0
        with ThreadPoolExecutor(max(1, min(self.workers, 4))) as readers:
            loaded = _prefetch(readers, load, todo, ahead=2 * batch + 4)  # decoded ahead, in order
            chunk: list = []

            def flush(chunk) -> int:
                good = [(p, img) for p, img, _ in chunk if img is not None]
                done = 0
                maps: list = []
                if good:
                    try:
                        maps = _call_predict(method, [img for _, img in good], [p.name for p, _ in good])
                    except InputError:
                        maps = None  # isolate the bad one: one image at a time
                    if maps is None:
                        maps = []
                        for p, img in good:
                            try:
                                maps.append(_call_predict(method, [img], [p.name])[0])
                            except InputError as exc:
                                problems[p.name] = str(exc)
                                maps.append(None)
                for (p, img), sal in zip(good, maps):
                    if sal is None:
                        continue
                    _check_map(sal, img, p.name, method)
                    write_png_atomic(out_dir / f"{p.name}.png", sal)
                    done += 1
                for p, img, err in chunk:
                    if err:
                        problems[p.name] = err
                bar.update(len(chunk))
                return done

            for item in loaded:
                chunk.append(item)
                if len(chunk) >= batch:
                    n += flush(chunk)
                    chunk = []
            if chunk:
                n += flush(chunk)
        return n

    # -- CRF -----------------------------------------------------------------
    def _crf(self, label, dsname, todo, raw_dir, out_dir, problems) -> int:
        if not todo:
            return 0
        bar = _progress(len(todo), f"{label}/{dsname} CRF", self.quiet)
        n = 0
        try:
            tasks = [(str(p.image), str(raw_dir / f"{p.name}.png"), str(out_dir / f"{p.name}.png"),
                      p.name) for p in todo]
            if self.workers > 1 and len(tasks) > 1:
                with _process_pool(self.workers) as pool:
                    futs = [pool.submit(_crf_task, *t) for t in tasks]
                    n = _tally((f.result() for f in as_completed(futs)), problems, bar)
            else:
                n = _tally((_crf_task(*t) for t in tasks), problems, bar)
        finally:
            bar.close()
        return n


def _prefetch(pool, fn, items, ahead: int):
    """``pool.map(fn, items)`` in order, but at most ``ahead`` results in flight
    (``Executor.map`` would decode a whole dataset into memory at once)."""
    from collections import deque
    it = iter(items)
    window: deque = deque()
    for item in it:
        window.append(pool.submit(fn, item))
        if len(window) >= ahead:
            break
    while window:
        fut = window.popleft()
        nxt = next(it, None)
        if nxt is not None:
            window.append(pool.submit(fn, nxt))
        yield fut.result()


# -- CLI -------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", required=True, help="method name(s), comma-separated (salbench list methods)")
    p.add_argument("--datasets", default="all",
                   help="'all' (the five test sets present), or names / folders, comma-separated")
    p.add_argument("--weights", help="checkpoint file for a learned method")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (learned methods)")
    p.add_argument("--crf", action=argparse.BooleanOptionalAction, default=None,
                   help="dense-CRF post-processing (default: the method's own default)")
    p.add_argument("--protocol", help="evaluate under this protocol only (default: all protocols)")
    p.add_argument("--data-root", help="folder holding the datasets (default $SALBENCH_DATA or datasets/)")
    p.add_argument("--results", default="results", help="results root (default ./results)")
    p.add_argument("--store", help="results database (default <results>/salbench.sqlite)")
    p.add_argument("--plugin", action="append", metavar="FILE_OR_MODULE",
                   help="load a third-party method plugin (repeatable)")
    p.add_argument("--batch-size", type=int, help="images per predict call (default: the method's)")
    p.add_argument("--workers", type=int, help=f"processes for prediction / CRF / evaluation "
                   f"(default {_default_workers()})")
    p.add_argument("--option", action="extend", nargs="+", metavar="KEY=VALUE",
                   help="method option(s): --option a=1 b=x (repeatable)")
    p.add_argument("--maps", help="maps method: folder of precomputed maps: DIR/<dataset>/ or flat for one "
                                  "set; DIR/<method>/<dataset>/ or DIR/<dataset>/<method>/ for several "
                                  "(one label each)")
    p.add_argument("--name", help="label to store the results under (default: the method name)")
    p.add_argument("--recompute", action="store_true",
                   help="replace maps made with other settings (default: refuse, naming the differences)")
    p.add_argument("--copy-maps", action="store_true",
                   help="maps method: copy the maps into the results folder (default: evaluate them "
                        "where they are; the store records their folder and fingerprint)")
    p.add_argument("--strict", action="store_true",
                   help="a dataset with fewer pairs than registered is an error (default: a warning; "
                        "it is scored and marked partial n/N)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """The :class:`RunSpec` of a ``salbench run`` command line."""
    return RunSpec(methods=args.method, datasets=args.datasets, options=list(args.option or []),
                   weights=args.weights, device=args.device, crf=args.crf,
                   protocols=[args.protocol] if args.protocol else None, data_root=args.data_root,
                   results=args.results, store=args.store, plugins=list(args.plugin or []),
                   batch_size=args.batch_size, workers=args.workers, maps=args.maps, name=args.name,
                   recompute=args.recompute, strict=args.strict, copy_maps=args.copy_maps,
                   progress=not args.quiet)


def main(args: argparse.Namespace) -> int:
    return Runner(spec_from_args(args)).run().exit_code
