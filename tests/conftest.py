import pytest
import torch


@pytest.fixture(autouse=True)
def float64_and_seed():
    """Every test runs in float64 (as the experiments do), with a fixed global seed."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)
    yield
    torch.set_default_dtype(previous)
