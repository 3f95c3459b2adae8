"""The two-level AI Economist (Figure 6): networks for the agents and the tax planner, trained together."""
