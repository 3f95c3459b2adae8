"""Proximal policy optimisation (PPO; Schulman et al., 2017) for policies over batched environments.

Read top to bottom, in the manner of CleanRL's single-file algorithms:

1. :func:`masked_categorical`, :func:`sample_actions`: the policy's action distribution, one categorical
   per action head, with masked actions given probability exactly zero (they are never drawn);
2. :func:`gae`: generalised advantage estimates, cut at episode ends (no value bootstrapped across them);
3. :func:`ppo_loss`: the clipped policy loss, the clipped value loss and the entropy bonus;
4. :func:`ppo_update`: shuffled minibatches over the batch for ``epochs`` passes, with gradient clipping;
5. :func:`policy_gradient`: the plain policy-gradient estimate on a batch (the gradient of PPO's surrogate
   where the ratio is 1, in the advantages' units), which ERMAS's meta-gradient variants combine.

A policy is any ``torch.nn.Module`` with ``evaluate(observations, mask) -> (logits, values)``: logits
``(N, K, A)`` for ``K`` action heads of ``A`` choices each (an agent has one head, the tax planner one per
bracket), values ``(N,)``. Observations are a dict of tensors whose first dimension is the sample ``N``.
The defaults of :class:`PPOConfig` are the authors' release's settings for the agents (see the book).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

Tensor = torch.Tensor


@dataclass(frozen=True)
class PPOConfig:
    """PPO's settings; a schedule of the entropy weight is passed to :func:`ppo_update` per call."""

    gamma: float = 0.998  # discount per step
    gae_lambda: float = 0.98
    clip: float = 0.3  # policy ratio clipped to [1 - clip, 1 + clip]
    value_coef: float = 0.05
    value_clip: float = 50.0  # value prediction kept within this of the old prediction
    max_grad_norm: float = 10.0
    lr: float = 3e-4
    minibatch_size: int = 3000
    epochs: int = 1  # passes over the batch per update

    def __post_init__(self) -> None:
        for name in ("gamma", "gae_lambda"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must lie in [0, 1]; got {value!r}")
        for name in ("clip", "value_coef", "value_clip", "max_grad_norm", "lr"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
        for name in ("minibatch_size", "epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")


def masked_categorical(logits: Tensor, mask: Tensor | None) -> torch.distributions.Categorical:
    """One categorical per head over ``logits (..., K, A)``; where ``mask (..., K, A)`` is False the action's
    probability is exactly zero (its logit is the dtype's most negative number, so ``exp`` underflows)."""
    if mask is not None:
        if not bool(mask.any(-1).all()):
            raise ValueError("every action head needs at least one allowed action")
        logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
    # the arguments are valid by construction; torch's checks would cost a pass over them on every call (a
    # network gone to NaN is still stopped: sampling refuses NaN probabilities, training checks its statistics)
    return torch.distributions.Categorical(logits=logits, validate_args=False)


def sample_actions(dist: torch.distributions.Categorical, generator: torch.Generator) -> Tensor:
    """Draw one action per head from ``dist`` with ``generator`` (reproducible; a zero-probability action is
    never drawn). Returns a long tensor of ``dist``'s batch shape."""
    probs = dist.probs
    flat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
    return flat.view(probs.shape[:-1])


def gae(rewards: Tensor, values: Tensor, dones: Tensor, last_values: Tensor, gamma: float, lam: float) -> Tensor:
    """``(T, B)`` advantages by generalised advantage estimation.

    Args:
        rewards, values: ``(T, B)`` reward of step t and value of the state it was taken in.
        dones: ``(T, B)`` True where step t ended an episode: nothing after it is bootstrapped.
        last_values: ``(B,)`` value of the state after the last step (used where it did not end an episode).
    """
    advantages = torch.empty_like(rewards)
    running = torch.zeros_like(last_values)
    next_values = last_values
    for t in range(rewards.shape[0] - 1, -1, -1):
        carry = (~dones[t]).to(rewards.dtype)
        delta = rewards[t] + gamma * carry * next_values - values[t]
        running = delta + gamma * lam * carry * running
        advantages[t] = running
        next_values = values[t]
    return advantages


@dataclass
class Batch:
    """``N`` samples for one update, each field with the sample first: what the policy saw (observations,
    mask), what it did (actions ``(N, K)``, their summed log-probability ``(N,)`` and its value ``(N,)``),
    and the targets (advantages and returns ``(N,)``)."""

    observations: dict[str, Tensor]
    mask: Tensor | None
    actions: Tensor
    log_probs: Tensor
    values: Tensor
    advantages: Tensor
    returns: Tensor

    def __len__(self) -> int:
        return self.actions.shape[0]

    def take(self, index: Tensor) -> Batch:
        """The samples at ``index``, in its order."""
        return Batch(
            {name: take_rows(obs, index) for name, obs in self.observations.items()},
            None if self.mask is None else take_rows(self.mask, index),
            take_rows(self.actions, index),
            take_rows(self.log_probs, index),
            take_rows(self.values, index),
            take_rows(self.advantages, index),
            take_rows(self.returns, index),
        )


def take_rows(tensor: Tensor, index: Tensor) -> Tensor:
    """``tensor[index]`` for a 1-d ``index`` (on any device): whole rows copied at once, where advanced
    indexing copies element by element (for the agents' uint8 views, some twenty times slower on the CPU)."""
    return torch.index_select(tensor, 0, index.to(tensor.device))


def _normalised(advantages: Tensor) -> Tensor:
    """Advantages centred and scaled to unit spread (a single sample has none, and is only centred)."""
    centred = advantages - advantages.mean()
    return centred / (advantages.std() + 1e-8) if len(advantages) > 1 else centred


def ppo_loss(policy: torch.nn.Module, batch: Batch, config: PPOConfig, entropy_coef: float) -> tuple[Tensor, dict]:
    """The PPO loss on ``batch`` (to be minimised) and its parts."""
    logits, values = policy.evaluate(batch.observations, batch.mask)
    dist = masked_categorical(logits, batch.mask)
    log_probs = dist.log_prob(batch.actions).sum(-1)
    ratio = torch.exp(log_probs - batch.log_probs)
    advantages = _normalised(batch.advantages)
    policy_loss = -torch.min(ratio * advantages, ratio.clamp(1 - config.clip, 1 + config.clip) * advantages).mean()
    clipped_values = batch.values + (values - batch.values).clamp(-config.value_clip, config.value_clip)
    value_loss = 0.5 * torch.max((values - batch.returns) ** 2, (clipped_values - batch.returns) ** 2).mean()
    entropy = dist.entropy().sum(-1).mean()
    loss = policy_loss + config.value_coef * value_loss - entropy_coef * entropy
    stats = {
        "policy_loss": policy_loss.item(),
        "value_loss": value_loss.item(),
        "entropy": entropy.item(),
        "clip_fraction": ((ratio - 1).abs() > config.clip).float().mean().item(),
    }
    return loss, stats


def ppo_update(
    policy: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    config: PPOConfig,
    entropy_coef: float,
    generator: torch.Generator,
    ascent: Tensor | None = None,
) -> dict[str, float]:
    """``config.epochs`` passes of minibatch steps over ``batch``; returns the last minibatch's statistics.

    ``ascent``: a fixed direction ``(P,)`` over the policy's parameters (in ``parameters()`` order, flattened)
    added to every minibatch's ascent direction before clipping, i.e. subtracted from the loss's gradient
    (ERMAS's meta-gradient corrections, :mod:`ermas.two_level.robust`).

    Raises ``FloatingPointError`` naming the minibatch where the loss is not finite.
    """
    parameters = list(policy.parameters())
    size = sum(p.numel() for p in parameters)
    if ascent is not None and ascent.shape != (size,):
        raise ValueError(f"ascent must have one entry per parameter ({size})")
    stats: dict[str, float] = {}
    n = len(batch)
    # near-equal minibatches of at least minibatch_size samples (all of them equal where it divides n): a
    # remainder joins the others instead of forming a tiny last minibatch
    n_minibatches = max(1, n // config.minibatch_size)
    for epoch in range(config.epochs):
        order = torch.randperm(n, generator=generator, device=generator.device)
        for number, index in enumerate(torch.tensor_split(order, n_minibatches)):
            loss, stats = ppo_loss(policy, batch.take(index), config, entropy_coef)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"PPO loss is not finite in epoch {epoch}, minibatch {number}")
            optimizer.zero_grad()
            loss.backward()
            if ascent is not None:
                for parameter, direction in zip(parameters, _split_like(ascent, parameters), strict=True):
                    parameter.grad = -direction if parameter.grad is None else parameter.grad - direction
            stats["grad_norm"] = torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm).item()
            optimizer.step()
    return stats


def _split_like(flat: Tensor, parameters: list[Tensor]) -> list[Tensor]:
    """``flat (P,)`` cut into views shaped like ``parameters`` (in their order), in their dtype."""
    pieces = torch.split(flat, [p.numel() for p in parameters])
    return [piece.view_as(p).to(p.dtype) for piece, p in zip(pieces, parameters, strict=True)]


def policy_gradient(policy: torch.nn.Module, batch: Batch, chunk_size: int | None = None) -> Tensor:
    """``(P,)`` the policy-gradient estimate ``mean_n A_n grad log pi(a_n | s_n)`` at the policy's current
    parameters (flattened in ``parameters()`` order; zero for parameters the policy's logits do not use):
    the gradient of PPO's policy objective where its ratio is 1, with the advantages centred over the whole
    batch but not scaled (in the advantages' units; :func:`ppo_loss` also divides by their spread). ``batch``
    should be sampled by the policy at these parameters (the estimate is on-policy). ``chunk_size``: rows
    per forward and backward pass, to bound the memory (all rows at once by default)."""
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer or None; got {chunk_size!r}")
    parameters = list(policy.parameters())
    n = len(batch)
    centred = batch.advantages - batch.advantages.mean()
    total = [torch.zeros_like(p) for p in parameters]
    for index in torch.arange(n, device=batch.actions.device).split(chunk_size or n):
        part = batch.take(index)
        logits, _ = policy.evaluate(part.observations, part.mask)
        log_probs = masked_categorical(logits, part.mask).log_prob(part.actions).sum(-1)
        objective = (take_rows(centred, index) * log_probs).sum() / n
        for summed, grad in zip(total, torch.autograd.grad(objective, parameters, allow_unused=True), strict=True):
            if grad is not None:
                summed += grad
    return torch.cat([summed.reshape(-1) for summed in total])
