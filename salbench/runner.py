"""``salbench run``: predict maps with methods on datasets, evaluate, store.

For each method and dataset:

1. the method is created through the registry and ``prepare()``-d before any
   image is read (a :class:`~salbench.registry.MethodNotReady` aborts with its
   message);
2. maps are written as PNG to ``<results>/<label>/<dataset>/<name>.png`` (the
   layout published results use) with :func:`salbench.imageio.write_png_atomic`;
   images whose final PNG exists are skipped, so an interrupted run resumes where
   it stopped. ``<label>`` is ``--name`` or the method name; a CRF method run
   against its default gets ``-nocrf`` / ``-crf`` appended so the two never mix.
   A ``.salbench-run.json`` in each folder records what made the maps; resuming
   with different options or weights is refused (choose another ``--name``);
3. parallelism follows ``Method.parallel``: ``"processes"`` - a process pool over
   images, each worker building its own instance from the registry (name +
   options); ``"none"`` / ``"threads"`` - batches of ``batch_size`` in this
   process (images decoded ahead by a thread pool);
4. with CRF (``--crf``, default ``Method.default_crf``, only where
   ``supports_crf``) the raw maps go to ``<dataset>/.raw/`` and
   :func:`salbench.crf.dense_crf` runs in a process pool; FPS is recorded
   without and with CRF;
5. all maps of the dataset are evaluated under each protocol (default: every
   protocol, so ``report --protocol r3net`` can reproduce the paper) and the
   per-image scores, summary and curves go to the results store, with one
   ``runs`` row holding options, weights sha256, versions, git revision, timings.

A corrupt image, a missing precomputed map or an unreadable GT is recorded as a
problem naming the file: everything else goes on, the problems are listed at the
end and the exit status is 1.
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
from pathlib import Path
from typing import Any

from salbench.errors import InputError, SalbenchError

SIGNATURE_FILE = ".salbench-run.json"
RAW_DIR = ".raw"


# -- helpers ------------------------------------------------------------------

def parse_options(items: list[str] | None) -> dict[str, Any]:
    """``key=value`` strings to a dict; values parse as JSON when they can
    (``3``, ``0.5``, ``true``, ``null``, ``[1,2]``), else stay strings."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise SalbenchError(f"--option {item!r}: expected key=value")
        k, v = item.split("=", 1)
        k = k.strip().replace("-", "_")
        if v.lower() in ("true", "false"):
            out[k] = v.lower() == "true"
            continue
        try:
            out[k] = json.loads(v)
        except ValueError:
            out[k] = v
    return out


def sha256_file(path: str | Path | None) -> str | None:
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
                 plugins: list[str]) -> None:
    from salbench import registry
    for p in plugins:
        try:
            registry.load_plugin(p)
        except registry.RegistryError:
            pass  # already registered (fork) - get_spec below says if not
    m = registry.get_spec(spec_name).create(weights=weights, device=device, **options)
    m.prepare()
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


# -- the run ----------------------------------------------------------------------

class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.results = Path(args.results)
        self.workers = args.workers or _default_workers()
        self.quiet = bool(getattr(args, "quiet", False))
        self.problems: list[str] = []

    def log(self, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    # -- top level ---------------------------------------------------------
    def run(self) -> int:
        from salbench import datasets, registry
        from salbench.protocols import PROTOCOLS, get_protocol
        from salbench.store import ResultsStore, default_path

        plugins = list(self.args.plugin or [])
        for p in plugins:
            added = registry.load_plugin(p)
            self.log(f"plugin {p}: {', '.join(added)}")
        names = [n.strip() for n in self.args.method.split(",") if n.strip()]
        if not names:
            raise SalbenchError("--method: name at least one method")
        if self.args.name and len(names) > 1:
            raise SalbenchError("--name labels one method; run the methods separately")
        specs = [registry.get_spec(n) for n in names]  # unknown names fail before any work
        protocols = ([get_protocol(self.args.protocol).name] if self.args.protocol
                     else list(PROTOCOLS))
        dsets = datasets.expand(self.args.datasets, self.args.data_root, warn=self.log)
        store = ResultsStore(self.args.store or default_path(self.results))
        self.plugins = plugins
        try:
            for spec in specs:
                self.run_method(spec, dsets, protocols, store)
        finally:
            store.close()
        if self.problems:
            self.log(f"\n{len(self.problems)} problem(s); everything else was computed and stored:")
            for p in self.problems:
                self.log(f"  - {p}")
            return 1
        return 0

    def run_method(self, spec, dsets, protocols, store) -> None:
        args = self.args
        cls = spec.cls
        options = {**spec.options, **parse_options(args.option)}
        if "maps" in cls.default_options:
            if args.maps:
                options["maps"] = str(Path(args.maps).expanduser().resolve())
            if args.name:
                options.setdefault("label", args.name)
        elif args.maps:
            raise SalbenchError(f"--maps applies to the maps method, not {spec.name!r}")
        crf = cls.default_crf if args.crf is None else bool(args.crf)
        if crf and not cls.supports_crf:
            self.log(f"note: {spec.name} does not use the dense CRF; --crf ignored")
            crf = False
        if crf:
            try:
                import salbench.crf  # noqa: F401
            except ImportError as exc:
                raise SalbenchError(f"--crf: salbench.crf is not available ({exc}); use --no-crf") from None
        label = args.name or spec.name
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+*-]*", label):
            raise SalbenchError(f"--name {label!r}: use letters, digits and . _ + * - only "
                                f"(it becomes the folder results/<name>/)")
        if not args.name and cls.supports_crf and crf != cls.default_crf:
            label += "-crf" if crf else "-nocrf"
        if args.batch_size:
            batch = args.batch_size
        else:
            batch = max(1, int(getattr(cls, "batch_size", 1) or 1))
        weights = str(Path(args.weights).expanduser()) if args.weights else None
        weights_sha = sha256_file(weights)
        if weights and weights_sha is None:
            raise SalbenchError(f"--weights {weights}: no such file")
        per_dataset = "dataset" in cls.default_options
        method = None
        for ds in dsets:
            opts = dict(options)
            if per_dataset:
                opts["dataset"] = ds.name
            if method is None or per_dataset:
                method = spec.create(weights=weights, device=args.device, **opts)
                method.prepare()  # before any image is read
                self._describe(store, label, spec, method)
            self.run_dataset(spec, method, opts, label, ds, protocols, store, crf, batch,
                             weights, weights_sha)

    def _describe(self, store, label, spec, method) -> None:
        params = gmacs = None
        if spec.cls.kind == "learned":
            try:
                from salbench.listing import method_cost
                params, gmacs = method_cost(spec, {k: v for k, v in method.options.items()
                                                   if k in spec.cls.default_options})
            except Exception as exc:  # description only: never fail a run on it
                self.log(f"note: {label}: params/GMACs unavailable ({type(exc).__name__}: {exc})")
        store.put_method(label, spec.name, spec.cls.kind, spec.cls.paper, params, gmacs)

    # -- one dataset ---------------------------------------------------------
    def run_dataset(self, spec, method, opts, label, ds, protocols, store, crf, batch,
                    weights, weights_sha) -> None:
        out_dir = self.results / label / ds.name
        raw_dir = out_dir / RAW_DIR if crf else out_dir
        sig = {"method": spec.name,
               "options": {k: v for k, v in method.options.items() if k != "dataset"},
               "weights_sha256": weights_sha, "crf": crf}
        self._check_signature(out_dir, sig, label, ds.name)
        final = {p.name: out_dir / f"{p.name}.png" for p in ds.pairs}
        todo_pred = [p for p in ds.pairs if not final[p.name].exists()
                     and not (crf and (raw_dir / f"{p.name}.png").exists())]
        n_done_before = sum(1 for p in ds.pairs if final[p.name].exists())
        run_id = uuid.uuid4().hex
        store.start_run(run_id, method=label, method_name=spec.name, dataset=ds.name,
                        protocols=protocols, options=sig["options"], weights=weights,
                        weights_sha256=weights_sha, crf=int(crf), device=self.args.device,
                        versions=versions(), git_revision=git_revision(), n_images=len(ds.pairs),
                        n_resumed=n_done_before, host=socket.gethostname())
        for prob in ds.problems:
            self._problem(f"{ds.name}: {prob}")
        problems: dict[str, str] = {}
        status = "interrupted"
        try:
            if n_done_before:
                self.log(f"{label}/{ds.name}: resuming, {n_done_before} of {len(ds.pairs)} maps "
                         f"already in {out_dir}")
            t0 = time.perf_counter()
            n_pred = self._predict(spec, method, opts, label, ds.name, todo_pred, raw_dir, batch,
                                   weights, problems)
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
            # evaluation of everything that exists (this run's and earlier runs' maps)
            pairs = [(p.name, str(final[p.name]), str(p.gt)) for p in ds.pairs if final[p.name].exists()]
            missing = len(ds.pairs) - len(pairs)
            n_eval = 0
            if pairs:
                n_eval = self._evaluate(label, ds.name, pairs, protocols, store, run_id, problems)
            else:
                self._problem(f"{label}/{ds.name}: no maps to evaluate")
            for name, msg in sorted(problems.items()):
                self._problem(f"{label}/{ds.name}: {msg}")
            status = "done" if not problems and not missing else "done-with-problems"
            fps_txt = f"{fps:.2f} img/s" if fps else "n/a (nothing new to predict)"
            if fps_crf:
                fps_txt += f", {fps_crf:.2f} img/s with CRF"
            self.log(f"{label}/{ds.name}: {n_eval}/{len(ds.pairs)} maps evaluated "
                     f"({n_pred} predicted now; {fps_txt})")
        finally:
            store.update_run(run_id, status=status, finished=time.time(),
                             n_problems=len(problems), problems=sorted(problems.values()))

    def _problem(self, msg: str) -> None:
        self.problems.append(msg)

    def _check_signature(self, out_dir: Path, sig: dict, label: str, dataset: str) -> None:
        f = out_dir / SIGNATURE_FILE
        if f.is_file():
            try:
                old = json.loads(f.read_text())
            except ValueError:
                old = None
            if old is not None and old != json.loads(json.dumps(sig)):
                has_maps = any(out_dir.glob("*.png")) or any((out_dir / RAW_DIR).glob("*.png"))
                if has_maps:
                    raise SalbenchError(
                        f"{out_dir} holds maps made with other settings ({_diff(old, sig)}); "
                        f"store this run under another label with --name, or delete that folder")
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out_dir / f".{SIGNATURE_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(sig, indent=1, sort_keys=True))
        os.replace(tmp, f)

    # -- prediction ----------------------------------------------------------
    def _predict(self, spec, method, opts, label, dsname, todo, out_dir, batch, weights,
                 problems) -> int:
        if not todo:
            return 0
        out_dir.mkdir(parents=True, exist_ok=True)
        bar = _progress(len(todo), f"{label}/{dsname}", self.quiet)
        n = 0
        try:
            if method.parallel == "processes" and self.workers > 1 and len(todo) > 1:
                opts_w = dict(opts)
                with ProcessPoolExecutor(self.workers, initializer=_worker_init,
                                         initargs=(spec.name, opts_w, weights, self.args.device,
                                                   self.plugins)) as pool:
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


def _diff(old: dict, new: dict) -> str:
    keys = sorted(set(old) | set(new))
    return "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k))


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
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def main(args: argparse.Namespace) -> int:
    if args.batch_size is not None and args.batch_size < 1:
        raise SalbenchError("--batch-size must be >= 1")
    if args.workers is not None and args.workers < 1:
        raise SalbenchError("--workers must be >= 1")
    return Runner(args).run()
