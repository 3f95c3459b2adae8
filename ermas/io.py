"""Writing results so that an interrupted run never leaves a half-written file behind."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch


def _atomic_write(path: str | os.PathLike, write: Any) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` to ``path`` atomically; the same ``obj`` gives the same bytes (saved through a file
    object, the archive's inner folder has a fixed name rather than the temporary file's)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as file:
            torch.save(obj, file)

    _atomic_write(path, write)


def atomic_write_text(text: str, path: str | os.PathLike) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    _atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def atomic_copy(source: str | os.PathLike, path: str | os.PathLike) -> None:
    """Copy the file ``source`` to ``path`` atomically."""
    _atomic_write(path, lambda tmp: shutil.copyfile(source, tmp))
