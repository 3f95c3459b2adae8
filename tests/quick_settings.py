"""Test-sized learner settings: the tuned :class:`SearchConfig` defaults with the changes that make a test
run in seconds (fewer episodes, the paper's two sampled search steps, a smaller dual step and cap)."""

QUICK = dict(n_episodes=16, n_inner=2, regret_search="sampled", dual_lr=2.0, lambda_max=100.0)
