"""Atomic result files: JSON, CSV and raw bytes are written to a temporary file in the target
folder and renamed into place, so an interrupted run never leaves a half-written file (PNG
figures go through :func:`geomanifold.plotting.save_png`, which uses the same writer)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "write_csv", "write_json"]


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(handle)`` on a temporary file next to ``path``, fsync it, and rename it to
    ``path`` (atomic on POSIX and Windows). On any error the temporary file is removed and an
    existing ``path`` is left untouched. Parent folders are created. Returns ``Path(path)``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
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

