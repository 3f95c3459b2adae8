"""The kernel pinning of ``ermas.kernels``: in force by default, overridable, and thread-count invariant."""

import os
import subprocess
import sys

import pytest
import torch

from ermas.bimatrix.agent_adv_search import agent_adv_search
from ermas.experiments.fig3 import Fig3Params
from ermas.kernels import PINNED, cpu_has_avx2

CAPABILITY = "import ermas, torch; print(torch.backends.cpu.get_cpu_capability())"


def capability_in_fresh_python(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in PINNED} | env
    out = subprocess.run([sys.executable, "-c", CAPABILITY], env=clean, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(not cpu_has_avx2(), reason="pinning applies to x86-64 CPUs with AVX2")
def test_importing_ermas_pins_the_avx2_kernels():
    assert capability_in_fresh_python() == "AVX2"


def test_a_value_the_user_set_is_respected():
    assert capability_in_fresh_python(ATEN_CPU_CAPABILITY="default") == "DEFAULT"


def short_training(threads: int) -> torch.Tensor:
    params = Fig3Params(seeds=2, n_iters=40, warmup_iters=10, last_iters=10)
    runs = params.runs()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        state = agent_adv_search(params.game(), runs, params.search_config(params.n_iters, params.warmup_iters))
    finally:
        torch.set_num_threads(previous)
    return torch.cat([state.logits.flatten(), state.lambdas.flatten()])


def test_training_gives_the_same_bits_whatever_the_number_of_threads():
    one = short_training(1)
    assert torch.equal(one, short_training(2))
    assert torch.equal(one, short_training(4))
