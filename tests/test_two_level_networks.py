"""The agents' and the planner's networks on real observations: shapes, and masks honoured when sampling."""

import hashlib

import pytest
import torch

from ermas.economy import PAPER_LAYOUT, SMALL_LAYOUT, Economy, EconomyConfig, observe
from ermas.economy.observations import agent_views
from ermas.economy.taxes import PLANNER_RATES
from ermas.rl.ppo import masked_categorical, sample_actions
from ermas.two_level.networks import AgentNetwork, PlannerNetwork, agent_inputs, agent_inputs_from_codes


def agent_batch(obs):
    b, a = obs.agent_mask.shape[:2]
    return agent_inputs(obs.agent_spatial.flatten(0, 1), obs.agent_flat.flatten(0, 1)), obs.agent_mask.reshape(
        b * a, 1, -1
    )


def test_agent_inputs_one_hot_the_identity_channels_as_a_plain_loop_does():
    draws = torch.Generator().manual_seed(0)
    view = torch.randint(0, 4, (6, 9, 5, 5), dtype=torch.uint8, generator=draws)
    view[:, 7:] = torch.randint(0, 6, (6, 2, 5, 5), dtype=torch.uint8, generator=draws)  # every identity
    spatial = agent_inputs(view, torch.zeros(6, 135))["spatial"]
    assert spatial.shape == (6, 5, 5, 17) and spatial.dtype == torch.uint8
    for i in range(6):
        for y in range(5):
            for x in range(5):
                expected = [int(view[i, c, y, x]) for c in range(7)]
                for c in (7, 8):
                    expected += [int(view[i, c, y, x] == k) for k in range(1, 6)]
                assert spatial[i, y, x].tolist() == expected


@pytest.mark.parametrize("layout", [SMALL_LAYOUT, PAPER_LAYOUT])
def test_inputs_looked_up_from_tile_codes_are_the_encoded_views(layout):
    """The lookup that training uses gives agent_inputs' bytes of the decoded views, step after step of
    random play (agents side by side on the small map), written into a given tensor where one is passed;
    an observation decodes its views when first asked, still those of its own step after the economy moved on."""
    env = Economy(6, EconomyConfig(layout=layout, tax_model="none"), seed=3)
    draws = torch.Generator().manual_seed(3)
    seen = set()
    for _ in range(60):
        obs, views = observe(env), agent_views(env)
        codes, flat = obs.agent_codes.flatten(0, 1), obs.agent_flat.flatten(0, 1)
        expected = agent_inputs(views.flatten(0, 1), flat)
        looked_up = agent_inputs_from_codes(codes, flat)
        out = torch.full_like(expected["spatial"], 255)
        written = agent_inputs_from_codes(codes, flat, out)
        assert written["spatial"] is out
        for inputs in (looked_up, written):
            assert torch.equal(inputs["spatial"], expected["spatial"]) and torch.equal(inputs["flat"], expected["flat"])
        seen |= set(views[:, :, 8].unique().tolist())
        allowed = obs.agent_mask.flatten(0, 1).double()
        env.step(torch.multinomial(allowed, 1, generator=draws).view(6, -1))
        assert torch.equal(obs.agent_spatial, views)  # decoded now, after the step
    if layout == SMALL_LAYOUT:  # on the small map other agents come into view (on the large one, not so soon)
        assert {0, 1} < seen and max(seen) >= 2


@pytest.mark.parametrize("shared_trunk", [False, True])
def test_a_shared_trunk_has_one_tower_and_the_same_interface(shared_trunk):
    env = Economy(2, EconomyConfig(), seed=1)
    network = AgentNetwork(shared_trunk=shared_trunk)
    batch, mask = agent_batch(observe(env))
    logits, values = network.evaluate(batch, mask)
    assert logits.shape == (8, 1, 50) and values.shape == (8,)
    towers = [name for name, _ in network.named_children() if name.endswith("tower")]
    assert towers == (["policy_tower"] if shared_trunk else ["policy_tower", "value_tower"])
    # the value's gradient reaches the policy's tower only when they share it
    values.sum().backward()
    reached = network.policy_tower.dense[0].weight.grad
    assert (reached is not None and reached.abs().sum() > 0) == shared_trunk


# SHA-256 of the float32 parameters of AgentNetwork() drawn after torch.manual_seed(0), computed with the
# network's code before its convolutions' channels became a parameter: the default must draw the same network
RECIPE_NETWORK_SHA256 = "84bbca99af9975246ecc9aa9376b724f23caa9706b547c7df719a9a540013c04"


def test_the_convolutions_take_the_channels_asked_for_and_default_to_the_recipes():
    torch.manual_seed(0)
    digest = hashlib.sha256()
    for tensor in AgentNetwork().state_dict().values():
        digest.update(tensor.contiguous().numpy().tobytes())
    assert digest.hexdigest() == RECIPE_NETWORK_SHA256
    env = Economy(2, EconomyConfig(), seed=1)
    batch, mask = agent_batch(observe(env))
    cheaper = AgentNetwork(channels=(8, 16), width=64, shared_trunk=True)
    first, second = cheaper.policy_tower.conv[0], cheaper.policy_tower.conv[2]
    assert (first.in_channels, first.out_channels, second.out_channels) == (17, 8, 16)
    # the 11x11 view leaves 3x3 after two stride-2 convolutions: 16 * 9 features beside the 135 flat ones
    assert cheaper.policy_tower.dense[0].in_features == 16 * 9 + 135
    logits, values = cheaper.evaluate(batch, mask)
    assert logits.shape == (8, 1, 50) and values.shape == (8,)
    for bad in [(8,), (8, 0), (8.0, 16), (True, True)]:
        with pytest.raises(ValueError, match="channels must be two positive integers"):
            AgentNetwork(channels=bad)


def test_the_agent_network_reads_real_observations_and_never_draws_a_masked_action():
    torch.manual_seed(0)
    env = Economy(3, EconomyConfig(tax_model="us_federal"), seed=1)
    network = AgentNetwork(view_side=2 * env.config.observation_range + 1)
    obs = observe(env)
    batch, mask = agent_batch(obs)
    logits, values = network.evaluate(batch, mask)
    assert logits.shape == (12, 1, 50) and values.shape == (12,)
    # float32 parameters although the tests run with float64 as torch's default: the dtype is explicit
    assert {p.dtype for p in network.parameters()} == {torch.float32} == {logits.dtype}
    assert not mask.all()  # some actions are unavailable at the start (e.g. building, selling)
    dist = masked_categorical(logits.repeat(500, 1, 1), mask.repeat(500, 1, 1))
    draws = sample_actions(dist, torch.Generator())
    assert mask.repeat(500, 1, 1).gather(-1, draws[..., None]).all()


def test_the_planner_heads_honour_the_annealing_mask():
    torch.manual_seed(0)
    env = Economy(2, EconomyConfig(tax_model="planner", tax_annealing=(0.0, 0.3)), seed=2)
    env.completions = 1  # the largest allowed rate is now 0.3
    network = PlannerNetwork()
    obs = observe(env)
    logits, values = network.evaluate({"flat": obs.planner_flat}, obs.planner_mask)
    assert logits.shape == (2, 7, 22) and values.shape == (2,)
    draws = sample_actions(
        masked_categorical(logits.repeat(2000, 1, 1), obs.planner_mask.repeat(2000, 1, 1)), torch.Generator()
    )
    chosen_rates = PLANNER_RATES[(draws[draws > 0] - 1)]
    assert chosen_rates.numel() > 0 and chosen_rates.max() <= 0.3 + 1e-12
    env.step(torch.zeros(2, 4, dtype=torch.long), planner_actions=draws[:2])  # the period's first step sets rates
    later = observe(env).planner_mask
    assert later[:, :, 0].all() and not later[:, :, 1:].any()  # within a period only "keep" is allowed
