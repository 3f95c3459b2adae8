"""Loaded by pytest before any test module or notebook kernel imports torch: pin the CPU kernels first
(see ``ermas/kernels.py``); notebook kernels inherit the environment."""

from ermas.kernels import pin_cpu_kernels

pin_cpu_kernels()
