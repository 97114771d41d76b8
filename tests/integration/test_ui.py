"""The Dagster UI in a real browser: the asset graph shows every group, and a run launched from it succeeds.

The instance is quiet: the demo feed is paused, and the test checks that the daemon's ticks of it skip and name
the switch.

`dagster dev` serves the repo's workspace; Playwright drives Debian's Chromium (the system browser: Playwright's
own browser download cannot reach its CDN here). The test clicks what a person would click: the asset graph,
then `delivery_delay/raw_batch`, Materialize, one partition in the launch dialog, the run page. GraphQL only
confirms what the UI showed.

Screenshots go under pytest's tmp_path, or to docs/screenshots/ for the README when UPDATE_SCREENSHOTS=1.
Without a `chromium` binary the test skips, unless MLPLATFORM_REQUIRE_BROWSER is set (as `.ci/run` does).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from platform_assets.definitions import defs
from sensors.demo import DEMO_FEED_ENV, feed_sensor_name
from tests.conftest import ROOT
from tests.integration.devserver import DevServer, graphql, running_dagster_dev

pytestmark = pytest.mark.integration

MODEL = "delivery_delay"
ASSET = "raw_batch"
PARTITION = "2026-01-05"
VIEWPORT = {"width": 1600, "height": 1000}
# Everything here is local; the background-networking flags stop Chromium calling hosts this machine cannot reach.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Two shared cores: dagster dev takes 15 to 40 s to load, a run's worker process 20 s to import the platform.
UI_TIMEOUT_MS = 60_000
RUN_TIMEOUT_MS = 120_000

RUN = """
query ($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { status tags { key value } } }
}
"""
FEED_TICKS = """
query ($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { status ticks(limit: 20) { status skipReason } } }
  }
}
"""
FEED_RUNS = """
{ runsOrError(filter: {tags: [{key: "trigger", value: "demo_feed"}]}) { ... on Runs { results { runId } } } }
"""


def chromium_binary() -> str:
    """Debian's chromium, or a skip (a failure when MLPLATFORM_REQUIRE_BROWSER is set)."""
    binary = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None)
    if binary:
        return binary
    message = "no `chromium` binary: install Debian's package (apt-get install chromium), as .ci/run does"
    if os.environ.get("MLPLATFORM_REQUIRE_BROWSER"):
        pytest.fail(f"MLPLATFORM_REQUIRE_BROWSER is set but there is {message}")
    pytest.skip(message)


def expected_groups() -> set[str]:
    return {spec.group_name for spec in defs().resolve_all_asset_specs() if spec.group_name}


def served_groups(port: int) -> set[str]:
    return {node["groupName"] for node in graphql(port, "{ assetNodes { groupName } }")["data"]["assetNodes"]}


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    directory = ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / "shots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def browser() -> Iterator[Browser]:
    executable = chromium_binary()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def dagster_dev(tmp_path: Path, browser: Browser) -> Iterator[DevServer]:
    """Started after the browser, so a missing browser skips before paying for dagster dev."""
    workdir = tmp_path / "dev"
    workdir.mkdir()
    # A quiet instance: the demo feed's first tick would queue 13 runs ahead of the one launched from the UI (four
    # run at once on two cores) and land the same partition beside it. test_dagster_dev watches the feed instead.
    workspace = (ROOT / "workspace.yaml").read_text(encoding="utf-8")
    with running_dagster_dev(workdir, workspace, env={DEMO_FEED_ENV: "0"}) as server:
        yield server


def check_asset_graph(page: Page, groups: set[str], shots: Path) -> None:
    page.goto("/asset-groups")
    expect(page.get_by_text("Global asset lineage", exact=True)).to_be_visible()
    # Each group is a node of the graph's SVG; its full name is the tooltip of its (middle-truncated) title.
    nodes = page.locator("svg foreignObject.group [data-tooltip]")
    expect(nodes).to_have_count(len(groups))
    assert set(nodes.evaluate_all("nodes => nodes.map(node => node.dataset.tooltip)")) == groups
    for group in sorted(groups):
        expect(page.locator(f'svg [data-tooltip="{group}"]')).to_be_visible()
    page.wait_for_timeout(1_000)  # the graph's zoom-to-fit animation, for the picture only
    page.screenshot(path=shots / "asset_graph.png")


def launch_partition_from_ui(page: Page, shots: Path) -> str:
    """Materialize one partition of the asset through its page and launch dialog; returns the run id."""
    page.goto(f"/assets/{MODEL}/{ASSET}")
    page.get_by_role("button", name="Materialize…").click()  # its name also holds the icon's label
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Launch runs to materialize {MODEL} / {ASSET}")).to_be_visible()
    partitions = dialog.get_by_role("textbox")
    expect(partitions).to_be_visible()
    # The dialog offers only the last 90 days at first; the daily partitions start on 2026-01-01, so this one is older.
    dialog.get_by_role("button", name="Show all partitions").click()
    partitions.fill(PARTITION)
    partitions.press("Enter")
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    launch = dialog.get_by_role("button", name="Launch 1 run")
    expect(launch).to_be_enabled()
    page.screenshot(path=shots / "launch_dialog.png")
    launch.click()

    # A toast says "Launched run <id>" with a link to the run page.
    expect(page.get_by_text("Launched run")).to_be_visible()
    page.get_by_role("link", name="View", exact=True).click()
    page.mouse.move(0, 0)  # a hovered toast stays open, and would cover the run page's picture
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def wait_for_run_in_ui(page: Page, shots: Path) -> str:
    """The run page's status tag once the run has ended; the screenshot shows it."""
    expect(page.get_by_text(f"partition: {PARTITION}")).to_be_visible()
    status = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$")).first
    expect(status).to_be_visible(timeout=RUN_TIMEOUT_MS)
    page.screenshot(path=shots / "run.png")
    return status.inner_text()


def test_ui_shows_every_group_and_launches_a_partition_run(
    dagster_dev: DevServer, browser: Browser, screenshots: Path, tmp_path: Path
) -> None:
    server = dagster_dev
    groups = expected_groups()
    assert {f"{MODEL}_data", f"{MODEL}_deployment"} <= groups, groups
    server.wait_for("every asset group in the code location", lambda: served_groups(server.port) == groups, 120)
    # Dismiss the one-time "Join the Dagster community" dialog the UI shows on localhost, on the server side.
    assert graphql(server.port, "mutation { setNuxSeen }")["data"]["setNuxSeen"] is True

    context = browser.new_context(base_url=f"http://127.0.0.1:{server.port}", viewport=VIEWPORT)
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    page = context.new_page()
    try:
        check_asset_graph(page, groups, screenshots)
        run_id = launch_partition_from_ui(page, screenshots)
        status = wait_for_run_in_ui(page, screenshots)
    except Exception:
        page.screenshot(path=tmp_path / "failure.png")  # never into docs/
        raise
    finally:
        context.close()

    run = graphql(server.port, RUN, {"runId": run_id})["data"]["runOrError"]
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert (status, run["status"]) == ("Success", "SUCCESS"), f"run {run_id}: {run}\n{server.tail()}"
    assert tags.get("dagster/from_ui") == "true", tags
    assert tags.get("dagster/partition") == PARTITION, tags
    batch = server.workdir / "var" / "lake" / MODEL / ASSET / f"date={PARTITION}" / "data.parquet"
    assert batch.is_file(), f"{batch} missing after run {run_id}"

    # The demo feed is paused here (MLPLATFORM_DEMO_FEED=0 in dagster dev's environment): the daemon ticks it, each
    # tick skips and names the switch, and it starts no run.
    skipped = server.wait_for("a paused tick of the demo feed", lambda: paused_feed_ticks(server.port), 120)
    assert all(f"{DEMO_FEED_ENV}=0" in tick["skipReason"] for tick in skipped), skipped
    assert graphql(server.port, FEED_RUNS)["data"]["runsOrError"]["results"] == []


def paused_feed_ticks(port: int) -> list[dict]:
    """The demo feed's skipped ticks, newest first, once the daemon has made one."""
    selector = {"repositoryLocationName": "mlplatform", "repositoryName": "__repository__"}
    data = graphql(port, FEED_TICKS, {"selector": {**selector, "sensorName": feed_sensor_name(MODEL)}})
    state = data["data"]["sensorOrError"]["sensorState"]
    assert state["status"] == "RUNNING", state
    return [tick for tick in state["ticks"] if tick["status"] == "SKIPPED"]
