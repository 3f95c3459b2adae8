"""Behaviour of ermas.economy that needs no oracle: closed forms for the random rules, conservation laws,
batch independence, reproducibility and clear errors on bad input."""

from __future__ import annotations

import math

import pytest
import torch

from ermas.economy import SMALL_LAYOUT, Economy, EconomyConfig, load_layout, observe
from ermas.economy.layout import parse_layout
from ermas.economy.metrics import isoelastic_utility
from ermas.economy.taxes import bracket_index

QUICK = EconomyConfig(layout=SMALL_LAYOUT, episode_length=200, tax_period=50, tax_model="us_federal")


def random_valid_actions(env: Economy, generator: torch.Generator) -> torch.Tensor:
    mask = observe(env).agent_mask.view(-1, 50).to(torch.float64)
    return torch.multinomial(mask, 1, generator=generator).view(env.batch, 4)


def run(env: Economy, steps: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    gathered = torch.zeros(env.batch, 2, dtype=torch.long)
    builds = torch.zeros(env.batch, dtype=torch.long)
    for _ in range(steps):
        events = env.step(random_valid_actions(env, generator)).events
        gathered += events.gathered.sum(1)
        builds += events.built.sum(1)
    return {"gathered": gathered, "builds": builds}


def test_small_layout_conserves_goods_and_coin():
    """Wood and stone are only gathered or built into houses; coin only comes from houses (trades and
    taxes move it between agents)."""
    env = Economy(32, QUICK, seed=1)
    totals = run(env, 200)
    h = env.holdings
    held = h.goods.sum(1) + h.goods_escrow.sum(1)
    assert torch.equal(held, totals["gathered"] - totals["builds"].unsqueeze(-1))
    assert torch.equal(totals["builds"], env.n_houses())
    paid = torch.zeros(env.batch, dtype=torch.float64)
    owner = env.house_owner
    for agent in range(4):
        paid += (owner == agent).sum(-1) * env.build_payment[:, agent]
    torch.testing.assert_close(env.coin_total().sum(-1), paid, rtol=1e-12, atol=1e-9)
    assert float(env.taxes_collected.sum()) > 0 and int(env.n_trades.sum()) > 0
    assert bool((h.coin >= 0).all()) and bool((h.goods >= 0).all())


def test_same_seed_same_episode_and_environments_do_not_interact():
    a, b = Economy(4, QUICK, seed=7), Economy(4, QUICK, seed=7)
    run(a, 120, seed=3)
    run(b, 120, seed=3)
    assert torch.equal(a.coin_total(), b.coin_total()) and torch.equal(a.house_owner, b.house_owner)
    # Environment 2 of a batch, replayed alone with the same actions and turn orders, ends the same.
    config = EconomyConfig(layout=SMALL_LAYOUT, regen_prob=0.0, gather_bonus=False, tax_period=25)
    batch, single = Economy(3, config, seed=0), Economy(1, config, seed=0)
    single.reset(skill_rank=batch.skill_rank[2:3])
    generator = torch.Generator().manual_seed(0)
    for _ in range(150):
        actions = random_valid_actions(batch, generator)
        order = torch.rand(3, 4, generator=generator).argsort(-1)
        planner = torch.randint(0, 22, (3, 7), generator=generator)
        batch.step(actions, planner, order)
        single.step(actions[2:3], planner[2:3], order[2:3])
    assert torch.equal(batch.coin_total()[2:3], single.coin_total())
    assert torch.equal(batch.holdings.goods[2:3], single.holdings.goods)
    assert torch.equal(batch.cell[2:3], single.cell)


def test_each_tax_period_counts_in_the_bracket_its_income_reached():
    config = EconomyConfig(
        layout=SMALL_LAYOUT, episode_length=100, tax_period=50, tax_model="us_federal", usd_scaling=10_000.0
    )
    env = Economy(3, config, seed=1)
    cutoffs = env.brackets.cutoffs.tolist()
    expected = torch.zeros(3, len(cutoffs), dtype=torch.long)
    generator = torch.Generator().manual_seed(0)
    for step in range(1, config.episode_length + 1):
        env.step(random_valid_actions(env, generator))
        if step % config.tax_period == 0:  # a period's taxes were just paid on env.last_income
            for b, agent in ((b, a) for b in range(3) for a in range(4)):
                income = float(env.last_income[b, agent])
                expected[b, max([k for k, c in enumerate(cutoffs) if income >= c], default=0)] += 1
    got = env.summary().periods_by_bracket
    assert torch.equal(got, expected) and int(got.sum()) == 3 * 4 * 2
    assert int(got[:, 1:].sum()) > 0  # incomes above the first bracket occur at this scaling


def test_an_income_falls_in_the_highest_bracket_whose_cutoff_it_reaches():
    brackets = Economy(1, QUICK).brackets
    c = brackets.cutoffs.tolist()
    incomes = torch.tensor([-3.0, 0.0, c[1] - 1e-9, c[1], c[-1], 1e9], dtype=torch.float64)
    assert bracket_index(incomes, brackets).tolist() == [0, 0, 0, 1, 6, 6]


def test_regrowth_rate_matches_its_probability():
    """Empty source tiles regrow one unit with probability regen_prob per step (binomial, 4 s.e.)."""
    config = EconomyConfig(layout=SMALL_LAYOUT, regen_prob=0.05, tax_model="none")
    env = Economy(512, config, seed=2)
    env.resources.zero_()
    n_sources = int(env.layout.sources.sum())
    noop = torch.zeros(512, 4, dtype=torch.long)
    env.step(noop)
    regrown = env.resources.sum(dim=(1, 2)).double()
    # agents standing on a source tile gather a regrown unit on their next step; none has stepped yet
    expected, sd = n_sources * 0.05, math.sqrt(n_sources * 0.05 * 0.95)
    assert abs(float(regrown.mean()) - expected) < 4 * sd / math.sqrt(512)


def test_gathering_bonus_matches_its_distribution():
    """Bonus probabilities are min(2, Pareto(3)) / 2 (mean 2/9), and a gather yields 1 + Bernoulli(p) units."""
    env = Economy(4096, QUICK, seed=3)
    p = env.bonus_prob
    assert bool((p >= 0).all()) and bool((p <= 1).all())
    assert abs(float(p.mean()) - 2 / 9) < 4 * float(p.std()) / math.sqrt(p.numel())
    env.bonus_prob = torch.full_like(p, 0.3)
    env.resources[:] = env.layout.sources.reshape(2, -1).to(torch.int8)  # every source full
    # Agent 2 starts in the top-left corner, a wood source on the small map: it gathers on a no-op.
    start = env.cell.clone()
    env.step(torch.zeros(4096, 4, dtype=torch.long))
    on_source = env.layout.sources.reshape(2, -1).any(0)[start]
    units = env.holdings.goods.sum(-1)[on_source].double()
    assert bool((units >= 1).all()) and bool((units <= 2).all())
    assert abs(float(units.mean()) - 1.3) < 4 * math.sqrt(0.3 * 0.7 / units.numel())


def test_houses_and_water_block_moves():
    env = Economy(1, EconomyConfig(layout=SMALL_LAYOUT, regen_prob=0.0, gather_bonus=False, tax_model="none"))
    env.reset(skill_rank=torch.tensor([[2, 0, 1, 3]]))  # agent 0 top-left, agent 1 top-right
    env.cell[0, 0] = 3 * 11 + 3  # (3, 3): empty; (4, 3) below is empty, (5, 3) is water
    env.house_owner[0, 3 * 11 + 4] = 1  # agent 1's house right of agent 0
    targets, open_ = env.move_targets()
    assert open_[0, 0].tolist() == [True, False, True, True]  # left, right (house), up, down
    env.cell[0, 0] = 4 * 11 + 3
    assert env.move_targets()[1][0, 0, 3].item() is False  # water below
    env.cell[0, 1] = 3 * 11 + 5
    assert env.move_targets()[1][0, 1, 0].item() is True  # the owner may enter its own house


def test_per_environment_eta_and_labor_weight():
    eta = torch.tensor([0.0, 0.23, 0.5, 1.0])
    weight = torch.tensor([0.0, 0.21, 0.5, 1.0])
    env = Economy(4, QUICK, eta=eta, labor_weight=weight, seed=5)
    run(env, 100)
    for b in range(4):
        expected = isoelastic_utility(env.coin_total()[b], env.holdings.labor[b], float(eta[b]), float(weight[b]))
        torch.testing.assert_close(env.utility[b], expected)
    coin = torch.tensor([0.0, 0.5, 1.0, 50.0])
    torch.testing.assert_close(isoelastic_utility(coin, torch.zeros(4), 1.0, 0.0), torch.log(coin.clamp(min=1)))
    near_one = isoelastic_utility(torch.tensor([50.0]), torch.zeros(1), 1 - 1e-9, 0.0)
    torch.testing.assert_close(near_one, torch.log(torch.tensor([50.0])), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eta": 1.2}, "eta must lie in"),
        ({"eta": -0.1}, "eta must lie in"),
        ({"labor_weight": -0.21}, "labor_weight must be >= 0"),
        ({"eta": torch.tensor([0.1, 0.2])}, "eta must be a number or a tensor of shape"),
        ({"eta": float("nan")}, "eta must be finite"),
        ({"batch": 0}, "batch must be a positive integer"),
    ],
)
def test_bad_construction_is_refused(kwargs, message):
    args = {"batch": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        Economy(args.pop("batch"), QUICK, **args)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"tax_model": "flat"}, "tax_model must be one of"),
        ({"tax_model": "fixed", "fixed_rates": (0.1, 0.2)}, "needs fixed_rates"),
        ({"regen_prob": 1.5}, "regen_prob must be a finite number in 0..1"),
        ({"order_labor": -1.0}, "order_labor must be a finite number >= 0"),
        ({"episode_length": 0}, r"episode_length must be an integer in 1\.\."),
        ({"order_duration": 120}, r"order_duration must be an integer in 1\.\.98"),
        ({"layout": "atlantis"}, "unknown layout"),
    ],
)
def test_bad_config_is_refused(config, message):
    with pytest.raises(ValueError, match=message):
        Economy(1, EconomyConfig(**config))


def test_bad_actions_are_refused():
    env = Economy(2, EconomyConfig(layout=SMALL_LAYOUT, tax_model="planner", tax_period=10))
    ok = torch.zeros(2, 4, dtype=torch.long)
    keep = torch.zeros(2, 7, dtype=torch.long)
    with pytest.raises(ValueError, match="shape"):
        env.step(torch.zeros(2, 3, dtype=torch.long), keep)
    with pytest.raises(ValueError, match=r"0\.\.49"):
        env.step(torch.full((2, 4), 50), keep)
    with pytest.raises(ValueError, match="integers"):
        env.step(ok.double(), keep)
    with pytest.raises(ValueError, match="needs planner_actions"):
        env.step(ok)
    with pytest.raises(ValueError, match=r"0\.\.21"):
        env.step(ok, torch.full((2, 7), 22))
    with pytest.raises(ValueError, match="permutations"):
        env.step(ok, keep, turn_order=torch.zeros(2, 4, dtype=torch.long))
    annealed = Economy(1, EconomyConfig(layout=SMALL_LAYOUT, tax_model="planner", tax_annealing=(100, 0.001)))
    with pytest.raises(ValueError, match="above the annealed limit"):
        annealed.step(torch.zeros(1, 4, dtype=torch.long), torch.full((1, 7), 3))
    short = Economy(1, EconomyConfig(layout=SMALL_LAYOUT, episode_length=2, tax_model="none"))
    short.step(torch.zeros(1, 4, dtype=torch.long))
    assert short.step(torch.zeros(1, 4, dtype=torch.long)).done
    with pytest.raises(RuntimeError, match="reset"):
        short.step(torch.zeros(1, 4, dtype=torch.long))


def test_bad_layouts_are_refused():
    with pytest.raises(ValueError, match="same, non-zero width"):
        parse_layout("WW;W")
    with pytest.raises(ValueError, match="unknown symbols"):
        parse_layout("WX;  ")
    with pytest.raises(ValueError, match="is water"):
        parse_layout("@ ;  ")
    assert load_layout(SMALL_LAYOUT).shape == (11, 11)


def test_planner_sets_rates_only_on_the_first_step_of_a_period():
    env = Economy(1, EconomyConfig(layout=SMALL_LAYOUT, tax_model="planner", tax_period=5))
    noop = torch.zeros(1, 4, dtype=torch.long)
    assert observe(env).planner_mask[0, :, 1:].all()
    env.step(noop, torch.full((1, 7), 11))  # every bracket to 0.50
    torch.testing.assert_close(env.rates, torch.full((1, 7), 0.5, dtype=torch.float64))
    assert not observe(env).planner_mask[0, :, 1:].any() and observe(env).planner_mask[0, :, 0].all()
    env.step(noop, torch.full((1, 7), 3))  # ignored: not the first step of a period
    torch.testing.assert_close(env.rates, torch.full((1, 7), 0.5, dtype=torch.float64))


def test_turn_order_decides_who_moves_into_a_contested_tile():
    """Agents move one at a time: a tile is free for a mover once its occupant has left, and of two agents
    heading for the same tile only the first gets it (the AI Economist's sequential rule)."""
    config = EconomyConfig(layout=SMALL_LAYOUT, regen_prob=0.0, gather_bonus=False, tax_model="none")
    left, right = 46, 47
    cases = {  # turn order -> (agent 0 moved, agent 1 moved, agent 2 moved)
        (1, 0, 2, 3): (True, True, False),  # 1 leaves first, 0 follows into its tile; 2 finds 1's new tile taken
        (0, 1, 2, 3): (False, True, False),  # 0 bumps into 1, which then leaves; 2 is blocked by 1
        (2, 1, 0, 3): (False, False, True),  # 2 takes (3, 4) first; 1 is stuck, so 0 is too
    }
    for order, expected in cases.items():
        env = Economy(1, config)
        env.reset(skill_rank=torch.tensor([[0, 1, 2, 3]]))
        env.cell[0, :3] = torch.tensor([3 * 11 + 2, 3 * 11 + 3, 3 * 11 + 5])  # (3, 2), (3, 3), (3, 5)
        actions = torch.tensor([[right, right, left, 0]])  # 0 -> (3, 3), 1 -> (3, 4), 2 -> (3, 4)
        moved = env.step(actions, turn_order=torch.tensor([order])).events.moved[0, :3]
        assert tuple(moved.tolist()) == expected, order
        assert len(set(env.cell[0].tolist())) == 4  # never two agents on one tile


def test_saez_taxes_fill_their_buffer_across_episodes_then_follow_the_formula():
    """Each period adds every agent's (income, marginal rate) to the buffer, which outlives resets; rates are
    random within the limit until 500 pairs are in, then the Saez formula on that buffer."""
    from ermas.economy import taxes

    config = EconomyConfig(layout=SMALL_LAYOUT, tax_model="saez", tax_period=5, episode_length=100)
    env = Economy(3, config, seed=4)
    generator = torch.Generator().manual_seed(4)
    periods = 0
    while not bool(env.saez.warmed_up.all()):
        if env.tax_phase == 1 and periods < 125:
            assert bool((env.rates >= 0).all()) and bool((env.rates <= 1).all())
        before = env.saez.n_added.clone()
        result = env.step(random_valid_actions(env, generator))
        if bool((env.saez.n_added > before).any()):
            periods += 1
            slots = (before.unsqueeze(-1) + torch.arange(4)) % taxes.SAEZ_BUFFER_SIZE
            stored = torch.gather(env.saez.buffer, 1, slots.unsqueeze(-1).expand(-1, -1, 2))
            torch.testing.assert_close(stored[..., 0], env.last_income)
            torch.testing.assert_close(stored[..., 1], env.last_marginal_rate)
        if result.done:
            env.reset()
    assert periods == 125 and env.completions == 6  # 500 pairs = 125 periods of 4 agents, across resets
    while env.tax_phase != 1:
        env.step(random_valid_actions(env, generator))
    buffer, elasticity = env.saez.buffer.clone(), env.saez.elasticity.clone()
    env.step(random_valid_actions(env, generator))  # the first step of a period sets the rates
    expected_elasticity = taxes.estimate_elasticity(buffer, torch.full((3,), 500), elasticity)
    torch.testing.assert_close(env.saez.elasticity, expected_elasticity)
    valid = torch.ones(3, taxes.SAEZ_BUFFER_SIZE, dtype=torch.bool)
    bins = taxes.saez_bin_rates(buffer[..., 0], valid, expected_elasticity, env.brackets)
    expected = taxes.bracket_average_rates(bins, env.brackets)
    torch.testing.assert_close(env.rates, expected.clamp(0, 1))


def test_nothing_is_created_on_torch_default_device():
    """With torch's default device set to "meta", any tensor the economy made without naming its device
    would land there and fail to mix with the CPU state: a whole episode with taxes and observations runs."""
    config = EconomyConfig(layout=SMALL_LAYOUT, episode_length=30, tax_model="saez", tax_period=5, usd_scaling=5000.0)
    generator = torch.Generator().manual_seed(0)
    with torch.device("meta"):
        env = Economy(3, config, seed=1, device="cpu")
        done = False
        while not done:
            obs = observe(env)
            actions = torch.multinomial(obs.agent_mask.view(-1, 50).float(), 1, generator=generator).view(3, 4)
            done = env.step(actions).done
        summary = env.summary()
    assert summary.productivity.device.type == "cpu" and obs.agent_spatial.device.type == "cpu"
    planner_env = Economy(2, EconomyConfig(layout=SMALL_LAYOUT, tax_model="planner"), device="cpu")
    with torch.device("meta"):
        assert observe(planner_env).planner_mask.device.type == "cpu"


@pytest.mark.parametrize("device, message", [("cuda:99", "'cuda:99' is not present"), ("tpu", "torch device|must be")])
def test_a_device_that_is_not_here_is_an_error(device, message):
    with pytest.raises(ValueError, match=message):
        Economy(1, device=device)


def test_memory_saved_in_float64_loads_into_a_float32_economy():
    config = EconomyConfig(layout=SMALL_LAYOUT, episode_length=8, tax_model="saez", tax_period=2)
    saved = Economy(2, config, seed=1)
    for _ in range(8):
        saved.step(torch.zeros(2, 4, dtype=torch.long))
    loaded = Economy(2, config, seed=2, dtype=torch.float32)
    loaded.load_memory(saved.memory())
    assert loaded.saez.buffer.dtype == torch.float32 and loaded.saez.n_added.dtype == torch.long
    torch.testing.assert_close(loaded.saez.buffer, saved.saez.buffer.float())
    assert loaded.completions == saved.completions == 1


def test_a_float32_economy_follows_the_float64_one():
    """Same seed and actions: the float32 state stays in float32 and within rounding of the float64 one."""
    config = EconomyConfig(layout=SMALL_LAYOUT, episode_length=40, tax_model="us_federal", tax_period=10)
    envs = [Economy(4, config, seed=3, dtype=dtype) for dtype in (torch.float64, torch.float32)]
    generator = torch.Generator().manual_seed(0)
    for _ in range(config.episode_length):
        mask = observe(envs[0]).agent_mask
        actions = torch.multinomial(mask.view(-1, 50).float(), 1, generator=generator).view(4, 4)
        for env in envs:
            env.step(actions)
    wide, narrow = envs[0].summary(), envs[1].summary()
    assert narrow.coin.dtype == narrow.social_welfare.dtype == envs[1].rates.dtype == torch.float32
    torch.testing.assert_close(narrow.coin, wide.coin.float(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(narrow.social_welfare, wide.social_welfare.float(), rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="dtype must be torch.float64 or torch.float32"):
        Economy(1, dtype=torch.float16)
