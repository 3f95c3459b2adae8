"""The repeated bimatrix games of the paper's Figures 3-5, with tabular policies.

- :mod:`~ermas.bimatrix.game`, :mod:`~ermas.bimatrix.augmented`: the game, vectorised over a batch, and
  its augmented form in which the planner acts (Figure 5); :mod:`~ermas.bimatrix.payoffs` the matrices.
- :mod:`~ermas.bimatrix.tabular`: softmax policies, rollouts, policy gradients, Fisher products.
- :mod:`~ermas.bimatrix.exact`: the exact oracle (returns, best responses, trust-region regret and paths).
- :mod:`~ermas.bimatrix.agent_adv_search`, :mod:`~ermas.bimatrix.outer_loop`: ERMAS's inner and outer
  loops for tabular agents, carrying out the rules of :mod:`ermas.method`.
- :mod:`~ermas.bimatrix.meta_gradient`, :mod:`~ermas.bimatrix.evaluation`: how good the meta-gradient
  variants are, and the metrics of a finished run.
"""
