"""Training loops that resume where they stopped and lose nothing on Ctrl-C.

A loop's state is a :class:`Resumable`: an iteration counter and a ``to_dict`` of tensors and plain
containers. :func:`run_resumable` advances it, writes it atomically every few iterations, at the end and
on Ctrl-C, and :func:`load_checkpoint` reads it back without running code (``weights_only=True``). A
checkpoint carries a fingerprint of the settings that produced it, so a run never resumes from another
run's state. Ctrl-C is deferred to the end of the iteration in progress, so the state written is always
one the loop passed through; a second Ctrl-C stops at once and keeps the last periodic checkpoint.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm import tqdm

from ermas.io import atomic_save

Progress = bool | Callable[[int], None]
"""The ways a loop shows its progress. ``True`` draws a tqdm bar, ``False`` nothing; a function is called with
the number of finished iterations when the loop starts and after each iteration (how a pipeline's worker
process reports to its driver)."""


class Resumable(Protocol):
    iteration: int

    def to_dict(self) -> dict[str, Any]: ...


def load_checkpoint(path: str | os.PathLike | None, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """The saved state at ``path`` (``None`` where there is none); an error if it came from other settings."""
    if path is None or not Path(path).exists():
        return None
    # tensors and plain containers only: no code runs; onto the CPU first (the caller puts them in place)
    saved = torch.load(path, weights_only=True, map_location="cpu")
    if saved.get("fingerprint") != fingerprint:
        differing = ", ".join(differences(saved.get("fingerprint"), fingerprint))
        raise ValueError(
            f"checkpoint {path} was written for other settings (differing: {differing}); delete it or pick another path"
        )
    return saved["state"]


def resumable(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a checkpoint that :func:`run_resumable` wrote (one a run can carry on), not
    only a run's networks."""
    return Path(path).exists() and "fingerprint" in torch.load(path, weights_only=True, map_location="cpu")


def differences(saved: Any, wanted: Any, prefix: str = "") -> list[str]:
    """The dotted keys at which two nested dicts of settings differ (``prefix`` itself where one is not a dict)."""
    if not (isinstance(saved, dict) and isinstance(wanted, dict)):
        return [] if saved == wanted else [prefix or "everything"]
    found = []
    for key in sorted(set(saved) | set(wanted), key=str):
        found += differences(saved.get(key), wanted.get(key), f"{prefix}{key}" if not prefix else f"{prefix}.{key}")
    return found


@contextmanager
def _deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Within the block the first SIGINT only sets a flag (read by the yielded function); a second one
    interrupts as usual. Outside the main thread signals cannot be caught, and the flag stays false."""
    received: list[int] = []
    try:
        previous = signal.getsignal(signal.SIGINT)

        def note(signum: int, frame: object) -> None:
            received.append(signum)
            signal.signal(signal.SIGINT, previous)

        signal.signal(signal.SIGINT, note)
    except ValueError:  # not the main thread
        yield lambda: False
        return
    try:
        yield lambda: bool(received)
    finally:
        signal.signal(signal.SIGINT, previous)


def run_resumable(
    state: Resumable,
    step: Callable[[], None],
    n_iters: int,
    checkpoint: str | os.PathLike | None,
    fingerprint: dict[str, Any],
    every: int = 100,
    progress: Progress = True,
    desc: str = "",
) -> None:
    """Call ``step()`` (which advances ``state.iteration`` by one) until ``state.iteration == n_iters``,
    showing or reporting the progress as ``progress`` says (see :data:`Progress`).

    With ``checkpoint`` set, the state is written there atomically every ``every`` iterations, at the end
    and on Ctrl-C (after the iteration in progress; then ``KeyboardInterrupt`` is raised).
    """

    def save() -> None:
        if checkpoint is not None:
            atomic_save({"fingerprint": fingerprint, "state": state.to_dict()}, checkpoint)

    report = progress if callable(progress) else None
    bar = tqdm(total=n_iters, initial=state.iteration, disable=report is not None or not progress, desc=desc)
    try:
        with _deferred_interrupt() as interrupted:
            if report is not None:
                report(state.iteration)
            while state.iteration < n_iters:
                step()
                bar.update()
                if report is not None:
                    report(state.iteration)
                if interrupted():
                    save()
                    where = f"; state saved to {checkpoint}" if checkpoint is not None else ""
                    raise KeyboardInterrupt(f"{desc or 'run'} interrupted at iteration {state.iteration}{where}")
                if checkpoint is not None and state.iteration % every == 0:
                    save()
    finally:
        bar.close()
    save()
