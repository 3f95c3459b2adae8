"""The opt-in allocator switch: it takes effect on Linux with glibc and refuses nonsense."""

import sys

import pytest
import torch

from ermas.allocator import keep_freed_memory


def test_keep_freed_memory_applies_on_glibc_and_tensors_still_work():
    applied = keep_freed_memory(keep_mib=256)
    assert applied == (sys.platform.startswith("linux") and "glibc" in " ".join(__import__("platform").libc_ver()))
    x = torch.ones(2_000_000)
    assert float((x * 2).sum()) == 4_000_000.0


def test_keep_freed_memory_rejects_a_negative_size():
    with pytest.raises(ValueError, match="keep_mib must be >= 0"):
        keep_freed_memory(keep_mib=-1)
