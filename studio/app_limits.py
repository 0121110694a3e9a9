"""The studio's limits as a long-running public server: what it decodes, what it keeps on disk, how
many jobs run at once. Each limit is read from an environment variable (documented in
docs/studio.md) when the module is imported, and can be changed on the module afterwards.

Disk: the studio writes three places -- its run folders (``STUDIO_RUN_DIR``), the Benchmark tab's
scratch folder, and Gradio's cache (``GRADIO_TEMP_DIR``: uploads and the copies of every file it
serves). ``prune`` deletes what is older than ``CACHE_MAX_AGE_S``, then the oldest entries until
a folder holds at most ``CACHE_MAX_MB``; ``prune_gradio_cache`` does the same with the files
Gradio created for this app (never another app's, never the page's own images).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path


def env_number(name: str, default: float, low: float = 0.0) -> float:
    """A number from the environment (``default`` when unset); a clear error when it is not one."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return float(default)
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a number") from None
    if not value >= low or value == float("inf"):  # also refuses NaN
        raise ValueError(f"{name}={raw!r}: expected a finite number of at least {low:g}")
    return value


#: largest image the studio decodes, in pixels: a 12 MP camera photo fits. A clean photo is then
#: downscaled to the work size (~1.1 MP), so decoding more would only cost memory and time: a
#: 38 MP PNG took 1.5 GB and 8 s of the single model slot.
MAX_UPLOAD_MP = env_number("STUDIO_MAX_UPLOAD_MP", 12, low=0.01)
#: seconds after which a run folder, a benchmark case or a file in Gradio's cache is deleted
CACHE_MAX_AGE_S = env_number("STUDIO_CACHE_MAX_AGE", 3600, low=1)
#: most megabytes each of the three folders may hold (a 256x256 SR comparison writes ~4 MB to each)
CACHE_MAX_MB = env_number("STUDIO_CACHE_MAX_MB", 500, low=1)
#: how often (seconds) Gradio's own sweep deletes cache files older than CACHE_MAX_AGE_S
CACHE_SWEEP_S = env_number("STUDIO_CACHE_SWEEP", 300, low=1)
#: model-running jobs at once (comparisons, benchmark cases, recomputes); the rest wait in the queue
MODEL_SLOTS = int(env_number("STUDIO_CONCURRENCY", 1, low=1))
#: requests that may wait in the queue; beyond it a request is refused ("queue is full")
QUEUE_SIZE = int(env_number("STUDIO_QUEUE_SIZE", 16, low=1))


def max_upload_pixels() -> int:
    return int(MAX_UPLOAD_MP * 1e6)


def max_bytes() -> int:
    return int(CACHE_MAX_MB * 1024 * 1024)


def _entry_stats(path: Path) -> tuple[int, float]:
    """(bytes, newest modification time) of a file or a whole folder; (0, 0) if it vanished."""
    try:
        if not path.is_dir():
            stat = path.stat()
            return stat.st_size, stat.st_mtime
        size, newest = 0, path.stat().st_mtime
        for root, _, files in os.walk(path):
            for name in files:
                try:
                    stat = os.stat(os.path.join(root, name))
                except OSError:
                    continue
                size += stat.st_size
                newest = max(newest, stat.st_mtime)
        return size, newest
    except OSError:
        return 0, 0.0


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


def prune(folder, max_age_s: float | None = None, max_size: int | None = None, keep=(), keep_newest: int = 1,
          now: float | None = None) -> list[Path]:
    """Delete the entries (files or sub-folders) of ``folder`` last modified more than ``max_age_s``
    ago, then the oldest ones until the folder holds at most ``max_size`` bytes. Entries named in
    ``keep`` and the ``keep_newest`` most recent ones (the job that has just written them, whose
    files Gradio is about to serve) stay, even above the size. Returns what was deleted."""
    folder = Path(folder)
    max_age_s = CACHE_MAX_AGE_S if max_age_s is None else max_age_s
    max_size = max_bytes() if max_size is None else max_size
    now = time.time() if now is None else now
    kept = {Path(k).resolve() for k in keep}
    try:
        children = list(folder.iterdir())
    except OSError:
        return []
    entries, removed = [], []
    stats = {child: _entry_stats(child) for child in children}
    newest = sorted(children, key=lambda c: stats[c][1], reverse=True)[:keep_newest]
    kept |= {child.resolve() for child in newest}
    for child in children:
        size, mtime = stats[child]
        if child.resolve() in kept:
            entries.append((mtime, size, child, False))
        elif now - mtime > max_age_s:
            _remove(child)
            removed.append(child)
        else:
            entries.append((mtime, size, child, True))
    total = sum(size for _, size, _, _ in entries)
    for mtime, size, child, removable in sorted(entries, key=lambda e: e[0]):
        if total <= max_size:
            break
        if removable:
            _remove(child)
            removed.append(child)
            total -= size
    return removed


def prune_gradio_cache(blocks, max_size: int | None = None) -> list[Path]:
    """Delete the oldest files Gradio cached for ``blocks`` (uploads, served copies) until they take
    at most ``max_size`` bytes. Files the page itself shows (component defaults, examples) stay.
    Gradio's ``delete_cache`` removes them by age (see ``app.build_demo``)."""
    max_size = max_bytes() if max_size is None else max_size
    keep = set()
    for block in getattr(blocks, "blocks", {}).values():
        keep.update(str(p) for p in getattr(block, "keep_in_cache", ()))
    files = {}
    for temp_set in list(getattr(blocks, "temp_file_sets", [])):
        for name in list(temp_set):
            if str(name) in keep:
                continue
            try:
                stat = os.stat(name)
            except OSError:
                continue
            files[str(name)] = (stat.st_ctime, stat.st_size)
    total = sum(size for _, size in files.values())
    removed = []
    for name, (_, size) in sorted(files.items(), key=lambda item: item[1][0]):
        if total <= max_size:
            break
        path = Path(name)
        _remove(path)
        removed.append(path)
        total -= size
        try:
            path.parent.rmdir()  # Gradio keeps each file in a folder named by its hash
        except OSError:
            pass
    if removed:
        for temp_set in list(getattr(blocks, "temp_file_sets", [])):
            temp_set.difference_update({str(p) for p in removed})
    return removed
