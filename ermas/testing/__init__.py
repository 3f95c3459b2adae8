"""Oracles and harnesses for the tests, benchmarks and the book, kept apart from the simulators they check.

- :mod:`~ermas.testing.bimatrix_twin`: the bimatrix game restated in plain Python, one step at a time.
- :mod:`~ermas.testing.economy_reference`: the ``ai-economist`` package's environment, driven with the
  same actions as :class:`ermas.economy.Economy`, step by step.
- :mod:`~ermas.testing.economy_speed`: environment steps per second of both.
"""
