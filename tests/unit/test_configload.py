"""Unit tests for nautilusd.config.load: every validation rule and what its message names.

Each bad config must be refused with a message naming the file, the key path and the value.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from engines.spec import RestartPolicy, SpinKind
from nautilusd.config.load import load_config, loads_config, start_order
from nautilusd.config.model import GroupStrategy
from nautilusd.errors import ConfigError, NautilusdError
from shm import Policy, WaitKind

pytestmark = pytest.mark.timeout(20)

CONFIGS = Path(__file__).parent.parent / "data" / "configs"
HOST = frozenset({0, 1, 2, 3})
ENTRY = 'entry = "engines.reference:ReferenceEngine"\n'


def _refused(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "topo.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, host_cpus=HOST)
    return info.value


def _assert_error(error: ConfigError, key: str, *fragments: str) -> None:
    """Some message names the file, the key path and every fragment (the bad value)."""
    for path, message in error.errors:
        if path == key and all(f in message for f in fragments):
            assert message.startswith(f"{error.source}: {key}: ")
            assert "topo.toml" in message
            return
    pytest.fail(f"no error at {key} with {fragments}; got:\n{error}")


def test_load_when_pipeline_fixture_converts_every_field_type() -> None:
    """A valid file becomes frozen typed objects: enums, paths, bytes, tuples, mappings."""
    topo = load_config(CONFIGS / "pipeline.toml", host_cpus=HOST)
    consumer = topo.engines["consumer"]
    assert consumer.restart is RestartPolicy.ON_FAILURE
    assert consumer.rlimits.as_bytes == 2147483648 and consumer.rlimits.nofile == 4096
    assert consumer.memory_max_bytes == 512 * 1024 * 1024
    assert consumer.environment == {"TZ": "UTC"} and consumer.after == ("producer",)
    assert topo.engines["producer"].wait is WaitKind.YIELDING
    assert topo.engines["sidecar"].command == ("/bin/sleep", "3600")
    assert topo.groups["trading"].strategy is GroupStrategy.REST_FOR_ONE
    assert topo.groups["default"].strategy is GroupStrategy.ONE_FOR_ONE
    assert topo.rings["data"].policy is Policy.BLOCK
    assert topo.rings["data"].readers == ("consumer",)
    assert topo.symbols == ("AAPL", "MSFT") and topo.supervisor.cpus == (0,)
    assert list(topo.engines) == ["producer", "consumer", "sidecar"]


def test_load_when_params_nested_freezes_them_all_the_way_down() -> None:
    """Engine params are read-only: tables become mappingproxy, arrays tuples."""
    text = ('[engines.producer]\nentry = "engines.reference:ReferenceEngine"\n'
            'params = { rate_hz = 1000, burst = [1, 2, 3] }\n')
    params = loads_config(text, host_cpus=HOST).engines["producer"].params
    assert isinstance(params, MappingProxyType) and params["burst"] == (1, 2, 3)
    with pytest.raises(TypeError):
        params["rate_hz"] = 1  # type: ignore[index]


def test_load_when_minimal_fixture_uses_defaults() -> None:
    """The minimal fixture loads on any host and fills every default."""
    topo = load_config(CONFIGS / "minimal.toml")
    assert list(topo.engines) == ["ref"] and topo.supervisor.instance == "minimal"
    assert topo.engines["ref"].restart is RestartPolicy.ALWAYS and not topo.rings


def test_load_when_runtime_dir_given_makes_it_a_path(tmp_path: Path) -> None:
    """Paths in [supervisor] come back as Path objects."""
    text = (f'[supervisor]\nruntime_dir = "/tmp/x"\nshm_dir = "/dev/shm/y"\n'
            f'control_endpoint = "ipc:///tmp/x/c.sock"\nmetrics_address = ":9464"\n'
            f'[engines.a]\n{ENTRY}')
    topo = loads_config(text, host_cpus=HOST)
    assert topo.supervisor.control_endpoint == "ipc:///tmp/x/c.sock"
    assert topo.supervisor.runtime_dir == Path("/tmp/x")
    assert topo.supervisor.shm_dir == Path("/dev/shm/y")


BAD_CASES = [
    # (id, toml text, key path, fragments the message must contain)
    ("unknown top key", f"colour = 1\n[engines.a]\n{ENTRY}", "colour",
     ["unknown key: 'colour'", "allowed keys: symbols, supervisor"]),
    ("unknown supervisor key", f'[supervisor]\ninstnce = "x"\n[engines.a]\n{ENTRY}',
     "supervisor.instnce", ["'instnce'", "instance"]),
    ("unknown engine key", f"[engines.a]\n{ENTRY}cpu = [0]\n", "engines.a.cpu",
     ["unknown key: 'cpu'", "cpus"]),
    ("unknown rlimit", f"[engines.a]\n{ENTRY}rlimits = {{stack = 1}}\n",
     "engines.a.rlimits.stack", ["'stack'", "memlock, nofile, as"]),
    ("unknown group key", f"[groups.g]\nstrategie = 1\n[engines.a]\n{ENTRY}",
     "groups.g.strategie", ["'strategie'"]),
    ("bad endpoint", f'[supervisor]\ncontrol_endpoint = "/tmp/c.sock"\n[engines.a]\n{ENTRY}',
     "supervisor.control_endpoint", ["'/tmp/c.sock'", "ipc://PATH"]),
    ("bad metrics address", f'[supervisor]\nmetrics_address = "9464"\n[engines.a]\n{ENTRY}',
     "supervisor.metrics_address", ["'9464'", "HOST:PORT"]),
    ("cpus wrong type", f'[engines.a]\n{ENTRY}cpus = "0"\n', "engines.a.cpus",
     ["expected array, found string: '0'"]),
    ("cpu item wrong type", f'[engines.a]\n{ENTRY}cpus = [0, "1"]\n', "engines.a.cpus[1]",
     ["expected integer, found string: '1'"]),
    ("negative cpu", f"[engines.a]\n{ENTRY}cpus = [-1]\n", "engines.a.cpus[0]",
     ["out of range: -1"]),
    ("bool is not int", f"[engines.a]\n{ENTRY}replicas = true\n", "engines.a.replicas",
     ["expected integer, found boolean: True"]),
    ("replicas zero", f"[engines.a]\n{ENTRY}replicas = 0\n", "engines.a.replicas",
     ["out of range: 0"]),
    ("bad restart", f'[engines.a]\n{ENTRY}restart = "alwayz"\n', "engines.a.restart",
     ["not a valid restart policy: 'alwayz' (expected one of: always, on-failure, never)"]),
    ("bad wait", f'[engines.a]\n{ENTRY}wait = "spin"\n', "engines.a.wait",
     ["not a valid wait strategy: 'spin'", "busy_spin"]),
    ("spin budget negative", f"[engines.a]\n{ENTRY}spin_us = -5\n", "engines.a.spin_us",
     ["out of range: -5"]),
    ("spin budget over a second", f"[engines.a]\n{ENTRY}spin_us = 2000000\n",
     "engines.a.spin_us", ["out of range: 2000000"]),
    ("spin budget without blocking", f'[engines.a]\n{ENTRY}wait = "yielding"\nspin_us = 50\n',
     "engines.a.spin_us", ['applies to wait = "blocking" only', "'yielding'"]),
    ("spin kind unknown", f'[engines.a]\n{ENTRY}spin = "warm"\n', "engines.a.spin",
     ["'warm'", "yield, hot"]),
    ("hot spin without blocking", f'[engines.a]\n{ENTRY}wait = "busy_spin"\ncpus = [1]\n'
     f'spin = "hot"\n', "engines.a.spin",
     ["spin = 'hot' applies to wait = \"blocking\" only", "'busy_spin'"]),
    ("bad strategy", f'[groups.g]\nstrategy = "all_for_one"\n[engines.a]\n{ENTRY}',
     "groups.g.strategy", ["'all_for_one'", "rest_for_one"]),
    ("bad entry", '[engines.a]\nentry = "engines.reference"\n', "engines.a.entry",
     ["'engines.reference'", "package.module:Class"]),
    ("entry and command", f'[engines.a]\n{ENTRY}command = ["/bin/true"]\n', "engines.a",
     ["exactly one of 'entry' or 'command'", "both"]),
    ("neither entry nor command", "[engines.a]\nnice = 1\n", "engines.a",
     ["exactly one of 'entry' or 'command'", "neither"]),
    ("empty command", "[engines.a]\ncommand = []\n", "engines.a.command", ["empty: []"]),
    ("command item type", '[engines.a]\ncommand = ["/bin/x", 3]\n', "engines.a.command[1]",
     ["expected string, found integer: 3"]),
    ("jitter range", f"[engines.a]\n{ENTRY}backoff_jitter = 1.5\n", "engines.a.backoff_jitter",
     ["out of range: 1.5"]),
    ("zero timeout", f"[engines.a]\n{ENTRY}stop_timeout_ms = 0\n", "engines.a.stop_timeout_ms",
     ["out of range: 0"]),
    ("nan window", f"[engines.a]\n{ENTRY}restart_window_s = nan\n",
     "engines.a.restart_window_s", ["out of range: nan"]),
    ("fifo priority", f"[engines.a]\n{ENTRY}sched_fifo_priority = 100\n",
     "engines.a.sched_fifo_priority", ["out of range: 100", "1..99"]),
    ("environment value", f"[engines.a]\n{ENTRY}environment = {{TZ = 1}}\n",
     "engines.a.environment.TZ", ["expected string, found integer: 1"]),
    ("params not table", f"[engines.a]\n{ENTRY}params = [1]\n", "engines.a.params",
     ["expected table, found array: [1]"]),
    ("backoff order", f"[engines.a]\n{ENTRY}backoff_initial_ms = 500\nbackoff_max_ms = 100\n",
     "engines.a.backoff_max_ms", ["100 < 500"]),
    ("backoff initial past default max", f"[engines.a]\n{ENTRY}backoff_initial_ms = 6000\n",
     "engines.a.backoff_max_ms", ["5000 < 6000"]),
    ("bad engine name", f'[engines."risk desk"]\n{ENTRY}', 'engines."risk desk"',
     ["not a valid name: 'risk desk'"]),
    ("symbols duplicate", f'symbols = ["AAPL", "AAPL"]\n[engines.a]\n{ENTRY}', "symbols[1]",
     ["duplicate value: 'AAPL'"]),
    ("engines not a table", "engines = 3\n", "engines", ["expected table, found integer: 3"]),
    ("unknown group", f'[engines.a]\n{ENTRY}group = "trading"\n', "engines.a.group",
     ["unknown group: 'trading'", "known: default"]),
    ("cpu host lacks", f"[engines.a]\n{ENTRY}cpus = [1, 9]\n", "engines.a.cpus[1]",
     ["cpu 9 does not exist on this host", "0, 1, 2, 3"]),
    ("supervisor cpu host lacks", f"[supervisor]\ncpus = [12]\n[engines.a]\n{ENTRY}",
     "supervisor.cpus[0]", ["cpu 12 does not exist"]),
    ("busy spinners share", f'[engines.a]\n{ENTRY}wait = "busy_spin"\ncpus = [1, 2]\n'
     f'[engines.b]\n{ENTRY}wait = "busy_spin"\ncpus = [2]\n', "engines.b.cpus",
     ["busy_spin engines 'a' and 'b' share cpus [2]"]),
    ("busy spinner on own cpus", f'[supervisor]\ncpus = [0]\n[engines.a]\n{ENTRY}'
     f'wait = "busy_spin"\ncpus = [0]\n', "engines.a.cpus", ["nautilusd itself", "[0]"]),
    ("busy spinner floating", f'[engines.a]\n{ENTRY}wait = "busy_spin"\n', "engines.a.cpus",
     ["needs dedicated cpus"]),
    ("busy spinner replicas", f'[engines.a]\n{ENTRY}wait = "busy_spin"\ncpus = [1]\n'
     "replicas = 2\n", "engines.a.cpus", ["replicas = 2"]),
    ("after unknown", f'[engines.a]\n{ENTRY}after = ["ghost"]\n', "engines.a.after[0]",
     ["unknown engine: 'ghost'"]),
    ("after itself", f'[engines.a]\n{ENTRY}after = ["a"]\n', "engines.a.after",
     ["dependency cycle: a -> a"]),
    ("cycle of three", f'[engines.a]\n{ENTRY}after = ["c"]\n[engines.b]\n{ENTRY}after = ["a"]\n'
     f'[engines.c]\n{ENTRY}after = ["b"]\n', "engines.a.after",
     ["dependency cycle: a -> c -> b -> a"]),
    ("duplicate instance", f"[engines.md]\n{ENTRY}replicas = 2\n[engines.md-0]\n{ENTRY}",
     "engines.md-0", ["duplicate instance name: 'md-0'"]),
    ("group named like engine", f"[groups.a]\n[engines.a]\n{ENTRY}", "groups.a",
     ["group 'a' is also an engine"]),
    ("reserved name", f"[engines.all]\n{ENTRY}", "engines.all", ["reserved name: 'all'"]),
]

RING_ENGINES = f"[engines.w]\n{ENTRY}[engines.r]\n{ENTRY}[engines.rep]\n{ENTRY}replicas = 2\n"


def _ring(**fields: str) -> str:
    base = {"record": '"tick"', "capacity": "1024", "policy": '"overwrite"',
            "writer": '"w"', "readers": '["r"]'}
    base.update(fields)
    body = "".join(f"{k} = {v}\n" for k, v in base.items() if v)
    return f"{RING_ENGINES}[rings.ticks]\n{body}"


BAD_CASES += [
    ("ring no writer", _ring(writer=""), "rings.ticks.writer", ["no writer", "'writer'"]),
    ("ring two writers", _ring(writer='["w", "r"]'), "rings.ticks.writer",
     ["exactly one writer, found 2: ['w', 'r']"]),
    ("ring writer not engine", _ring(writer='"nobody"'), "rings.ticks.writer",
     ["writer is not an engine: 'nobody'"]),
    ("ring reader not engine", _ring(readers='["r", "ghost"]'), "rings.ticks.readers[1]",
     ["reader is not an engine: 'ghost'"]),
    ("ring reader is writer", _ring(readers='["w"]'), "rings.ticks.readers[0]",
     ["writer cannot also read", "'w'"]),
    ("ring readers duplicate", _ring(readers='["r", "r"]'), "rings.ticks.readers[1]",
     ["duplicate value: 'r'"]),
    ("ring too many readers", _ring(readers=str([f"r{i}" for i in range(9)]).replace("'", '"')),
     "rings.ticks.readers", ["at most 8 readers, found 9"]),
    ("ring capacity", _ring(capacity="1000"), "rings.ticks.capacity",
     ["not a power of two: 1000"]),
    ("ring capacity zero", _ring(capacity="0"), "rings.ticks.capacity", ["out of range: 0"]),
    ("ring record", _ring(record='"quote"'), "rings.ticks.record",
     ["not a valid record type: 'quote'", "tick, order"]),
    ("ring policy", _ring(policy='"drop"'), "rings.ticks.policy",
     ["not a valid ring policy: 'drop' (expected one of: block, overwrite)"]),
    ("ring writer replicas", _ring(writer='"rep"'), "rings.ticks.writer", ["replicas = 2"]),
    ("ring reader replicas", _ring(readers='["rep"]'), "rings.ticks.readers[0]",
     ["'rep' has replicas = 2"]),
    ("ring latest not bool", _ring(latest='"yes"'), "rings.ticks.latest", ["'yes'"]),
    ("ring latest unkeyed record", _ring(record='"raw64"', latest="true"), "rings.ticks.latest",
     ["record 'raw64' has no 'symbol_id' field"]),
]


@pytest.mark.parametrize(("text", "key", "fragments"), [c[1:] for c in BAD_CASES],
                         ids=[c[0] for c in BAD_CASES])
def test_load_when_rule_broken_names_file_path_and_value(
    tmp_path: Path, text: str, key: str, fragments: list[str]
) -> None:
    """Each broken rule is refused with a message naming the file, key path and bad value."""
    _assert_error(_refused(tmp_path, text), key, *fragments)


def test_load_when_backoff_initial_alone_below_default_max_is_valid() -> None:
    """A backoff_initial_ms under the default backoff_max_ms needs no backoff_max_ms."""
    topo = loads_config(f"[engines.a]\n{ENTRY}backoff_initial_ms = 2\n", host_cpus=HOST)
    assert topo.engines["a"].backoff_initial_ms == 2


def test_load_spin_budget_of_blocking_engine_is_kept_and_defaults_to_none() -> None:
    topo = loads_config(f"[engines.a]\n{ENTRY}spin_us = 5000\n[engines.b]\n{ENTRY}",
                        host_cpus=HOST)
    assert topo.engines["a"].spin_us == 5000 and topo.engines["a"].wait is WaitKind.BLOCKING
    assert topo.engines["b"].spin_us is None


def test_load_spin_kind_defaults_to_yield_and_hot_is_kept() -> None:
    topo = loads_config(f'[engines.a]\n{ENTRY}spin = "hot"\n[engines.b]\n{ENTRY}',
                        host_cpus=HOST)
    assert topo.engines["a"].spin is SpinKind.HOT and topo.engines["b"].spin is SpinKind.YIELD


def test_ring_fixture_when_valid_loads(tmp_path: Path) -> None:
    """The ring template used above is itself valid, so each case tests one rule."""
    topo = loads_config(_ring(), host_cpus=HOST)
    assert topo.rings["ticks"].writer == "w" and topo.rings["ticks"].capacity == 1024
    assert topo.rings["ticks"].latest is False


def test_load_ring_latest_when_set_is_kept() -> None:
    assert loads_config(_ring(latest="true"), host_cpus=HOST).rings["ticks"].latest is True


def test_load_when_many_rules_broken_reports_all_one_per_line(tmp_path: Path) -> None:
    """Every error of a file is reported, not only the first; str() has one per line."""
    text = (f'[engines.a]\n{ENTRY}restart = "x"\ncpus = [99]\nafter = ["zz"]\n'
            f'[engines.b]\ncommand = "ls"\nbogus = 1\n')
    error = _refused(tmp_path, text)
    paths = {p for p, _ in error.errors}
    assert {"engines.a.restart", "engines.a.cpus[0]", "engines.a.after[0]",
            "engines.b.command", "engines.b.bogus"} <= paths
    assert str(error).splitlines() == [m for _, m in error.errors]
    assert isinstance(error, NautilusdError)


def test_load_when_toml_syntax_bad_reports_line_and_column(tmp_path: Path) -> None:
    """A TOML syntax error names the file, the line and the column."""
    error = _refused(tmp_path, f"[engines.a]\n{ENTRY}cpus = [0,\nnice = \n")
    assert len(error.errors) == 1
    message = error.errors[0][1]
    assert message.startswith(f"{tmp_path / 'topo.toml'}: line ")
    assert "column" in message and "invalid TOML" in message


def test_load_when_file_missing_names_the_file(tmp_path: Path) -> None:
    """A missing file is a ConfigError naming it, not an OSError."""
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read"):
        load_config(tmp_path / "nope.toml")


def test_load_when_not_utf8_names_the_byte(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are refused with their offset."""
    path = tmp_path / "topo.toml"
    path.write_bytes(b'a = "\xff"\n')
    with pytest.raises(ConfigError, match=r"not UTF-8 text: byte 5"):
        load_config(path)


def test_load_when_host_lacks_cpu_uses_real_cpu_count_by_default(tmp_path: Path) -> None:
    """Without host_cpus the host's own cores decide; core 4096 exists nowhere."""
    path = tmp_path / "topo.toml"
    path.write_text(f"[engines.a]\n{ENTRY}cpus = [0, 4096]\n")
    with pytest.raises(ConfigError, match=r"engines\.a\.cpus\[1\]: cpu 4096 does not exist"):
        load_config(path)


def test_start_order_when_after_given_is_topological_with_file_order_ties() -> None:
    """Dependencies first; among free engines the file order decides."""
    text = (f'[engines.exec]\n{ENTRY}after = ["risk"]\n[engines.md]\n{ENTRY}'
            f'[engines.risk]\n{ENTRY}after = ["md"]\n[engines.pos]\n{ENTRY}')
    assert start_order(loads_config(text, host_cpus=HOST)) == ["md", "risk", "exec", "pos"]


def test_start_order_when_no_after_keeps_file_order() -> None:
    """With no dependencies the start order is the file order."""
    topo = load_config(CONFIGS / "pipeline.toml", host_cpus=HOST)
    assert start_order(topo) == ["producer", "consumer", "sidecar"]
    assert start_order(topo.engines) == ["producer", "consumer", "sidecar"]


def test_config_error_when_pickled_keeps_every_error(tmp_path: Path) -> None:
    """A ConfigError crosses a process boundary (pickle) with its list of errors intact."""
    import pickle

    error = _refused(tmp_path, f'[engines.a]\n{ENTRY}restart = "x"\nwait = "y"\n')
    copy = pickle.loads(pickle.dumps(error))
    assert copy.errors == error.errors and str(copy) == str(error)


def test_load_when_toml_table_duplicated_reports_it_with_its_line(tmp_path: Path) -> None:
    """Two engines of one name are a TOML error, reported with the line and column."""
    error = _refused(tmp_path, f"[engines.a]\n{ENTRY}[engines.a]\n{ENTRY}")
    assert error.errors[0][0] == "line 3, column 11"
    assert "invalid TOML" in error.errors[0][1]


def test_load_when_key_holds_a_newline_keeps_each_error_on_one_line(tmp_path: Path) -> None:
    """Unprintable characters in keys are escaped, so one error is always one line."""
    error = _refused(tmp_path, f'[engines.a]\n{ENTRY}"bad\\nkey" = 1\n"x\\u2028" = 2\n')
    assert len(str(error).splitlines()) == len(error.errors) == 2
    _assert_error(error, 'engines.a."bad\\nkey"', "unknown key: 'bad\\nkey'")


@pytest.mark.parametrize(("line", "named"), [
    ('control_endpoint = "tcp://127.0.0.1:5555"', "only ipc:// is allowed"),
    ('metrics_address = "127.0.0.1:99999"', "PORT 0..65535"),
    ("status_slots = 4611686018427387904", "out of range"),
])
def test_load_when_supervisor_value_run_cannot_honour_refuses_naming_it(line, named):
    """check refuses what run would crash on or leave unauthenticated."""
    with pytest.raises(ConfigError, match=named):
        loads_config(f"[supervisor]\n{line}\n[engines.a]\n{ENTRY}", host_cpus=HOST)


def test_load_when_ring_capacity_or_replicas_huge_refuses():
    """2**62 ring records or replicas are refused by range, quickly."""
    text = (f"[engines.a]\n{ENTRY}\nreplicas = 4611686018427387904\n"
            '[rings.r]\nrecord = "raw64"\ncapacity = 4611686018427387904\n'
            'policy = "block"\nwriter = "a"\nblock_timeout_ms = 9223372036854775807\n')
    with pytest.raises(ConfigError) as err:
        loads_config(text, host_cpus=HOST)
    assert str(err.value).count("out of range") == 3
