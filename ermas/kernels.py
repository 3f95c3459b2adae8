"""Pin the CPU kernels before torch loads, so that a seed gives the same bits on every x86-64 CPU with AVX2.

torch chooses its vectorised kernels (AVX2, AVX-512, ...) from the CPU at run time, and MKL chooses its
code path the same way. Different kernels round differently in the last bit, and training amplifies the
last bit: a figure trained with AVX-512 kernels drifts from the same figure trained with AVX2 kernels in
the second decimal. This module sets, unless the user has set them already:

- ``ATEN_CPU_CAPABILITY=avx2``: torch uses its AVX2 kernels even where AVX-512 is available (only on
  x86-64 CPUs that have AVX2; elsewhere torch's own choice stands);
- ``MKL_CBWR=AVX2,STRICT``: MKL's conditional numerical reproducibility, the AVX2 code path, strict mode
  (the same bits whatever the number of threads).

torch's own reductions split work across threads only along output elements, so their bits do not
depend on the thread count either (``tests/test_kernels.py`` checks it on a training run). Other CPU
families (ARM) and other torch builds compute other bits: the stored notebooks therefore compare only
what survives that (claim verdicts and coarsely rounded numbers).

It runs when ``ermas`` is first imported (``ermas/__init__.py``) and from the test suite's
``conftest.py``, so it is in force before torch loads in tests, notebooks, papermill runs and the book.
It must not import torch.
"""

from __future__ import annotations

import os
import platform
import subprocess

PF_AVX2_INSTRUCTIONS_AVAILABLE = 40  # the Windows API's processor feature number for AVX2

PINNED = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT"}


def cpu_has_avx2() -> bool:
    """Whether this is an x86-64 CPU with AVX2 (read from the operating system, without torch)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    system = platform.system()
    try:
        if system == "Linux":
            with open("/proc/cpuinfo") as cpuinfo:
                return any(line.startswith("flags") and " avx2" in line for line in cpuinfo)
        if system == "Darwin":
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.leaf7_features"], capture_output=True, text=True, check=False
            )
            return "AVX2" in out.stdout
        if system == "Windows":
            import ctypes

            return bool(ctypes.windll.kernel32.IsProcessorFeaturePresent(PF_AVX2_INSTRUCTIONS_AVAILABLE))
    except (OSError, AttributeError):
        return False
    return False


def pin_cpu_kernels() -> dict[str, str]:
    """Set the variables of :data:`PINNED` where the user has not; return the values in force."""
    if cpu_has_avx2():
        for name, value in PINNED.items():
            os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in PINNED if name in os.environ}


def kernels_in_force() -> str:
    """A line for a notebook's output: the kernels and threads torch computes with (imports torch)."""
    import torch

    capability = torch.backends.cpu.get_cpu_capability()
    return f"torch {torch.__version__}, CPU kernels {capability}, {torch.get_num_threads()} threads"
