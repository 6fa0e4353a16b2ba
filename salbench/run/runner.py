"""The run: predict maps with methods on datasets, evaluate them, store the scores.

The run is described by a :class:`~salbench.run.spec.RunSpec` (``salbench
run`` builds one from its arguments, :func:`salbench.run` from keywords) and
done by :class:`Runner`, which returns a :class:`~salbench.run.spec.RunResult`.
For each method and dataset:

1. the method is created through the registry with its options checked
   against its declared schema, ``prepare()``-d (weights loaded) and
   ``bind()``-ed to every dataset before any image is read;
2. ``<results>/<label>/<dataset>/`` is locked (:class:`salbench.run.identity.FolderLock`)
   and the run identity - method, options, the method's own identity
   (weights sha256, precomputed maps' fingerprint), source hash, batch size,
   device, dtype, CRF parameters, input size, salbench version, the dataset's
   resolved path and content fingerprint - is compared with the one recorded
   in ``.salbench-run.json`` beside the maps (:mod:`salbench.run.folders`). Any difference refuses the run,
   naming the differences, unless ``--recompute``; changed precomputed maps are
   re-scored. ``<label>`` is ``--name`` or the method name; a CRF method run
   against its default gets ``-nocrf`` / ``-crf`` appended;
3. maps missing from the folder are predicted and written atomically as PNG
   (the layout published results use), so a killed run resumes where it
   stopped (:mod:`salbench.run.predict`). Parallelism follows ``Method.parallel``: ``"processes"`` - a
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

import os
import re
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from salbench.data.imageio import header_size
from salbench.errors import SalbenchError
from salbench.run.engine import default_workers
from salbench.run.folders import (RAW_DIR, check_folder, dataset_fingerprint, header_sizes,
                                  image_records, records_fingerprint, remove_stale_tmp)
from salbench.run.identity import git_revision, versions
from salbench.run.predict import crf_maps, predict_maps
from salbench.run.spec import RUN_WORKERS_CAP, DatasetRun, RunResult, RunSpec

__all__ = ["Runner", "RunSpec", "RunResult", "DatasetRun"]


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
        self.workers = int(spec.workers or default_workers(RUN_WORKERS_CAP))
        self.quiet = not spec.progress
        self.problems: list[str] = []
        self.outcomes: list[DatasetRun] = []
        self._log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self._cache: dict[Any, Any] = {}

    def log(self, msg: str) -> None:
        """Send one progress line to the ``log`` callback (default: stderr)."""
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
        from salbench.run.engine import families_by_protocol
        families_by_protocol(sp.metrics, protocols)  # unknown or undefined metric families: before any work
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
                from salbench.plugins.catalog import method_cost
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
        resume; see :func:`salbench.run.identity.run_identity`)."""
        from salbench.run.identity import run_identity, source_sha256
        spec = e.spec
        return run_identity(spec, e.method, ds, batch=e.batch, device=self.spec.device, crf=e.crf,
                            images=records_fingerprint(self._records(ds)),
                            source=self._cached(("source", spec.cls), lambda: source_sha256(spec.cls)))

    def _records(self, ds) -> dict:
        """:func:`~salbench.run.folders.image_records` of ``ds``, read once per run."""
        return self._cached(("records", ds.root, ds.name), lambda: image_records(ds))

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
                    remove_stale_tmp(out_dir)
                    ident = self.identity(e, ds)
                    check_folder(out_dir, ident, self._records(ds), where=f"{e.label}/{ds.name}",
                                 recompute=self.spec.recompute, log=self.log,
                                 referenced=self._references(e))
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
                                                         lambda: dataset_fingerprint(ds)),
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
            sizes = self._cached(("sizes", ds.root, ds.name), lambda: header_sizes(ds))
            for p in ds.pairs:
                path = e.method.map_file(p.name)
                if path is None:
                    job.problems[p.name] = (f"{Path(e.method.folder) / (p.name + '.png')}: no "
                                            f"precomputed map for image {p.name!r} in {e.method.folder}")
                    continue
                msize = header_size(path)
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
        n_pred = predict_maps(e.spec, e.method, e.label, ds, todo_pred, raw_dir, e.batch, e.weights,
                              job.problems, workers=self.workers, quiet=self.quiet,
                              device=self.spec.device, plugins=self.plugins)
        t_pred = time.perf_counter() - t0
        t_crf, n_crf = 0.0, 0
        if e.crf:
            todo_crf = [p for p in ds.pairs if not final[p.name].exists()
                        and (raw_dir / f"{p.name}.png").exists()]
            t1 = time.perf_counter()
            n_crf = crf_maps(e.label, ds.name, todo_crf, raw_dir, out_dir, job.problems,
                             workers=self.workers, quiet=self.quiet)
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

        curves: dict[tuple[str, str], dict] = {}

        def on_curves(label, proto, name, block):
            curves.setdefault((label, proto), {})[name] = block

        results = evaluate_sets([(p.name, p.gt) for p in ds.pairs], sets, protocols,
                                workers=self.workers, on_image=on_image, metrics=self.spec.metrics,
                                on_curves=on_curves if self.spec.keep_curves else None,
                                images={p.name: p.image for p in ds.pairs}) if sets else {}
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
                                  job.run_id, image_curves=curves.get((label, proto)))
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
