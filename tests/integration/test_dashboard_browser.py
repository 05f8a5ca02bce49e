"""The dashboard in real headless Chromium, served by the gateway of a running default topology:
every engine READY, a SIGKILLed engine's restart count going up, the kill switch engaged, and
the page reconnecting after the gateway itself is killed. A screenshot is kept as an artifact.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser import headless_chromium
from daemon_helpers import default_config, start_daemon, status_rows, stop, wait_ready

from engines.service import ServiceClient, service_endpoint
from nautilusd.config.tomlwriter import toml_document

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "browser-test-token"

pytest.importorskip("selenium.webdriver")


def _free_port() -> int:
    with socket.socket() as s:  # the gateway rebinds it after its own restart
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def topology(shm_dir: Path, runtime_dir: Path) -> Iterator[tuple[Any, str, Path]]:
    doc = default_config("dash", shm_dir)
    instance = doc["supervisor"]["instance"]
    doc["engines"]["gateway"]["params"].update(port=_free_port(), token=TOKEN)
    config = runtime_dir / "default.toml"
    config.write_text(toml_document(doc))
    proc = start_daemon(config, runtime_dir)
    try:
        wait_ready(shm_dir, set(doc["engines"]), proc, instance=instance, timeout_s=60)
        yield proc, instance, runtime_dir / "rt"
    finally:
        assert stop(proc) == 0


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    with headless_chromium(tmp_path, "--disable-quic", "--window-size=1400,1000") as chrome:
        yield chrome


def _cells(chrome: Any, css: str) -> dict[str, str]:
    """engine name -> text of the cell `css` in its row of the engines table."""
    return chrome.execute_script(
        "const out = {}; document.querySelectorAll('#engines tbody tr').forEach(r =>"
        " { const c = r.querySelector(arguments[0]); if (c) out[r.dataset.engine] ="
        " c.textContent; }); return out;", css)


def _wait(chrome: Any, condition: Any, timeout_s: float, what: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(chrome, timeout_s, poll_frequency=0.2).until(
        lambda _: condition(), message=f"the page did not show {what} in {timeout_s} s")


def test_dashboard_when_engine_killed_and_switch_engaged_shows_both_live(
    topology: tuple[Any, str, Path], browser: Any, tmp_path: Path,
    record_property: Any,
) -> None:
    """The page shows all engines READY, a restart after SIGKILL, the kill switch engaged,
    and keeps updating after the gateway itself is SIGKILLed and restarted."""
    proc, instance, rt = topology
    shm_dir = Path(tomllib.loads((rt.parent / "default.toml").read_text())
                   ["supervisor"]["shm_dir"])
    url = json.loads((rt / "gateway.json").read_text())["url"]
    browser.get(f"{url}?token={TOKEN}")
    names = set(status_rows(shm_dir, instance))
    _wait(browser, lambda: _cells(browser, "td.state") == dict.fromkeys(names, "READY"), 30,
          "every engine READY")
    assert _cells(browser, "td.restarts")["analytics"] == "0"
    os.kill(status_rows(shm_dir, instance)["analytics"]["pid"], signal.SIGKILL)
    _wait(browser, lambda: _cells(browser, "td.restarts").get("analytics") == "1"
          and _cells(browser, "td.state").get("analytics") == "READY", 30,
          "analytics restarted once")
    assert "off" in browser.find_element("id", "kill-switch").text
    with ServiceClient(service_endpoint(rt, "risk"), timeout_ms=5_000) as risk:
        assert risk.call("risk.kill_switch", engage=True, why="dashboard test")["killed"]
    _wait(browser, lambda: "ENGAGED" in browser.find_element("id", "kill-switch").text, 30,
          "the kill switch engaged")
    os.kill(status_rows(shm_dir, instance)["gateway"]["pid"], signal.SIGKILL)
    _wait(browser, lambda: _cells(browser, "td.restarts").get("gateway") == "1"
          and browser.find_element("id", "connection").text == "live", 40,
          "the page reconnected to the restarted gateway")
    shot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    record_property("screenshot", str(shot))
    print(f"dashboard screenshot: {shot}")
    assert proc.poll() is None
