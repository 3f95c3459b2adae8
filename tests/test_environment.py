"""requirements.lock (used by make and CI) and environment.yml (conda) pin the same versions."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def parse_pins(lines):
    pins = {}
    for line in lines:
        line = line.strip()
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_environment_yml_matches_the_lock():
    lock = parse_pins((ROOT / "requirements.lock").read_text().splitlines())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pinned = parse_pins(pip_section)
    assert pinned, "environment.yml pins nothing"
    for name, version in pinned.items():
        assert name in lock, f"{name} is in environment.yml but not in requirements.lock"
        assert lock[name] == version, f"{name}: environment.yml has {version}, requirements.lock {lock[name]}"
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert python == "python=3.11"


def test_torch_is_pinned_to_the_cpu_build_on_disk():
    lock = parse_pins((ROOT / "requirements.lock").read_text().splitlines())
    assert lock["torch"] == "2.13.0"
