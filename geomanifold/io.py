"""Atomic result files: JSON, CSV and raw bytes are written to a temporary file in the target
folder and renamed into place, so an interrupted run never leaves a half-written file (PNG
figures go through :func:`geomanifold.plotting.save_png`, which uses the same writer). The
temporary file of a run killed outright is removed by the next write of the same file, and every
file gets the permissions the umask allows (``0o644`` under the usual ``022``)."""

from __future__ import annotations

import csv
import glob
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "write_csv", "write_json"]


def _umask() -> int:
    """The process's umask (read by setting and restoring it: POSIX has no read-only call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temporary_prefix(path: Path) -> str:
    """``.{name}.`` : the start of every temporary file :func:`atomic_write` makes for ``path``;
    the writer's process id follows, then a random part and ``.tmp``."""
    return f".{path.name}."


def _remove_orphans(path: Path) -> None:
    """Remove the temporary files of earlier writes of ``path`` whose process is gone (a run killed
    while writing, e.g. by SIGKILL, which no handler sees)."""
    prefix = _temporary_prefix(path)
    for candidate in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        pid = candidate.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            candidate.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(handle)`` on a temporary file next to ``path``, fsync it, and rename it to
    ``path`` (atomic on POSIX and Windows). On any error, Ctrl-C included, the temporary file is
    removed and an existing ``path`` is left untouched; the temporary files of writes killed
    outright (``.{name}.{pid}.*.tmp`` of a process that is gone) are removed by the next write of
    ``path``. The file gets the usual permissions, ``0o666`` less the umask. Parent folders are
    created. Returns ``Path(path)``.

    Raises:
        IsADirectoryError: ``path`` is a folder.
        NotADirectoryError: a parent of ``path`` is a file.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; expected a file path")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(f"{str(parent)!r} is a file; cannot create {str(path)!r} inside it")
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path)
    prefix = f"{_temporary_prefix(path)}{os.getpid()}."
    handle, temporary = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            if hasattr(os, "fchmod"):
                os.fchmod(stream.fileno(), 0o666 & ~_umask())
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _finite_or_none(value: Any) -> Any:
    """JSON has no NaN/Inf: non-finite floats become ``null`` (strict JSON readers accept it)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_or_none(v) for v in value]
    return value


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``payload`` as indented, key-sorted, strict JSON (non-finite floats as ``null``;
    other non-JSON values via ``str``)."""
    text = json.dumps(_finite_or_none(payload), indent=2, sort_keys=True, default=str, allow_nan=False)
    return atomic_write(path, lambda stream: stream.write((text + "\n").encode()))


def write_csv(
    path: str | os.PathLike, rows: Iterable[Mapping[str, Any]], fields: Sequence[str] | None = None
) -> Path:
    """Write ``rows`` (dicts) as CSV with a header; ``fields`` defaults to the keys of the rows in
    first-seen order. Missing values are written empty."""
    rows = list(rows)
    if fields is None:
        fields = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write(path, lambda stream: stream.write(buffer.getvalue().encode()))

