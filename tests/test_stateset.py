"""StateSet families: one series per state, 1 for the current one and 0 for the others,
labelled with the family's own name, compared with ``prometheus_client``'s ``Enum``."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

import prometheus_client
import pytest
from prometheus_client.openmetrics import exposition as pc_openmetrics
from prometheus_client.openmetrics import parser as om_parser
from prometheus_client.parser import text_string_to_metric_families

from counting_storage import CountingStorage
from metrics_proto import decode_families
from promtool import check_metrics
from tachikoma_metrics import MetricsRegistry, RegistrationError, _global
from tachikoma_metrics.instruments.stateset import StateSet, StateSetChild
from tachikoma_metrics.model import MetricFamily, MetricType
from tachikoma_metrics.registry import instrument
from thread_helpers import run_together

MISSION = ("queued", "running", "done")


def _stateset(registry: MetricsRegistry, *args: Any, **kwargs: Any) -> StateSet:
    return registry.get_or_create(StateSet, *args, **kwargs)


def _mission(registry: MetricsRegistry) -> StateSet:
    return _stateset(registry, "tachikoma_mission_state", "Mission state", states=MISSION)


def _series(family: MetricFamily) -> list[tuple[tuple[str, ...], float]]:
    return [(labels.label_values, value) for labels, value in family.samples]


# -- the issue's example and the snapshot shape ---------------------------------------------


def test_mission_state_from_the_issue(registry: MetricsRegistry) -> None:
    """``stateset(..., states=("queued", "running", "done"))`` starts in the first state
    (as ``prometheus_client.Enum``); ``.state("running")`` makes that series 1 and the
    others 0, in the declared order of states; the label is named after the metric."""
    mission = _mission(registry)
    assert mission.name == "tachikoma_mission_state"
    assert mission.metric_type is MetricType.STATESET
    assert mission.states == MISSION
    assert mission.get() == "queued"
    (family,) = registry.collect()
    assert (family.type, family.help, family.labelnames) == (
        MetricType.STATESET,
        "Mission state",
        ("tachikoma_mission_state",),
    )
    assert _series(family) == [(("queued",), 1.0), (("running",), 0.0), (("done",), 0.0)]
    mission.state("running")
    assert mission.get() == "running"
    assert _series(registry.collect()[0]) == [
        (("queued",), 0.0),
        (("running",), 1.0),
        (("done",), 0.0),
    ]
    mission.state("done")
    mission.state("done")
    assert _series(registry.collect()[0]) == [
        (("queued",), 0.0),
        (("running",), 0.0),
        (("done",), 1.0),
    ]


def test_states_are_exposed_in_declared_order_not_sorted(registry: MetricsRegistry) -> None:
    """The states keep the order given (the first is the initial state), whatever their
    alphabetical order."""
    light = _stateset(registry, "light", "Light.", states=["red", "green", "amber"])
    light.state("amber")
    assert _series(registry.collect()[0]) == [
        (("red",), 0.0),
        (("green",), 0.0),
        (("amber",), 1.0),
    ]


def test_labelled_family_and_children(registry: MetricsRegistry) -> None:
    """Each child has its own state; the state label follows the declared labels; the
    family itself is not a series (``state()``/``get()`` say to call ``labels()``)."""
    jobs = _stateset(registry, "job_state", "Job.", ("queue", "job"), states=("idle", "busy"))
    child = jobs.labels("q1", "j2")
    assert isinstance(child, StateSetChild)
    child.state("busy")
    jobs.labels(queue="q1", job="j1")
    assert jobs.labels("q1", "j2").get() == "busy"
    assert jobs.labels("q1", "j1").get() == "idle"
    with pytest.raises(ValueError, match=r"call \.labels\(\.\.\.\) before \.state\(\)"):
        jobs.state("busy")
    with pytest.raises(ValueError, match=r"before \.get\(\)"):
        jobs.get()
    (family,) = registry.collect()
    assert family.labelnames == ("queue", "job", "job_state")
    assert _series(family) == [
        (("q1", "j1", "idle"), 1.0),
        (("q1", "j1", "busy"), 0.0),
        (("q1", "j2", "idle"), 0.0),
        (("q1", "j2", "busy"), 1.0),
    ]


def test_per_state_labels_are_built_once_per_child(registry: MetricsRegistry) -> None:
    """The per-state label sets are made once per child, not per scrape: two snapshots,
    with a state change between them, expose the very same label objects."""
    jobs = _stateset(registry, "job_state", "Job.", ("job",), states=("idle", "busy"))
    jobs.labels("j1")
    plain = _mission(registry)
    first = [labels for family in registry.collect() for labels, _ in family.samples]
    jobs.labels("j1").state("busy")
    plain.state("done")
    again = [labels for family in registry.collect() for labels, _ in family.samples]
    assert len(first) == len(again) == 5
    assert all(a is b for a, b in zip(first, again, strict=True))


# -- definitions, get-or-create and conflicts -------------------------------------------------


def test_states_are_keyword_only_and_required() -> None:
    """``states`` is keyword-only (a fourth positional argument is a ``TypeError``) and
    has no default."""
    with pytest.raises(TypeError):
        StateSet("s", "S.", (), ("a", "b"))  # type: ignore[misc]
    with pytest.raises(TypeError, match="states"):
        StateSet("s", "S.")  # type: ignore[call-arg]


def test_get_or_create_compares_the_states(registry: MetricsRegistry) -> None:
    """Same states (any sequence type): the same instrument. Other states, or the same in
    another order: ``RegistrationError`` naming both; the first family is kept."""
    mission = _mission(registry)
    assert _stateset(registry, "tachikoma_mission_state", "Other.", states=list(MISSION)) is (
        mission
    )
    with pytest.raises(RegistrationError, match=r"states \('queued', 'running', 'done'\)"):
        _stateset(registry, "tachikoma_mission_state", "M.", states=("queued", "done"))
    with pytest.raises(RegistrationError, match=r"states"):
        _stateset(registry, "tachikoma_mission_state", "M.", states=("running", "queued", "done"))
    with pytest.raises(RegistrationError, match=r"labelnames"):
        _stateset(registry, "tachikoma_mission_state", "M.", ("x",), states=MISSION)
    assert registry.get("tachikoma_mission_state") is mission


def test_names_clash_with_other_types(registry: MetricsRegistry) -> None:
    """A stateset owns its name, in both orders of registration."""
    _mission(registry)
    with pytest.raises(RegistrationError, match="tachikoma_mission_state"):
        registry.gauge("tachikoma_mission_state", "Gauge.")
    registry.gauge("depth", "Depth.")
    with pytest.raises(RegistrationError, match="'depth'"):
        _stateset(registry, "depth", "D.", states=("a",))


def test_registry_method_made_from_the_class() -> None:
    """``stateset = instrument(StateSet)`` (the integrator's registry line) gives a
    get-or-create method with ``StateSet``'s arguments minus ``registry=``, ``states``
    keyword-only."""

    class Registry(MetricsRegistry):
        stateset = instrument(StateSet)

    registry = Registry()
    mission = registry.stateset("tachikoma_mission_state", "Mission state", states=MISSION)
    mission.state("running")
    assert registry.stateset("tachikoma_mission_state", "M.", states=MISSION) is mission
    parameters = inspect.signature(registry.stateset).parameters
    assert list(parameters) == ["name", "help", "labelnames", "states", "unit"]
    assert parameters["states"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["states"].default is inspect.Parameter.empty


def test_describe_gives_the_names_the_registry_checks() -> None:
    """``describe()``: the family name, type stateset, the declared label names followed
    by the family name (as the snapshot has them)."""
    jobs = StateSet("job_state", "Job.", ("job",), states=("idle", "busy"))
    (described,) = jobs.describe()
    assert (described.name, described.type, described.labelnames) == (
        "job_state",
        MetricType.STATESET,
        ("job", "job_state"),
    )
    registry = MetricsRegistry()
    registry.register(jobs)
    assert registry.get("job_state") is jobs


@pytest.mark.parametrize("unit", ["seconds", "bytes"])
def test_a_unit_is_refused(registry: MetricsRegistry, unit: str) -> None:
    """OpenMetrics statesets have no unit (its parsers reject one): ``ValueError``."""
    with pytest.raises(ValueError, match=f"{unit!r}"):
        _stateset(registry, f"s_{unit}", "S.", states=("a",), unit=unit)
    assert registry.collect() == []


def test_remove_and_clear(registry: MetricsRegistry) -> None:
    """``remove`` drops a child's every state series, ``clear`` every child; a child taken
    again starts in the first state."""
    jobs = _stateset(registry, "job_state", "Job.", ("job",), states=("idle", "busy"))
    jobs.labels("j1").state("busy")
    jobs.labels("j2").state("busy")
    jobs.remove("j1")
    assert _series(registry.collect()[0]) == [(("j2", "idle"), 0.0), (("j2", "busy"), 1.0)]
    jobs.clear()
    assert registry.collect()[0].samples == []
    assert jobs.labels("j1").get() == "idle"


# -- bad input: a clear error, nothing recorded changes ----------------------------------------


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        ("paused", ValueError, r"unknown state 'paused'.*'queued', 'running', 'done'"),
        ("", ValueError, "unknown state ''"),
        ("Running", ValueError, "'Running'"),
        (1, TypeError, "got 1"),
        (None, TypeError, "got None"),
        (b"running", TypeError, "got b'running'"),
        (["running"], TypeError, r"got \['running'\]"),
    ],
)
def test_bad_state_is_refused_and_changes_nothing(
    registry: MetricsRegistry, bad: Any, error: type[Exception], match: str
) -> None:
    """An unknown state is a ``ValueError``, a non-str a ``TypeError``, each naming the
    value (and the states); the series keeps its state, labelled or not."""
    mission = _mission(registry)
    mission.state("running")
    child = _stateset(registry, "job_state", "Job.", ("job",), states=MISSION).labels("j")
    child.state("done")
    before = registry.export_openmetrics()
    for series in (mission, child):
        with pytest.raises(error, match=match):
            series.state(bad)
    assert (mission.get(), child.get()) == ("running", "done")
    assert registry.export_openmetrics() == before


@pytest.mark.parametrize(
    ("states", "error", "match"),
    [
        ((), ValueError, "must not be empty"),
        ([], ValueError, "must not be empty"),
        (("a", "b", "a"), ValueError, "duplicate state 'a'"),
        (("a", 1), TypeError, "got 1"),
        (("a", None), TypeError, "got None"),
        ("abc", TypeError, "'abc'"),
        (b"ab", TypeError, "b'ab'"),
        ({"a", "b"}, TypeError, "ordered"),
        ({"a": 1}, TypeError, "ordered"),
        (None, TypeError, "None"),
        (3, TypeError, "3"),
        (("a", ""), ValueError, "empty strings"),
        (("a", "\udcff"), ValueError, "not valid UTF-8"),
    ],
)
def test_bad_states_are_refused(
    registry: MetricsRegistry, states: Any, error: type[Exception], match: str
) -> None:
    """States empty, repeated, not strings, not an ordered collection, empty or not UTF-8:
    ``TypeError``/``ValueError`` naming them; nothing is registered."""
    with pytest.raises(error, match=match):
        _stateset(registry, "s", "S.", states=states)
    with pytest.raises(error, match=match):
        StateSet("s", "S.", states=states)
    assert registry.collect() == []


@pytest.mark.parametrize(
    ("name", "labelnames", "match"),
    [
        ("a:b", (), r"invalid stateset name 'a:b'.*label"),
        ("__state", (), r"'__state'.*reserved"),
        ("job_state", ("job_state",), r"cannot declare a label named 'job_state'"),
        ("job_state", ("job", "job_state"), r"cannot declare a label named 'job_state'"),
        ("bad-name", (), r"invalid metric name 'bad-name'"),
    ],
)
def test_a_name_that_cannot_be_its_state_label_is_refused(
    registry: MetricsRegistry, name: str, labelnames: tuple[str, ...], match: str
) -> None:
    """The family's name is also its state label: a valid metric name that is not a valid
    label name (``a:b``, ``__x``), or a declared label of the same name, is a
    ``ValueError`` naming it; nothing is registered."""
    with pytest.raises(ValueError, match=match):
        _stateset(registry, name, "S.", labelnames, states=("a",))
    assert registry.collect() == []
    assert registry.get(name) is None


def test_utf8_registry_takes_utf8_names_and_refuses_labels_written_alike() -> None:
    """A ``utf8_names`` registry accepts ``a:b`` or ``mission.state`` (any UTF-8 label
    name) as a stateset's name; a declared label that an escaping scheme writes like the
    name is refused."""
    registry = MetricsRegistry(utf8_names=True)
    mission = _stateset(registry, "mission.state", "M.", ("host",), states=MISSION)
    mission.labels("h").state("done")
    (family,) = registry.collect()
    assert family.labelnames == ("host", "mission.state")
    assert _stateset(registry, "a:b", "A.", states=("x",)).get() == "x"
    with pytest.raises(ValueError, match=r"'mission_state' and 'mission\.state'"):
        _stateset(registry, "mission.state", "M.", ("mission_state",), states=MISSION)
    with pytest.raises(ValueError, match=r"'__state'"):
        _stateset(registry, "__state", "M.", states=MISSION)


# -- the paused facade -------------------------------------------------------------------------


@pytest.mark.usefixtures("fresh_facade")
def test_paused_facade_stateset_validates_drops_then_records() -> None:
    """A facade stateset before ``init()`` validates each ``state()`` and records nothing;
    handles taken before ``init()`` record after it."""
    facade_stateset = _global.facade(StateSet)
    mission = facade_stateset("tachikoma_mission_state", "Mission state", states=MISSION)
    jobs = facade_stateset("job_state", "Job.", ("job",), states=("idle", "busy"))
    child = jobs.labels("j1")
    mission.state("running")
    child.state("busy")
    assert (mission.get(), child.get()) == ("queued", "idle")
    with pytest.raises(ValueError, match="unknown state 'paused'"):
        mission.state("paused")
    with pytest.raises(TypeError, match="got 2"):
        child.state(2)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"before \.state\(\)"):
        jobs.state("busy")
    assert _global.export_openmetrics() == ""
    registry = _global.init()
    mission.state("running")
    child.state("busy")
    assert (mission.get(), child.get()) == ("running", "busy")
    assert facade_stateset("tachikoma_mission_state", "M.", states=MISSION) is mission
    with pytest.raises(RegistrationError, match="states"):
        facade_stateset("tachikoma_mission_state", "M.", states=("a",))
    by_name = {f.name: f for f in registry.collect()}
    assert _series(by_name["job_state"]) == [(("j1", "idle"), 0.0), (("j1", "busy"), 1.0)]


# -- threads: a reader sees one state() or the next, never a mix -------------------------------


@pytest.mark.usefixtures("frequent_thread_switches")
def test_every_snapshot_has_exactly_one_current_state(registry: MetricsRegistry) -> None:
    """4 threads switch one unlabelled family and one child between states while 2 threads
    take snapshots and exports: each series always has exactly one state at 1, and
    ``get()`` is always one of the states; the last ``state()`` wins."""
    states = ("a", "b", "c", "d", "e")
    plain = _stateset(registry, "plain", "Plain.", states=states)
    child = _stateset(registry, "per_job", "Job.", ("job",), states=states).labels("j")
    stop = threading.Event()
    seen: set[str] = set()

    def writer(offset: int) -> Callable[[], None]:
        def work() -> None:
            for i in range(3_000):
                state = states[(offset + i) % len(states)]
                plain.state(state)
                child.state(state)

        return work

    def reader() -> None:
        while not stop.is_set():
            for series in (plain, child):
                got = series.get()
                assert got in states
                seen.add(got)
            for family in registry.collect():
                values = [value for _, value in family.samples]
                assert len(values) == len(states)
                assert sorted(values) == [0.0, 0.0, 0.0, 0.0, 1.0], values
            body = registry.export_openmetrics()
            assert body.count(" 1.0\n") == 2, body

    def writers_then_stop() -> None:
        try:
            run_together([writer(0), writer(1), writer(2), writer(3)])
        finally:
            stop.set()

    run_together([writers_then_stop, reader, reader])
    assert len(seen) > 1
    plain.state("c")
    child.state("e")
    assert (plain.get(), child.get()) == ("c", "e")


# -- the storage seam ----------------------------------------------------------------------------


def test_a_registry_storage_routes_every_state_write() -> None:
    """On a ``CountingStorage`` registry every ``state()`` goes through the storage's cell
    (refused ones included: they raise inside it); values are the same."""
    storage = CountingStorage()
    registry = MetricsRegistry(storage=storage)
    mission = _mission(registry)
    jobs = _stateset(registry, "job_state", "Job.", ("job",), states=("idle", "busy"))
    mission.state("running")
    jobs.labels("j").state("busy")
    with pytest.raises(ValueError):
        mission.state("nope")
    assert storage.writes["StateSetCell.state"] == 3
    assert (mission.get(), jobs.labels("j").get()) == ("running", "busy")


# -- exports, validators and prometheus_client side by side ---------------------------------


def _record(registry: MetricsRegistry) -> None:
    _mission(registry).state("running")
    jobs = _stateset(registry, "job_state", "Job.", ("job",), states=("idle", "busy", "dead"))
    jobs.labels("j1").state("busy")
    jobs.labels("j2")
    _stateset(registry, "quoted", 'Help "q" \\ x\ny.', states=('a "b"', "c\\d", "e\nf"))


def _record_prometheus_client(registry: prometheus_client.CollectorRegistry) -> None:
    prometheus_client.Enum(
        "tachikoma_mission_state", "Mission state", states=list(MISSION), registry=registry
    ).state("running")
    jobs = prometheus_client.Enum(
        "job_state", "Job.", ["job"], states=["idle", "busy", "dead"], registry=registry
    )
    jobs.labels("j1").state("busy")
    jobs.labels("j2")
    prometheus_client.Enum(
        "quoted", 'Help "q" \\ x\ny.', states=['a "b"', "c\\d", "e\nf"], registry=registry
    )


def _parsed(families: Any) -> list[tuple[str, str, str, list[Any]]]:
    # Samples in written order: a stateset's states keep their declared order.
    return sorted(
        (
            f.name,
            f.type,
            f.documentation,
            [(s.name, sorted(s.labels.items()), s.value) for s in f.samples],
        )
        for f in families
    )


def test_text_export_is_a_gauge_as_prometheus_client_writes_it() -> None:
    """Text 0.0.4: a gauge with one line per state, as ``prometheus_client``'s ``Enum``
    (same parsed families, in the same order); promtool accepts the body."""
    registry = MetricsRegistry()
    _record(registry)
    body = registry.export_prometheus()
    lines = body.splitlines()
    assert "# TYPE tachikoma_mission_state gauge" in lines
    at = lines.index('tachikoma_mission_state{tachikoma_mission_state="queued"} 0')
    assert lines[at + 1 : at + 3] == [
        'tachikoma_mission_state{tachikoma_mission_state="running"} 1',
        'tachikoma_mission_state{tachikoma_mission_state="done"} 0',
    ]
    theirs = prometheus_client.CollectorRegistry()
    _record_prometheus_client(theirs)
    reference = prometheus_client.generate_latest(theirs).decode()
    assert _parsed(text_string_to_metric_families(body)) == _parsed(
        text_string_to_metric_families(reference)
    )
    result = check_metrics(body.encode())
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


def test_openmetrics_export_matches_prometheus_client() -> None:
    """OpenMetrics: type ``stateset``, no ``_created``; the strict parser reads it back as
    ``prometheus_client``'s own exposition of the same calls."""
    registry = MetricsRegistry()
    _record(registry)
    body = registry.export_openmetrics()
    lines = body.splitlines()
    assert "# TYPE tachikoma_mission_state stateset" in lines
    assert 'job_state{job="j1",job_state="busy"} 1.0' in lines
    assert "_created" not in body
    theirs = prometheus_client.CollectorRegistry()
    _record_prometheus_client(theirs)
    reference = pc_openmetrics.generate_latest(theirs).decode()
    ours = _parsed(om_parser.text_string_to_metric_families(body))
    assert ours == _parsed(om_parser.text_string_to_metric_families(reference))
    assert {(name, kind) for name, kind, _, _ in ours} == {
        ("job_state", "stateset"),
        ("quoted", "stateset"),
        ("tachikoma_mission_state", "stateset"),
    }


def test_protobuf_export_is_a_gauge_with_one_metric_per_state() -> None:
    """Protobuf (no stateset type there): a gauge family with one metric per state, in
    declared order, the state label named after the family; the official parser reads it."""
    registry = MetricsRegistry()
    _record(registry)
    families = {f.name: f for f in decode_families(registry.export_protobuf())}
    mission = families["tachikoma_mission_state"]
    assert mission.type == 1  # GAUGE
    assert mission.help == "Mission state"
    assert [([(p.name, p.value) for p in m.label], m.gauge.value) for m in mission.metric] == [
        ([("tachikoma_mission_state", "queued")], 0.0),
        ([("tachikoma_mission_state", "running")], 1.0),
        ([("tachikoma_mission_state", "done")], 0.0),
    ]
    jobs = families["job_state"]
    assert [([p.value for p in m.label], m.gauge.value) for m in jobs.metric] == [
        (["j1", "idle"], 0.0),
        (["j1", "busy"], 1.0),
        (["j1", "dead"], 0.0),
        (["j2", "idle"], 1.0),
        (["j2", "busy"], 0.0),
        (["j2", "dead"], 0.0),
    ]
