"""Predicting the missing maps of one (method label, dataset): the method
contract checks, in-process batches, thread or process pools over images,
and the dense-CRF pass; each map is written atomically as a PNG."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from salbench.errors import InputError, SalbenchError
from salbench.run.pools import prefetch, process_pool, progress, tally

#: the method instance of a prediction worker process
_WORKER: dict[str, Any] = {}


def _worker_init(spec_name: str, options: dict, weights: str | None, device: str,
                 plugins: list[str], dataset: Any = None, label: str = "") -> None:
    """In a prediction worker: load the plugins, create, prepare and bind the method."""
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
    return predict_one(_WORKER["method"], image_path, name, out_path)


def predict_one(m, image_path: str, name: str, out_path: str) -> tuple[str, str | None]:
    """Read, predict and write one image with method ``m``; returns
    ``(name, problem or None)``."""
    from salbench.data.imageio import read_rgb, write_png_atomic
    try:
        img = read_rgb(image_path)
        sal = call_predict(m, [img], [name])[0]
        check_map(sal, img, name, m)
        write_png_atomic(out_path, sal)
    except InputError as exc:
        return name, str(exc)
    return name, None


def call_predict(m, images: list, names: list[str]) -> list:
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


def check_map(sal, img, name: str, m) -> None:
    """The method contract: a uint8 map of the image's size (else one line, exit 2)."""
    import numpy as np
    if not isinstance(sal, np.ndarray) or sal.dtype != np.uint8 or sal.shape != img.shape[:2]:
        from salbench.plugins.registry import origin
        raise SalbenchError(f"method {m.name!r} ({origin(type(m))}) returned {getattr(sal, 'dtype', type(sal).__name__)} "
                            f"{tuple(getattr(sal, 'shape', ()))} for image {name!r}; the contract is "
                            f"a uint8 map of the image's size {tuple(img.shape[:2])}")


def _crf_task(image_path: str, raw_path: str, out_path: str, name: str) -> tuple[str, str | None]:
    """Dense CRF of one raw map; returns ``(name, problem or None)``."""
    from salbench.data.imageio import read_map, read_rgb, write_png_atomic
    from salbench.nn.crf import dense_crf
    try:
        img = read_rgb(image_path)
        raw = read_map(raw_path)
        write_png_atomic(out_path, dense_crf(img, raw))
    except InputError as exc:
        return name, str(exc)
    return name, None


def by_size(todo: list) -> list:
    """Pairs ordered by image size (read from the file header), so batches
    hold images of one size; order within a size is kept. An unreadable image
    sorts first (predicted, and reported, on its own)."""
    from salbench.data.imageio import header_size
    return sorted(todo, key=lambda p: header_size(p.image) or (0, 0))


def predict_maps(spec, method, label: str, ds, todo: list, out_dir, batch: int, weights: str | None,
                 problems: dict, *, workers: int, quiet: bool, device: str,
                 plugins: list[str]) -> int:
    """Predict the maps of the pairs ``todo`` into ``out_dir``, as
    ``Method.parallel`` asks: a process pool over images (``"processes"``),
    threads sharing one instance (``"threads"``), else batches of ``batch`` in
    this process (learned methods get their images ordered by size). Problems
    of single images go to ``problems``; returns the number of maps written."""
    if not todo:
        return 0
    out_dir.mkdir(parents=True, exist_ok=True)
    bar = progress(len(todo), f"{label}/{ds.name}", quiet)
    n = 0
    try:
        if method.parallel == "processes" and workers > 1 and len(todo) > 1:
            with process_pool(workers, _worker_init, (spec.name, dict(method.options), weights, device,
                                                      plugins, ds, label)) as pool:
                futs = [pool.submit(_predict_task, str(p.image), p.name,
                                    str(out_dir / f"{p.name}.png")) for p in todo]
                n = tally((f.result() for f in as_completed(futs)), problems, bar)
        elif method.parallel == "threads" and workers > 1 and len(todo) > 1:
            # one shared instance, images in parallel threads (GIL-free kernels)
            def task(p):
                return predict_one(method, str(p.image), p.name, str(out_dir / f"{p.name}.png"))

            with ThreadPoolExecutor(workers) as pool:
                futs = [pool.submit(task, p) for p in todo]
                n = tally((f.result() for f in as_completed(futs)), problems, bar)
        else:
            if batch > 1 and spec.cls.kind == "learned":
                todo = by_size(todo)  # same-size images together: full batches
            n = _predict_inline(method, todo, out_dir, batch, problems, bar, workers)
    finally:
        bar.close()
    return n


def _predict_inline(method, todo, out_dir, batch, problems, bar, workers: int) -> int:
    """Batches of ``batch`` images in this process, decoded ahead by threads."""
    from salbench.data.imageio import read_rgb

    def load(p):
        try:
            return p, read_rgb(p.image), None
        except InputError as exc:
            return p, None, str(exc)

    n = 0
    with ThreadPoolExecutor(max(1, min(workers, 4))) as readers:
        chunk: list = []
        for item in prefetch(readers, load, todo, ahead=2 * batch + 4):  # decoded ahead, in order
            chunk.append(item)
            if len(chunk) >= batch:
                n += _predict_chunk(method, chunk, out_dir, problems)
                bar.update(len(chunk))
                chunk = []
        if chunk:
            n += _predict_chunk(method, chunk, out_dir, problems)
            bar.update(len(chunk))
    return n


def _predict_chunk(method, chunk: list, out_dir, problems: dict) -> int:
    """One batch of ``(pair, image or None, problem)``: predicted in one call,
    or one image at a time when an image of it is refused; returns the
    number of maps written."""
    from salbench.data.imageio import write_png_atomic
    good = [(p, img) for p, img, _ in chunk if img is not None]
    done = 0
    maps: list | None = []
    if good:
        try:
            maps = call_predict(method, [img for _, img in good], [p.name for p, _ in good])
        except InputError:
            maps = None  # isolate the bad one: one image at a time
        if maps is None:
            maps = []
            for p, img in good:
                try:
                    maps.append(call_predict(method, [img], [p.name])[0])
                except InputError as exc:
                    problems[p.name] = str(exc)
                    maps.append(None)
    for (p, img), sal in zip(good, maps):
        if sal is None:
            continue
        check_map(sal, img, p.name, method)
        write_png_atomic(out_dir / f"{p.name}.png", sal)
        done += 1
    for p, img, err in chunk:
        if err:
            problems[p.name] = err
    return done


def crf_maps(label: str, dsname: str, todo: list, raw_dir, out_dir, problems: dict, *,
             workers: int, quiet: bool) -> int:
    """The dense CRF of the raw maps of ``todo`` (``raw_dir``) into
    ``out_dir``, in a process pool; returns the number of maps written."""
    if not todo:
        return 0
    bar = progress(len(todo), f"{label}/{dsname} CRF", quiet)
    n = 0
    try:
        tasks = [(str(p.image), str(raw_dir / f"{p.name}.png"), str(out_dir / f"{p.name}.png"),
                  p.name) for p in todo]
        if workers > 1 and len(tasks) > 1:
            with process_pool(workers) as pool:
                futs = [pool.submit(_crf_task, *t) for t in tasks]
                n = tally((f.result() for f in as_completed(futs)), problems, bar)
        else:
            n = tally((_crf_task(*t) for t in tasks), problems, bar)
    finally:
        bar.close()
    return n
