"""The AI Economist's Gather-Trade-Build economy with taxes, vectorised over environments (Figure 6)."""

from ermas.economy.config import N_AGENTS, EconomyConfig, fixed_skill_payments
from ermas.economy.env import N_AGENT_ACTIONS, Economy, EpisodeSummary, StepEvents, StepResult, present_device
from ermas.economy.layout import PAPER_LAYOUT, SMALL_LAYOUT, Layout, load_layout
from ermas.economy.observations import Observation, observe

__all__ = [
    "N_AGENTS",
    "N_AGENT_ACTIONS",
    "PAPER_LAYOUT",
    "SMALL_LAYOUT",
    "Economy",
    "EconomyConfig",
    "EpisodeSummary",
    "Layout",
    "Observation",
    "StepEvents",
    "StepResult",
    "fixed_skill_payments",
    "load_layout",
    "observe",
    "present_device",
]
