"""ERMAS, reproduced: the repeated bimatrix games, the AI Economist's economy, and the ERMAS algorithm."""

from ermas.kernels import pin_cpu_kernels

pin_cpu_kernels()
