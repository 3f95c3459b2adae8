"""Learners for neural policies over batched environments (PPO), shared by the worlds that need them."""
