"""The studio's limits as a long-running public server: what it decodes, what it keeps on disk, how
many jobs run at once. Each limit is read from an environment variable (documented in
docs/studio.md) when the module is imported, and can be changed on the module afterwards.

Disk: the studio writes three places -- its run folders (``STUDIO_RUN_DIR``), the Benchmark tab's
scratch folder, and Gradio's cache (``GRADIO_TEMP_DIR``: uploads and the copies of every file it
serves). ``prune`` deletes what is older than ``CACHE_MAX_AGE_S``, then the oldest entries until
a folder holds at most ``CACHE_MAX_MB``; ``prune_gradio_cache`` does the same with Gradio's cache,
which the studio points at a folder of its own (never the page's own images).
"""

from __future__ import annotations

import os
import shutil
import tempfile
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
#: downscaled to the work size (~1.1 MP), so decoding more would only cost memory and time of the
#: single model slot (an upload at this limit: ``python -m benchmarks.bench_footprint``,
#: results/bench/footprint.md).
MAX_UPLOAD_MP = env_number("STUDIO_MAX_UPLOAD_MP", 12, low=0.01)
#: seconds after which a run folder, a benchmark case or a file in Gradio's cache is deleted
CACHE_MAX_AGE_S = env_number("STUDIO_CACHE_MAX_AGE", 3600, low=1)
#: most megabytes each of the three folders may hold (what comparisons write: results/bench/footprint.md)
CACHE_MAX_MB = env_number("STUDIO_CACHE_MAX_MB", 500, low=1)
#: share of the cap left free when Gradio's cache is pruned, for the files it copies after each job
CACHE_HEADROOM = 0.25
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
          now: float | None = None, only=None) -> list[Path]:
    """Delete the entries (files or sub-folders) of ``folder`` last modified more than ``max_age_s``
    ago, then the oldest ones until the folder holds at most ``max_size`` bytes. Entries named in
    ``keep`` and the ``keep_newest`` most recent ones (the job that has just written them, whose
    files Gradio is about to serve) stay, even above the size. ``only(path)``, when given, limits
    all of this to the entries it accepts (the others are neither counted nor touched). Returns
    what was deleted."""
    folder = Path(folder)
    max_age_s = CACHE_MAX_AGE_S if max_age_s is None else max_age_s
    max_size = max_bytes() if max_size is None else max_size
    now = time.time() if now is None else now
    kept = {Path(k).resolve() for k in keep}
    try:
        children = [child for child in folder.iterdir() if only is None or only(child)]
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


def default_gradio_cache() -> Path:
    """The studio's own Gradio cache folder, unless ``GRADIO_TEMP_DIR`` names another: a folder no
    other app writes, so pruning it whole never deletes another app's files."""
    return Path(tempfile.gettempdir()) / "restoration-studio" / "gradio"


def is_gradio_entry(path: Path) -> bool:
    """What Gradio writes in its cache: folders named by a SHA-256 and ``tmp*`` partial uploads.
    Anything else in a ``GRADIO_TEMP_DIR`` set to a shared folder is not the studio's to delete."""
    name = path.name
    return (len(name) == 64 and all(c in "0123456789abcdef" for c in name)) or name.startswith("tmp")


def prune_gradio_cache(blocks, folder, max_size: int | None = None) -> list[Path]:
    """Prune Gradio's cache ``folder`` (uploads, served copies, partial uploads) by age and size.

    Gradio copies a job's outputs into its cache *after* the job returns, so the cache is pruned to
    ``1 - CACHE_HEADROOM`` of the size, which leaves room for those copies under the cap. Files the
    page itself shows (component defaults, examples) and the newest entry (the upload of the job
    that has just run) stay. Gradio's ``delete_cache`` also removes them by age (see
    ``app.build_demo``)."""
    folder = Path(folder).resolve()
    max_size = max_bytes() if max_size is None else max_size
    keep = set()
    for block in getattr(blocks, "blocks", {}).values():
        for name in getattr(block, "keep_in_cache", ()):
            try:  # Gradio keeps each file in a folder named by its hash: that folder is the entry
                keep.add(folder / Path(name).resolve().relative_to(folder).parts[0])
            except (ValueError, IndexError):
                continue
    removed = prune(folder, max_size=int(max_size * (1 - CACHE_HEADROOM)), keep=keep, only=is_gradio_entry)
    if removed:
        gone = tuple(str(p) for p in removed)
        for temp_set in list(getattr(blocks, "temp_file_sets", [])):
            temp_set.difference_update({name for name in list(temp_set) if str(name).startswith(gone)})
    return removed
