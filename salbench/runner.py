"""``salbench run``: predict maps with methods on datasets, evaluate, store.

The run is described by a :class:`RunSpec` (the CLI only builds one from its
arguments; :func:`salbench.run` builds one from keywords) and done by
:class:`Runner`, which returns a :class:`RunResult`. For each method and
dataset:

1. the method is created through the registry with its options checked
   against its declared schema, ``prepare()``-d (weights loaded) and
   ``bind()``-ed to every dataset before any image is read;
2. ``<results>/<label>/<dataset>/`` is locked (:class:`salbench.identity.FolderLock`)
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
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
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


def _torch_threads() -> int | None:
    """torch's intra-op thread count (learned methods on the CPU)."""
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else None


def _image_records(ds) -> dict[str, list[int]]:
    """``{name: [size, mtime_ns]}`` of a dataset's images."""
    out = {}
    for p in ds.pairs:
        try:
            st = Path(p.image).stat()
            out[p.name] = [st.st_size, st.st_mtime_ns]
        except OSError:
            out[p.name] = [-1, -1]
    return out


def _dataset_fingerprint(ds) -> str:
    """Fingerprint of a dataset's images and GT (recorded with each run)."""
    from salbench.identity import fingerprint_files
    return fingerprint_files([p.image for p in ds.pairs] + [p.gt for p in ds.pairs], ds.root)


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    os.replace(tmp, path)


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
    hold images of one size; order within a size is kept."""
    from PIL import Image

    def size(p):
        try:
            with Image.open(p.image) as im:
                return im.size
        except Exception:  # unreadable: predicted (and reported) on its own
            return (0, 0)
    return sorted(todo, key=size)


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
    here = Path(__file__).resolve().parents[1]
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

_WORKER: dict[str, Any] = {}


def _worker_init(spec_name: str, options: dict, weights: str | None, device: str,
                 plugins: list[str], dataset: Any = None, label: str = "") -> None:
    from salbench import registry
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
    from salbench.imageio import read_rgb, write_png_atomic
    try:
        img = read_rgb(image_path)
        sal = m.predict([img], [name])[0]
        _check_map(sal, img, name, m.name)
        write_png_atomic(out_path, sal)
    except InputError as exc:
        return name, str(exc)
    return name, None


def _crf_task(image_path: str, raw_path: str, out_path: str, name: str) -> tuple[str, str | None]:
    from salbench.crf import dense_crf
    from salbench.imageio import read_map, read_rgb, write_png_atomic
    try:
        img = read_rgb(image_path)
        raw = read_map(raw_path)
        write_png_atomic(out_path, dense_crf(img, raw))
    except InputError as exc:
        return name, str(exc)
    return name, None


def _check_map(sal, img, name: str, method: str) -> None:
    import numpy as np
    if not isinstance(sal, np.ndarray) or sal.dtype != np.uint8 or sal.shape != img.shape[:2]:
        raise RuntimeError(f"method {method!r} returned {getattr(sal, 'dtype', type(sal))} "
                           f"{getattr(sal, 'shape', '')} for {name!r}; the contract is a uint8 map "
                           f"of the image's size {img.shape[:2]}")


# -- the run specification ----------------------------------------------------------

@dataclass
class RunSpec:
    """Everything a run needs, independent of any command line.

    ``options`` are the methods' options: a dict of typed values, or
    ``["key=value", ...]`` strings parsed against each method's declared
    schema (:mod:`salbench.options`); with several methods every option must
    be one each of them declares. ``maps`` is the ``maps`` method's folder
    (the same as ``options={"maps": DIR}``). ``recompute`` replaces maps made
    with another identity instead of refusing; ``strict`` makes a partial
    dataset (fewer pairs than registered) an error.
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
    from salbench import crf
    return {k.lower(): getattr(crf, k) for k in dir(crf) if k.startswith("CRF_")}


# -- the run ----------------------------------------------------------------------

class Runner:
    """Runs a :class:`RunSpec`: for each method and dataset, predict the maps
    that are missing, evaluate every map under each protocol, and store the
    scores with the run identity. ``log`` receives progress lines."""

    def __init__(self, spec: RunSpec, log: Callable[[str], None] | None = None) -> None:
        self.spec = spec
        self.results = Path(spec.results)
        self.workers = int(spec.workers or _default_workers())
        self.quiet = not spec.progress
        self.problems: list[str] = []
        self.outcomes: list[DatasetRun] = []
        self._log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))

    def log(self, msg: str) -> None:
        self._log(msg)

    # -- top level ---------------------------------------------------------
    def run(self) -> RunResult:
        """Do the whole run; returns what was stored."""
        from salbench import datasets, registry
        from salbench.protocols import PROTOCOLS, get_protocol
        from salbench.store import ResultsStore, default_path

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
        store_path = Path(sp.store) if sp.store else default_path(self.results)
        store = ResultsStore(store_path)
        n_dead = store.mark_dead_runs()
        if n_dead:
            self.log(f"note: {n_dead} earlier run(s) whose process died are marked interrupted")
        try:
            for spec, o in zip(specs, opts):
                self.run_method(spec, o, dsets, protocols, store)
        finally:
            store.close()
        if self.problems:
            self.log(f"\n{len(self.problems)} problem(s); everything else was computed and stored:")
            for p in self.problems:
                self.log(f"  - {p}")
        return RunResult(self.outcomes, list(self.problems), str(store_path),
                         1 if self.problems else 0)

    def _options(self, spec) -> dict[str, Any]:
        from salbench.options import parse_cli, validate
        schema = spec.cls.options_schema()
        given = self.spec.options
        if isinstance(given, Mapping):
            opts = validate(spec.name, schema, dict(given), allow_internal=False)
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

    def run_method(self, spec, options: dict[str, Any], dsets, protocols, store) -> None:
        """Run one registered method on every dataset."""
        sp = self.spec
        cls = spec.cls
        crf = cls.default_crf if sp.crf is None else bool(sp.crf)
        if crf and not cls.supports_crf:
            self.log(f"note: {spec.name} does not use the dense CRF; --crf ignored")
            crf = False
        if crf:
            try:
                import salbench.crf  # noqa: F401
            except ImportError as exc:
                raise SalbenchError(f"--crf: salbench.crf is not available ({exc}); use --no-crf") from None
        label = sp.name or spec.name
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+*-]*", label):
            raise SalbenchError(f"--name {label!r}: use letters, digits and . _ + * - only "
                                f"(it becomes the folder results/<name>/)")
        if not sp.name and cls.supports_crf and crf != cls.default_crf:
            label += "-crf" if crf else "-nocrf"
        batch = int(sp.batch_size or max(1, int(getattr(cls, "batch_size", 1) or 1)))
        weights = str(Path(sp.weights).expanduser()) if sp.weights else None
        if weights and not Path(weights).is_file():
            raise SalbenchError(f"--weights {weights}: no such file")
        method = spec.create(weights=weights, device=sp.device, **options)
        method.prepare()  # before any image is read
        names = [ds.name for ds in dsets]
        for ds in dsets:  # every dataset's binding checked before any work
            method.bind(ds, label, run_datasets=names)
        self._describe(store, label, spec, method)
        for ds in dsets:
            method.bind(ds, label, run_datasets=names)
            self.run_dataset(spec, method, label, ds, protocols, store, crf, batch, weights)

    def _describe(self, store, label, spec, method) -> None:
        params = gmacs = None
        size = tuple(getattr(method, "cost_size", (300, 300)))
        if spec.cls.kind == "learned":
            try:
                from salbench.listing import method_cost
                params, gmacs = method_cost(spec, {k: v for k, v in method.options.items()
                                                   if k in spec.cls.default_options}, size)
            except Exception as exc:  # description only: never fail a run on it
                self.log(f"note: {label}: params/GMACs unavailable ({type(exc).__name__}: {exc})")
        store.put_method(label, spec.name, spec.cls.kind, spec.cls.paper, params, gmacs,
                         size if gmacs is not None else None)

    # -- identity ------------------------------------------------------------
    def identity(self, spec, method, ds, crf: bool, batch: int) -> dict[str, Any]:
        """Everything that can change this run's maps (compared on resume).
        The dataset enters by resolved path and a fingerprint of its images
        (the maps depend on them; the GT is re-read by every evaluation)."""
        import salbench
        from salbench.identity import fingerprint_files, source_sha256
        learned = spec.cls.kind == "learned"
        amp = bool(method.options.get("amp")) and str(self.spec.device).startswith("cuda")
        return {
            "format": IDENTITY_FORMAT,
            "method": spec.name,
            "options": _plain(method.options),
            "method_identity": _plain(method.identity()),
            "source_sha256": source_sha256(spec.cls),
            "batch_size": batch,
            "device": str(self.spec.device),
            "dtype": ("bf16" if amp else "fp32") if learned else None,
            # CPU convolutions sum in a thread-count-dependent order (±1 grey level, rarely)
            "cpu_threads": _torch_threads() if learned and str(self.spec.device) == "cpu" else None,
            "crf": _crf_identity() if crf else False,
            "input_size": _plain(getattr(method, "input_size", None)),
            "salbench": salbench.__version__,
            "dataset": {"name": ds.name, "path": str(Path(ds.root).resolve()),
                        "images": fingerprint_files([p.image for p in ds.pairs], ds.root)},
        }

    def _check_identity(self, out_dir: Path, ident: dict, label: str, ds) -> str:
        """Compare with the identity of the maps already in ``out_dir``.
        Returns ``"new"``, ``"same"``, ``"images"`` (maps of changed images
        deleted) or ``"recompute"`` (all old maps deleted); refuses
        (SalbenchError naming the differences) otherwise."""
        from salbench.identity import describe_diff, diff
        f = out_dir / SIGNATURE_FILE
        has_maps = any(out_dir.glob("*.png")) or any((out_dir / RAW_DIR).glob("*.png"))
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
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(out_dir / IMAGES_FILE, _image_records(ds))
        _write_json_atomic(f, ident)
        return verdict

    def _clear_changed_images(self, out_dir: Path, ds) -> int:
        """Delete the maps of images whose (size, mtime) differ from the
        record of the last run, or that are no longer in the dataset."""
        try:
            old = json.loads((out_dir / IMAGES_FILE).read_text())
        except (OSError, ValueError):
            old = {}
        now = _image_records(ds)
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
    def run_dataset(self, spec, method, label, ds, protocols, store, crf, batch, weights) -> None:
        """Predict what is missing, CRF, evaluate and store one dataset, with
        ``<results>/<label>/<dataset>/`` locked for the whole time."""
        from salbench.identity import FolderLock
        out_dir = self.results / label / ds.name
        with FolderLock(out_dir, what=f"salbench run --method {spec.name} ({label}) on {ds.name}"):
            _remove_stale_tmp(out_dir)
            ident = self.identity(spec, method, ds, crf, batch)
            self._check_identity(out_dir, ident, label, ds)
            self._run_locked(spec, method, label, ds, protocols, store, crf, batch, weights,
                             out_dir, ident)

    def _run_locked(self, spec, method, label, ds, protocols, store, crf, batch, weights,
                    out_dir: Path, ident: dict) -> None:
        raw_dir = out_dir / RAW_DIR if crf else out_dir
        final = {p.name: out_dir / f"{p.name}.png" for p in ds.pairs}
        todo_pred = [p for p in ds.pairs if not final[p.name].exists()
                     and not (crf and (raw_dir / f"{p.name}.png").exists())]
        n_done_before = sum(1 for p in ds.pairs if final[p.name].exists())
        expected = _expected(ds)
        run_id = uuid.uuid4().hex
        mid = ident.get("method_identity") or {}
        store.start_run(run_id, method=label, method_name=spec.name, dataset=ds.name,
                        protocols=protocols, options=ident["options"], weights=weights or mid.get("weights"),
                        weights_sha256=mid.get("weights_sha256"), crf=int(crf), device=self.spec.device,
                        versions=versions(), git_revision=git_revision(), n_images=len(ds.pairs),
                        n_resumed=n_done_before, host=socket.gethostname(), pid=os.getpid(),
                        identity=ident, dataset_path=ident["dataset"]["path"],
                        dataset_fingerprint=_dataset_fingerprint(ds), n_expected=expected,
                        batch_size=batch, dtype=ident["dtype"], source_sha256=ident["source_sha256"])
        outcome = DatasetRun(run_id, label, spec.name, ds.name, "running", len(ds.pairs), expected,
                             n_resumed=n_done_before, out_dir=str(out_dir))
        self.outcomes.append(outcome)
        prob_rows: list[tuple[str, str | None, str | None, str]] = []
        for prob in ds.problems:
            self._problem(f"{ds.name}: {prob}")
            prob_rows.append(("dataset", None, None, str(prob)))
        if expected is not None and len(ds.pairs) < expected:
            prob_rows.append(("partial", None, str(ds.root), f"{len(ds.pairs)}/{expected} pairs"))
        problems: dict[str, str] = {}
        status = "interrupted"
        try:
            if n_done_before:
                self.log(f"{label}/{ds.name}: resuming, {n_done_before} of {len(ds.pairs)} maps "
                         f"already in {out_dir}")
            t0 = time.perf_counter()
            n_pred = self._predict(spec, method, label, ds, todo_pred, raw_dir, batch, weights,
                                   problems)
            t_pred = time.perf_counter() - t0
            t_crf = 0.0
            n_crf = 0
            if crf:
                todo_crf = [p for p in ds.pairs if not final[p.name].exists()
                            and (raw_dir / f"{p.name}.png").exists()]
                t1 = time.perf_counter()
                n_crf = self._crf(label, ds.name, todo_crf, raw_dir, out_dir, problems)
                t_crf = time.perf_counter() - t1
            fps = n_pred / t_pred if n_pred and t_pred > 0 else None
            fps_crf = None
            if crf and n_pred and n_crf:
                fps_crf = 1.0 / (t_pred / n_pred + t_crf / n_crf)
            store.update_run(run_id, n_predicted=n_pred, predict_seconds=t_pred,
                             crf_seconds=t_crf if crf else None, fps=fps, fps_crf=fps_crf)
            outcome.n_predicted = n_pred
            pairs = [(p.name, str(final[p.name]), str(p.gt)) for p in ds.pairs if final[p.name].exists()]
            missing = len(ds.pairs) - len(pairs)
            n_eval = 0
            if pairs:
                n_eval = self._evaluate(label, ds.name, pairs, protocols, store, run_id, problems)
            else:
                self._problem(f"{label}/{ds.name}: no maps to evaluate")
            for name, msg in sorted(problems.items()):
                self._problem(f"{label}/{ds.name}: {msg}")
                prob_rows.append(("predict" if not name.startswith("<") else "evaluate",
                                  None if name.startswith("<") else name, None, msg))
            outcome.n_evaluated = n_eval
            status = "done" if not problems and not missing else "done-with-problems"
            fps_txt = f"{fps:.2f} img/s" if fps else "n/a (nothing new to predict)"
            if fps_crf:
                fps_txt += f", {fps_crf:.2f} img/s with CRF"
            part = f" (partial: {len(ds.pairs)}/{expected})" if outcome.partial else ""
            self.log(f"{label}/{ds.name}: {n_eval}/{len(ds.pairs)} maps evaluated{part} "
                     f"({n_pred} predicted now; {fps_txt})")
        finally:
            outcome.status = status
            outcome.problems = sorted(problems.values())
            store.update_run(run_id, status=status, finished=time.time(),
                             n_problems=len(problems), problems=sorted(problems.values()))
            store.put_problems(run_id, label, ds.name, prob_rows)

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
                with ProcessPoolExecutor(self.workers, initializer=_worker_init,
                                         initargs=(spec.name, dict(method.options), weights,
                                                   self.spec.device, self.plugins, ds, label)) as pool:
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
        from salbench.imageio import read_rgb, write_png_atomic

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
                        maps = method.predict([img for _, img in good], [p.name for p, _ in good])
                    except InputError:
                        maps = None  # isolate the bad one: one image at a time
                    if maps is None:
                        maps = []
                        for p, img in good:
                            try:
                                maps.append(method.predict([img], [p.name])[0])
                            except InputError as exc:
                                problems[p.name] = str(exc)
                                maps.append(None)
                for (p, img), sal in zip(good, maps):
                    if sal is None:
                        continue
                    _check_map(sal, img, p.name, method.name)
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
                with ProcessPoolExecutor(self.workers) as pool:
                    futs = [pool.submit(_crf_task, *t) for t in tasks]
                    n = _tally((f.result() for f in as_completed(futs)), problems, bar)
            else:
                n = _tally((_crf_task(*t) for t in tasks), problems, bar)
        finally:
            bar.close()
        return n

    # -- evaluation ----------------------------------------------------------
    def _evaluate(self, label, dsname, pairs, protocols, store, run_id, problems) -> int:
        """Evaluate under each protocol and store; returns the fewest images any
        protocol could evaluate."""
        from salbench.evaluate import evaluate_pairs
        counts = []
        for proto in protocols:
            todo = list(pairs)
            for _attempt in range(len(pairs)):
                per_image: dict[str, dict] = {}

                def cb(name, scores, _d=per_image):
                    _d[name] = dict(scores)

                try:
                    summary = evaluate_pairs(todo, protocol=proto, workers=self.workers, on_image=cb)
                except InputError as exc:
                    bad = [t for t in todo if Path(t[1]) == exc.path or Path(t[2]) == exc.path]
                    if not bad:
                        raise
                    for t in bad:
                        problems[t[0]] = str(exc)
                    todo = [t for t in todo if t not in bad]
                    if not todo:
                        break
                    continue
                except SalbenchError as exc:  # e.g. no pair readable: keep the other datasets going
                    problems[f"<evaluation {proto}>"] = f"evaluation under {proto} failed: {exc}"
                    break
                for u in summary.get("unreadable") or []:
                    if isinstance(u, dict):
                        problems[str(u.get("name"))] = f"{u.get('path')}: {u.get('problem')}"
                res = summary.get("resized")
                n_res = res.get("count", 0) if isinstance(res, dict) else len(res or [])
                if n_res:
                    names = res.get("names", []) if isinstance(res, dict) else res
                    self.log(f"note: {label}/{dsname} ({proto}): {n_res} map(s) resized to their GT's "
                             f"size for evaluation (GT size differs from the image), e.g. {names[:3]}")
                store.put_results(label, dsname, proto, summary, per_image, run_id)
                counts.append(int(summary.get("count", len(per_image))))
                break
        return min(counts) if len(counts) == len(protocols) else 0


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
    p.add_argument("--maps", help="maps method: folder of precomputed maps (DIR/<dataset>/ or flat)")
    p.add_argument("--name", help="label to store the results under (default: the method name)")
    p.add_argument("--recompute", action="store_true",
                   help="replace maps made with other settings (default: refuse, naming the differences)")
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
                   recompute=args.recompute, strict=args.strict, progress=not args.quiet)


def main(args: argparse.Namespace) -> int:
    return Runner(spec_from_args(args)).run().exit_code
