"""Worker pools of a run: process pools that stop with the run and die with
its process, a bounded in-order prefetch, the progress bar and the tally of
per-image results."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Callable


@contextmanager
def process_pool(workers: int, initializer: Callable | None = None, initargs: tuple = ()):
    """A process pool whose workers die with this process (also when it is
    killed) and that stops at once when the run is interrupted: pending tasks
    are cancelled and the workers terminated, instead of ``with
    ProcessPoolExecutor`` waiting for every queued image."""
    pool = ProcessPoolExecutor(workers, initializer=_pool_init, initargs=(initializer, initargs))
    try:
        yield pool
    except BaseException:
        # shutdown forgets the workers and the manager thread: take them first
        procs = list((getattr(pool, "_processes", None) or {}).values())
        manager = getattr(pool, "_executor_manager_thread", None)
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            try:
                proc.terminate()
            except Exception:  # already gone
                pass
        # the manager notices the terminated workers and closes its wake-up
        # pipe; left running, it races CPython 3.11's exit hook, which writes to
        # that pipe while the thread closes it ("OSError: Bad file descriptor"
        # printed after the run's own error line)
        if manager is not None:
            manager.join(30.0)
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


def prefetch(pool, fn, items, ahead: int):
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


def tally(results, problems: dict, bar) -> int:
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


def progress(total: int, desc: str, disable: bool):
    """A tqdm progress bar over images, on stderr."""
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="img", disable=disable, dynamic_ncols=True,
                smoothing=0.1, file=sys.stderr)
