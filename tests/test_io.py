"""Atomic writes: whole files or none, and the same content gives the same bytes."""

import torch

from ermas.io import atomic_save, atomic_write_text


def test_saving_the_same_tensors_twice_gives_the_same_bytes(tmp_path):
    state = {"agents": {"weight": torch.arange(6.0).view(2, 3)}}
    atomic_save(state, tmp_path / "a.pt")
    atomic_save(state, tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    loaded = torch.load(tmp_path / "a.pt", weights_only=True)
    assert torch.equal(loaded["agents"]["weight"], state["agents"]["weight"])


def test_no_temporary_file_is_left_behind(tmp_path):
    atomic_write_text("x\n", tmp_path / "out.txt")
    atomic_save({"t": torch.zeros(1)}, tmp_path / "out.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.pt", "out.txt"]
