"""Named sizes of the Figure 6 pipeline: ``laptop`` (2 CPU cores, hours) and ``paper`` (the recipe's sizes,
for a GPU or a cluster). One name picks the economy and every training phase.

``paper`` follows the AI Economist's two-level recipe and the authors' release (25x25 map, 1000-step
episodes, tax period 100, 2018 US brackets at 1000 dollars per coin, 60 environments, phase 1 of 25,000
episodes with the labour cost warmed up ("auto", constant 10,000), tax annealing from a 0.1 cap to no cap
over 900 episodes, planner entropy 2.0 -> 0.125 over 50,000 episodes, separate policy and value networks,
evaluation agents trained from scratch for 20,000 episodes), with one departure in how PPO is fed: an
update follows a whole episode in every environment (60,000 environment steps), where the release's follows
a train batch of 12,000 steps, so it refreshes the acting policy a fifth as often for the same experience
(with as many minibatch steps per sample). ``laptop`` departs further, each departure stated in the book:

- the 11x11 map and 200-step episodes (the economy's dynamics at a fifth of the length);
- tax periods of 50 steps, so an episode still has four periods;
- 10,000 dollars per coin: a period's income is small on a short episode, and the brackets' cutoffs in
  coin are ten times lower than at the package's 1000 (the top bracket starts at 51 coin instead of 510;
  :func:`ermas.experiments.fig6_results.bracket_claim` counts the periods that reach each bracket);
- 128 environments; phase 1 of 80 and phase 2 of 160 iterations (2M and 4M environment steps, against the
  paper's 25M and up to 4B), annealing over the first 100 iterations and the planner's entropy over 120;
- the agents' value head on the policy's tower (half the compute);
- no labour warm-up in phase 1 (the recipe's constant, 10,000 steps with a positive mean reward, is of
  the order of the whole of this phase 1, 16,000 steps per environment);
- evaluation agents fine-tuned for 20 iterations (0.5M steps) from trained agents (the phase-2 agents
  under a learned planner, the phase-1 agents under a fixed scheme), as the authors' release does,
  instead of trained from scratch as the paper says.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ermas.economy import PAPER_LAYOUT, SMALL_LAYOUT, EconomyConfig
from ermas.rl.ppo import PPOConfig
from ermas.two_level.robust import RobustTraining
from ermas.two_level.training import TwoLevelTraining

PRESETS = ("laptop", "paper")
"""The presets' names."""


@dataclass(frozen=True)
class Preset:
    """The economy's rules (with the planner; the phases swap the tax model), each phase's training, and
    the evaluation's: its agents' training and whether they start from trained agents (``fine_tune``) or
    from scratch; ``robust``, ERMAS's run from phase 2 (and the length of MARL's continuation);
    ``labor_warmup``, phase 1's warm-up constant of the labour cost (by the economy's
    ``labor_warmup_method``, ``"auto"`` unless set; 0 for none)."""

    name: str
    economy: EconomyConfig
    phase1: TwoLevelTraining
    phase2: TwoLevelTraining
    evaluation: TwoLevelTraining
    fine_tune: bool
    robust: RobustTraining
    labor_warmup: float = 0.0

    def free_market(self) -> EconomyConfig:
        """Phase 1's economy: no taxes, the labour cost warmed up by ``labor_warmup``."""
        return replace(self.economy, tax_model="none", tax_annealing=None, labor_warmup=self.labor_warmup)

    def fixed_scheme(self, tax_model: str) -> EconomyConfig:
        """A baseline's economy: ``"us_federal"`` or ``"saez"`` (fixed elasticity 3.0, as in the release)."""
        if tax_model not in ("us_federal", "saez"):
            raise ValueError(f"tax_model must be 'us_federal' or 'saez'; got {tax_model!r}")
        elasticity = 3.0 if tax_model == "saez" else None
        return replace(self.economy, tax_model=tax_model, tax_annealing=None, saez_fixed_elasticity=elasticity)


def preset(name: str, seed: int = 0) -> Preset:
    """The preset called ``name`` (one of :data:`PRESETS`), its runs seeded with ``seed``."""
    if name == "laptop":
        economy = EconomyConfig(
            layout=SMALL_LAYOUT,
            episode_length=200,
            tax_model="planner",
            tax_period=50,
            usd_scaling=10_000.0,
            tax_annealing=(0.0, 1 / 100),
        )
        phase2 = TwoLevelTraining(
            iterations=160,
            n_envs=128,
            seed=seed,
            agent_ppo=PPOConfig(minibatch_size=3200),
            planner_ppo=PPOConfig(lr=1e-4, minibatch_size=3200),
            planner_entropy_iters=120,
            agent_shared_trunk=True,
        )
        # ERMAS: 40 outer steps of 5 deviation, 2 evaluation and 2 main episodes; a dual step of 1.0 per
        # unit of regret (an agent's summed reward over an episode), so lambda can cross its range in 40 steps
        robust = RobustTraining(outer_steps=40, epsilon=0.0, dual_lr=1.0)
        evaluation = replace(phase2, iterations=20)
        return Preset(name, economy, replace(phase2, iterations=80), phase2, evaluation, True, robust)
    if name == "paper":
        economy = EconomyConfig(
            layout=PAPER_LAYOUT, episode_length=1000, tax_model="planner", tax_period=100, tax_annealing=(-100.0, 0.001)
        )
        phase2 = TwoLevelTraining(
            iterations=66_667,
            n_envs=60,
            seed=seed,
            agent_ppo=PPOConfig(minibatch_size=3000),
            planner_ppo=PPOConfig(lr=1e-4, minibatch_size=3000),
            planner_entropy_iters=833,
        )
        robust = RobustTraining(outer_steps=833, epsilon=0.0, dual_lr=0.01)  # 50,000 episodes of 60 environments
        evaluation = replace(phase2, iterations=333)
        phase1 = replace(phase2, iterations=417)
        return Preset(name, economy, phase1, phase2, evaluation, False, robust, labor_warmup=10_000.0)
    raise ValueError(f"preset must be one of {PRESETS}; got {name!r}")
