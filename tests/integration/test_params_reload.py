"""A params typo at 3 a.m.: `check` exits 2 naming it with a suggestion, and `reload` refuses
the file before anything restarts (no engine's pid changes), against a real daemon."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from _ctl_daemon import BIN, DEFAULT_ENGINES, Daemon

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]


def test_check_when_risk_param_misspelt_exits_2_with_file_key_and_suggestion(
        tmp_path: Path) -> None:
    """default.toml with `max_ordr_qty`: exit 2, the file, the key path and the right key."""
    text = (ROOT / "configs" / "default.toml").read_text()
    bad = tmp_path / "typo.toml"
    bad.write_text(text.replace("max_order_qty = 1000", "max_ordr_qty = 1000"))
    done = subprocess.run([str(BIN / "nautilusd"), "check", str(bad)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stdout
    assert (f"{bad}: engines.risk.params.max_ordr_qty: unknown param 'max_ordr_qty' "
            "(did you mean 'max_order_qty'?)") in done.stderr


def test_reload_when_params_misspelt_is_refused_and_no_pid_changes(
        tmp_path: Path, runtime_dir: Path, shm_dir: Path) -> None:
    """A typo in one engine's params fails the whole reload; every engine keeps its pid."""
    d = Daemon(tmp_path, runtime_dir, shm_dir)
    try:
        before = d.pids()
        typo = DEFAULT_ENGINES.replace("[engines.beta]", "[engines.beta]\nparams = "
                                       "{ crash_aftr_s = 0.01 }", 1)
        bad = d.write_config("typo.toml", typo)
        reload = d.ctl("reload", str(bad))
        assert reload.returncode == 1
        assert ("engines.beta.params.crash_aftr_s: unknown param 'crash_aftr_s' "
                "(did you mean 'crash_after_s'?)") in reload.stderr
        ranged = d.write_config("range.toml", DEFAULT_ENGINES.replace(
            "[engines.beta]", "[engines.beta]\nparams = { crash_code = 300 }", 1))
        assert "above the maximum 255" in d.ctl("reload", str(ranged)).stderr
        assert d.pids() == before and d.all_ready()
    finally:
        d.stop()
