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


def test_binder_installs_the_package_and_the_oracle_as_make_does():
    post_build = ROOT / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    makefile = (ROOT / "Makefile").read_text().splitlines()
    version = next(line.split(":=")[1].strip() for line in makefile if line.startswith("AI_ECONOMIST_VERSION"))
    text = post_build.read_text()
    assert f"pip install --no-deps ai-economist=={version}" in text
    assert "pip install --no-deps -e ." in text


def test_the_book_workflow_runs_the_projects_own_ci_script():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    runs = [step.get("run") for job in workflow["jobs"].values() for step in job.get("steps", []) if "run" in step]
    assert runs == ["bash .ci/run"], "the workflow's steps must be the repository's own commands"
    ci = (ROOT / ".ci" / "run").read_text()
    for command in ("make test", "make lint", "make book", "make browser-check"):
        assert command in ci
