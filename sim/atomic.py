"""Atomic writes: a file or a folder is written under a temporary name beside its target, then renamed into
place, so a crash or Ctrl-C never leaves a half-written or half-replaced output behind."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def sibling(path: Path, suffix: str) -> Path:
    """A hidden, unique name beside ``path`` (same folder, so same file system: a rename moves it in)."""
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.{suffix}"


def write_file(path: Path, write: Callable[[Path], object]) -> None:
    """Write one file atomically: ``write`` fills a temporary file beside it, which then replaces it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling(path, "partial")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A temporary folder beside ``out`` to fill; on success it replaces ``out`` (the caller has decided
    that may be replaced), on any error it is removed and ``out`` is left as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling(out, "partial")
    tmp.mkdir()  # unlike mkdtemp, honours the umask: the folder gets normal permissions
    try:
        yield tmp
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(new: Path, out: Path) -> None:
    """Rename ``new`` to ``out``; an existing ``out`` is moved aside first and removed only after."""
    old = sibling(out, "old") if out.exists() else None
    if old is not None:
        os.replace(out, old)
    try:
        os.replace(new, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
