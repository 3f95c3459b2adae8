"""What produced a stored result: versions, the commit, and the SHA-256 of every file, checked on loading.

A manifest is a JSON file beside the results it describes. :func:`check_files` recomputes the hashes and
names any file that is missing or changed, with the command that regenerates it, so a stored result from
someone else is either the one its manifest describes or an error.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import pandas as pd
import torch

from ermas.io import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]


def versions(threads: str | None = None) -> dict[str, str]:
    """What a run ran on: package versions, the commit (and whether ``ermas/`` or ``benchmarks/`` had
    uncommitted changes), the CPU's architecture, torch's kernels and threads (``threads``: what to record
    where the runs used other threads than this process, e.g. one per worker)."""

    try:
        git = ["git", "-C", str(ROOT)]
        commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        status = [*git, "status", "--porcelain", "ermas", "benchmarks"]
        dirty = subprocess.run(status, capture_output=True, text=True, check=True)
        if dirty.stdout.strip():
            commit += " with uncommitted changes in ermas/ or benchmarks/"
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown (not a git checkout)"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        **{package: _installed(package) for package in ("numpy", "pandas", "ray", "tqdm")},
        "ermas commit": commit,
        "machine": platform.machine(),
        "torch CPU kernels": torch.backends.cpu.get_cpu_capability(),
        "threads": threads or str(torch.get_num_threads()),
    }


def _installed(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hashes(folder: Path, names: list[str]) -> dict[str, str]:
    """``{name: SHA-256}`` of the files ``names`` (relative to ``folder``)."""
    return {name: sha256(folder / name) for name in sorted(names)}


def check_files(folder: Path, hashes: dict[str, str], command: str) -> None:
    """Raise ``ValueError`` naming every file of ``hashes`` that is missing from ``folder`` or changed."""
    problems = []
    for name, expected in hashes.items():
        path = folder / name
        if not path.exists():
            problems.append(f"{path} is missing")
        elif sha256(path) != expected:
            problems.append(f"{path} has changed (its SHA-256 is not the manifest's)")
    if problems:
        raise ValueError("; ".join(problems) + f". Regenerate the results with: {command}")


def store_table(folder: Path, name: str, table: pd.DataFrame, manifest: dict) -> None:
    """Write ``table`` as ``folder/name.csv`` and ``manifest`` with the table's SHA-256 (under ``files``) as
    ``folder/name.json``, each atomically; :func:`stored_table` reads them back."""
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    atomic_write_text(buffer.getvalue(), folder / f"{name}.csv")
    hashed = manifest | {"files": {f"{name}.csv": sha256(folder / f"{name}.csv")}}
    atomic_write_text(json.dumps(hashed, indent=1) + "\n", folder / f"{name}.json")


def stored_table(folder: Path, name: str) -> tuple[pd.DataFrame, dict]:
    """The table ``folder/name.csv`` and its manifest ``folder/name.json`` (which holds ``files``, the
    SHA-256 of the table, and the ``command`` that wrote it), after checking the table against it."""
    manifest_path = folder / f"{name}.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path} is missing: the stored {name} table has no manifest")
    manifest = json.loads(manifest_path.read_text())
    if f"{name}.csv" not in manifest.get("files", {}):
        raise ValueError(f"{manifest_path} holds no SHA-256 of {name}.csv; regenerate both with: {manifest['command']}")
    check_files(folder, manifest["files"], manifest["command"])
    return pd.read_csv(folder / f"{name}.csv"), manifest
