"""configs/alerts.rules.yml: promtool accepts the rules and their unit tests pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.skip("promtool is not installed (Debian package prometheus; .ci/run installs it)")
    return subprocess.run([tool, *args], cwd=CONFIGS, capture_output=True, text=True,
                          timeout=50, check=False)


def test_promtool_check_rules_when_run_on_shipped_rules_succeeds() -> None:
    """`promtool check rules` parses every rule and expression."""
    done = promtool("check", "rules", "alerts.rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_test_rules_when_run_on_rule_tests_succeeds() -> None:
    """Each alert fires on the series it is written for and stays quiet otherwise."""
    done = promtool("test", "rules", "alerts.rules.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_test_rules_when_expectation_is_wrong_fails(tmp_path: Path) -> None:
    """The rule tests can fail: a wrong expected value is reported as a failure."""
    broken = (CONFIGS / "alerts.rules.test.yml").read_text().replace(
        "lost 50 records to laps", "lost 51 records to laps")
    (tmp_path / "alerts.rules.yml").write_text((CONFIGS / "alerts.rules.yml").read_text())
    (tmp_path / "t.yml").write_text(broken)
    done = promtool("test", "rules", str(tmp_path / "t.yml"))
    assert done.returncode != 0
