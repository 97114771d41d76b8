"""Every command in the README (and the docs pages it links) is run by a test, and the pages match the code.

`COMMANDS` maps each documented shell command to the tests that run it. A command added to a page without an
entry here fails `test_every_documented_command_is_mapped`; an entry whose test is gone fails
`test_mapped_test_exists`. Cheap commands (`validate-spec`) run here; `make test`/`make ci` are what CI itself
runs, so this module checks that the Makefile targets do what the README says; the rest name their tests.
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from platform_assets.definitions import build_definitions
from platform_assets.spec import load_spec
from resources.alerting import AlertingResource
from resources.lake import LakeResource
from resources.mlflow_registry import MlflowResource
from tests.conftest import SHIPPED_SPEC, STAGES
from tests.docs import DOCS, README, ROOT, commands, fenced_blocks, linked_pages, normalise

pytestmark = pytest.mark.unit

_SELF = "tests/docs/test_readme.py"
_OWN = "tests/docs/test_own_dataset.py"
MAKE_TARGETS = f"{_SELF}::test_make_targets_do_what_the_readme_says"
VALIDATE = f"{_SELF}::test_validate_spec_commands_print_ok"

# Each documented command (normalised) -> the tests that run it (pytest node ids, relative to the repository).
COMMANDS: dict[str, tuple[str, ...]] = {
    "make dev": (
        "tests/integration/test_dagster_dev.py::test_dagster_dev_runs_the_demo_feed_and_automation_by_itself",
        MAKE_TARGETS,
    ),
    "make test": (MAKE_TARGETS,),
    ".venv/bin/mlplatform simulate --spec specs/delivery_delay.yaml --scenario sudden_shift --days 60 "
    "--out var/simulations/sudden_shift": ("tests/simulation/test_scenarios.py::test_sudden_shift",),
    ".venv/bin/mlplatform validate-spec specs/delivery_delay.yaml": (
        VALIDATE,
        "tests/test_spec.py::test_cli_validate_spec",
    ),
    ".venv/bin/python examples/own_dataset/make_dataset.py": (
        f"{_OWN}::test_make_dataset_is_deterministic_and_lands_where_the_spec_reads",
        f"{_OWN}::test_documented_steps_land_validate_and_build_features",
    ),
    ".venv/bin/mlplatform validate-spec examples/own_dataset/churn.yaml": (VALIDATE,),
    "ln -s ../examples/own_dataset/churn.yaml specs/churn.yaml": (
        f"{_OWN}::test_documented_steps_land_validate_and_build_features",
    ),
    "rm specs/churn.yaml": (f"{_OWN}::test_documented_steps_land_validate_and_build_features",),
    ".venv/bin/mlplatform simulate --spec examples/own_dataset/churn.yaml --scenario steady --days 20 "
    "--out var/simulations/own": ("tests/simulation/test_scenarios.py::test_own_dataset_steady",),
}

PAGES = [README, *linked_pages(README)]


def _documented() -> dict[str, list[str]]:
    """Each command of the README and its linked docs pages -> the pages that show it."""
    found: dict[str, list[str]] = {}
    for page in PAGES:
        for command in commands(page):
            found.setdefault(command, []).append(page.relative_to(ROOT).as_posix())
    return found


def _argv(command: str) -> list[str]:
    """The command's argv, with `.venv/bin/<tool>` taken from the interpreter running the tests."""
    argv = shlex.split(command)
    if argv[0].startswith(".venv/bin/"):
        argv[0] = str(Path(sys.executable).parent / argv[0].removeprefix(".venv/bin/"))
    return argv


def test_readme_starts_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    first = fenced_blocks(README)[0]
    assert text.index("```") < text.index("\n## "), "the two commands come before any section"
    assert first.language == "sh"
    assert [normalise(line) for line in first.text.splitlines()] == ["make dev", "make test"]


def test_every_docs_page_is_linked_from_the_readme() -> None:
    pages = sorted(path.name for path in DOCS.glob("*.md"))
    linked = sorted(path.name for path in linked_pages(README))
    assert pages == linked, "a docs page the README does not link would escape the command check"


def test_every_documented_command_is_mapped() -> None:
    documented = _documented()
    unmapped = {command: pages for command, pages in documented.items() if command not in COMMANDS}
    assert not unmapped, f"commands without a test; add them to COMMANDS with the tests that run them: {unmapped}"
    stale = sorted(set(COMMANDS) - set(documented))
    assert not stale, f"COMMANDS holds commands no page shows any more: {stale}"


@pytest.mark.parametrize("node", sorted({node for nodes in COMMANDS.values() for node in nodes}))
def test_mapped_test_exists(node: str) -> None:
    """The named test function exists (read from the file's syntax tree, without importing it)."""
    path, _, name = node.partition("::")
    file = ROOT / path
    assert file.is_file(), f"{node}: no test module {path}"
    parts = name.split("[", 1)[0].split("::")
    body = ast.parse(file.read_text(encoding="utf-8")).body
    for index, part in enumerate(parts):
        wanted = ast.ClassDef if index < len(parts) - 1 else (ast.FunctionDef, ast.AsyncFunctionDef)
        match = next((item for item in body if isinstance(item, wanted) and item.name == part), None)
        assert match is not None, f"{node}: {path} defines no {part}"
        body = match.body


def _makefile() -> tuple[dict[str, str], dict[str, tuple[list[str], list[str]]]]:
    """The Makefile's variables and, per target, its prerequisites and recipe lines (continuations joined)."""
    variables: dict[str, str] = {}
    targets: dict[str, tuple[list[str], list[str]]] = {}
    current: list[str] | None = None
    lines = iter((ROOT / "Makefile").read_text(encoding="utf-8").splitlines())
    for line in lines:
        if line.startswith("\t"):
            recipe = line.strip()
            while recipe.endswith("\\"):
                recipe = recipe[:-1].rstrip() + " " + next(lines).strip()
            if current is not None:
                current.append(recipe)
            continue
        assignment = re.match(r"^(?:export\s+)?([A-Z_]+)\s*[:?]?=\s*(.*)$", line)
        rule = re.match(r"^([^\s:=#][^:=]*):(?!=)\s*(.*)$", line)
        current = None
        if assignment:
            variables[assignment[1]] = assignment[2].strip()
        elif rule:
            current = []
            for target in rule[1].split():
                targets[target] = (rule[2].split(), current)
    return variables, targets


def test_make_targets_do_what_the_readme_says() -> None:
    variables, targets = _makefile()
    install_recipe = " ".join(targets["$(STAMP)"][1])
    assert targets["install"][0] == ["$(STAMP)"]
    assert "-m venv $(VENV)" in install_recipe, "targets create .venv when it is missing"
    assert "pip install" in install_recipe and "-c constraints.txt" in install_recipe

    # make dev: installs, then dagster dev on loopback, port 3000, this workspace.
    prerequisites, recipe = targets["dev"]
    assert "install" in prerequisites
    assert recipe == ["$(BIN)/dagster dev -h $(HOST) -p $(PORT) -w workspace.yaml"]
    assert (variables["HOST"], variables["PORT"]) == ("127.0.0.1", "3000")

    # make test: installs, then pytest over the whole suite (no marker, keyword or path narrows it).
    prerequisites, recipe = targets["test"]
    assert "install" in prerequisites
    assert recipe == ["$(BIN)/pytest"]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'testpaths = ["tests"]' in pyproject

    # make ci (what .ci/run calls): lint, then each stage in the seed's order.
    prerequisites, recipe = targets["ci"]
    assert prerequisites == ["lint"]
    assert tuple(variables["CI_STAGES"].split()) == STAGES
    loop = " ".join(recipe)
    assert variables["BESIDE"] == "simulation", "the stage that runs in the background"
    assert "for stage in $(filter-out $(BESIDE),$(CI_STAGES))" in loop, "the other stages in the seed's order"
    assert "OMP_WAIT_POLICY=PASSIVE $(BIN)/pytest -m $$stage $$args" in loop
    assert "nice -n 10 $(BIN)/pytest -m $(BESIDE) -n 2" in loop and "& beside=$$!" in loop, (
        "the simulation runs in the background"
    )
    assert "test $$status -eq 0 && test $$beside_status -eq 0" in loop, "either side failing fails CI"
    assert variables["INTEGRATION_ARGS"] == "-n 2 --dist loadfile --no-loadscope-reorder"
    assert targets["lint"][1] == ["$(BIN)/ruff check .", "$(BIN)/ruff format --check ."]
    ci_run = [line for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines() if line.strip()]
    assert ci_run[-1] == "make ci"
    for stage in STAGES:
        assert f'"{stage}: ' in pyproject, f"stage {stage} is not a registered marker"


def test_validate_spec_commands_print_ok() -> None:
    ran = 0
    for command in _documented():
        if "validate-spec" not in command:
            continue
        result = subprocess.run(_argv(command), cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        assert result.stdout.strip() == "ok", command
        ran += 1
    assert ran >= 2, "the README and the own-dataset page each show a validate-spec command"


@pytest.mark.parametrize(
    ("page", "target"),
    [
        (page.relative_to(ROOT).as_posix(), match)
        for page in PAGES
        for match in re.findall(r"\]\(([^)#\s:]+)(?:#[^)\s]*)?\)", page.read_text(encoding="utf-8"))
    ],
)
def test_relative_links_and_images_exist(page: str, target: str) -> None:
    assert ((ROOT / page).parent / target).exists(), f"{page} links to {target}, which does not exist"


def _mermaid_nodes() -> set[str]:
    (block,) = fenced_blocks(README, "mermaid")
    return set(re.findall(r"^\s*([a-z_]+)[\[({]", block.text, flags=re.MULTILINE))


def test_architecture_picture_shows_every_asset() -> None:
    spec = load_spec(SHIPPED_SPEC)
    assets = {key.path[-1] for key in build_definitions([spec]).get_repository_def().assets_defs_by_key}
    nodes = _mermaid_nodes()
    assert assets <= nodes, f"assets missing from the architecture picture: {sorted(assets - nodes)}"


def test_triggers_page_names_every_schedule_and_sensor() -> None:
    spec = load_spec(SHIPPED_SPEC)
    repository = build_definitions([spec]).get_repository_def()
    names = [definition.name for definition in (*repository.schedule_defs, *repository.sensor_defs)]
    page = (DOCS / "triggers-and-gates.md").read_text(encoding="utf-8")
    missing = [name for name in names if name.replace(spec.name, "<model>", 1) not in page]
    assert not missing, f"docs/triggers-and-gates.md does not describe {missing}"


def _cluster_module() -> str:
    (block,) = [b for b in fenced_blocks(DOCS / "cluster.md", "python") if "def defs(" in b.text]
    return block.text


def test_cluster_definitions_module_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("MLPLATFORM_LAKE_ROOT", "MLFLOW_TRACKING_URI", "MLPLATFORM_ALERTS_LOG"):
        monkeypatch.delenv(variable, raising=False)  # the module must load with an empty environment
    namespace: dict[str, object] = {}
    exec(compile(_cluster_module(), "docs/cluster.md", "exec"), namespace)
    defs = namespace["defs"]()
    assert isinstance(defs, dg.Definitions)
    repository = defs.get_repository_def()
    assert any(key.path[0] == "delivery_delay" for key in repository.assets_defs_by_key)
    resources = defs.resources or {}
    assert isinstance(resources["lake"], LakeResource) and isinstance(resources["mlflow"], MlflowResource)
    assert isinstance(resources["alerts"], AlertingResource)


def test_docs_snippets_parse() -> None:
    for page in PAGES:
        for block in fenced_blocks(page, "python"):
            compile(block.text, f"{page.name}:{block.line}", "exec")
        for block in fenced_blocks(page, "yaml"):
            assert isinstance(yaml.safe_load(block.text), dict), f"{page.name}:{block.line} is not a YAML mapping"
    instance_keys = {"storage", "run_launcher", "run_queue", "telemetry"}
    for block in fenced_blocks(DOCS / "cluster.md", "yaml"):
        document = yaml.safe_load(block.text)
        assert set(document) <= instance_keys or set(document) == {"load_from"}, block.text


def _is_subset(part: object, whole: object) -> bool:
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and _is_subset(v, whole[k]) for k, v in part.items())
    return part == whole


def test_own_dataset_page_quotes_the_example_spec() -> None:
    spec = yaml.safe_load((ROOT / "examples" / "own_dataset" / "churn.yaml").read_text(encoding="utf-8"))
    blocks = fenced_blocks(DOCS / "own-dataset.md", "yaml")
    assert blocks
    for block in blocks:
        assert _is_subset(yaml.safe_load(block.text), spec), f"own-dataset.md:{block.line} differs from churn.yaml"
