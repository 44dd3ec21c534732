"""Info families: key-value pairs exposed as ``<name>_info{...} 1``, checked where they
enter, compared with what ``prometheus_client``'s ``Info`` exposes for the same calls."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import prometheus_client
import pytest
from prometheus_client.openmetrics import exposition as pc_openmetrics
from prometheus_client.openmetrics import parser as om_parser
from prometheus_client.parser import text_string_to_metric_families

from counting_storage import CountingStorage
from metrics_proto import decode_families
from promtool import check_metrics
from tachikoma_metrics import Gauge, MetricsRegistry, RegistrationError, _global
from tachikoma_metrics.instruments.info import Info, InfoChild
from tachikoma_metrics.model import MetricFamily, MetricType
from tachikoma_metrics.registry import instrument
from thread_helpers import run_together

BUILD = {"version": "1.2.3", "commit": "abc"}


def _info(registry: MetricsRegistry, *args: Any, **kwargs: Any) -> Info:
    return registry.get_or_create(Info, *args, **kwargs)


def _series(family: MetricFamily) -> list[tuple[dict[str, str], float]]:
    """A snapshot's series as (label name -> value, sample value)."""
    return [
        (dict(zip(family.labelnames, labels.label_values, strict=True)), value)
        for labels, value in family.samples
    ]


# -- the issue's example and the snapshot shape ---------------------------------------------


def test_build_info_from_the_issue(registry: MetricsRegistry) -> None:
    """``info("tachikoma_build")`` then ``.info({...})``: the family is called
    ``tachikoma_build`` (type info), ``get()`` returns the pairs, the snapshot holds one
    series of value 1 labelled with them, keys sorted."""
    build = _info(registry, "tachikoma_build", "Build information")
    assert build.name == "tachikoma_build"
    assert build.metric_type is MetricType.INFO
    build.info(BUILD)
    assert build.get() == BUILD
    (family,) = registry.collect()
    assert (family.name, family.type, family.help) == (
        "tachikoma_build",
        MetricType.INFO,
        "Build information",
    )
    assert family.labelnames == ("commit", "version")
    assert _series(family) == [({"commit": "abc", "version": "1.2.3"}, 1.0)]


def test_before_any_info_call_one_sample_with_no_labels(registry: MetricsRegistry) -> None:
    """Before ``info()``, as ``prometheus_client``: an empty info and one sample of value 1
    (unlabelled family), one per child taken (labelled family)."""
    plain = _info(registry, "plain", "Plain.")
    labelled = _info(registry, "per_host", "Per host.", ("host",))
    labelled.labels("h1")
    assert plain.get() == {}
    assert labelled.labels("h1").get() == {}
    by_name = {f.name: f for f in registry.collect()}
    assert by_name["plain"].labelnames == ()
    assert _series(by_name["plain"]) == [({}, 1.0)]
    assert by_name["per_host"].labelnames == ("host",)
    assert _series(by_name["per_host"]) == [({"host": "h1"}, 1.0)]


@pytest.mark.parametrize("given", ["tachikoma_build", "tachikoma_build_info"])
def test_info_suffix_is_added_once(registry: MetricsRegistry, given: str) -> None:
    """With or without ``_info``, the family is ``tachikoma_build`` and its sample
    ``tachikoma_build_info``: the suffix is never doubled (``prometheus_client`` writes
    ``x_info_info`` for ``Info("x_info")``), and both spellings are one instrument."""
    build = _info(registry, given, "Build information")
    assert build.name == "tachikoma_build"
    assert _info(registry, "tachikoma_build", "Build information") is build
    assert _info(registry, "tachikoma_build_info", "Build information") is build
    assert registry.get("tachikoma_build_info") is build
    assert registry.get("tachikoma_build") is build
    assert registry.get("tachikoma_build_info_info") is None
    registry.gauge("other", "Other.")
    for wanted in ("tachikoma_build_info", "tachikoma_build"):  # as ?name[]= asks
        assert [f.name for f in registry.collect([wanted])] == ["tachikoma_build"]


def test_name_that_is_only_the_suffix_is_refused(registry: MetricsRegistry) -> None:
    """``_info`` leaves no family name: ``ValueError`` naming it, nothing registered."""
    with pytest.raises(ValueError, match="'_info'"):
        _info(registry, "_info", "Nothing.")
    assert registry.collect() == []


def test_labelled_family_and_children(registry: MetricsRegistry) -> None:
    """``i.labels("host").info({...})`` sets that child only; the family itself is not a
    series: its ``info()`` and ``get()`` say to call ``labels()``."""
    info = _info(registry, "node", "Node.", ("host",))
    child = info.labels("h1")
    assert isinstance(child, InfoChild)
    child.info({"kernel": "6.1"})
    info.labels(host="h2").info({"kernel": "6.6"})
    assert info.labels("h1").get() == {"kernel": "6.1"}
    assert info.labels("h2").get() == {"kernel": "6.6"}
    with pytest.raises(ValueError, match=r"call \.labels\(\.\.\.\) before \.info\(\)"):
        info.info({"kernel": "x"})
    with pytest.raises(ValueError, match=r"before \.get\(\)"):
        info.get()
    (family,) = registry.collect()
    assert family.labelnames == ("host", "kernel")
    assert _series(family) == [
        ({"host": "h1", "kernel": "6.1"}, 1.0),
        ({"host": "h2", "kernel": "6.6"}, 1.0),
    ]


def test_snapshot_labelnames_are_the_sorted_union_of_the_keys(registry: MetricsRegistry) -> None:
    """Declared label names first, then every info key of any series, sorted; a series
    without a key has ``""`` there (Prometheus reads an empty label as no label)."""
    info = _info(registry, "node", "Node.", ("zone", "host"))
    info.labels("z1", "h1").info({"os": "linux", "arch": "x86"})
    info.labels("z1", "h2").info({"kernel": "6.1"})
    info.labels("z0", "h3")
    (family,) = registry.collect()
    assert family.labelnames == ("zone", "host", "arch", "kernel", "os")
    # Series in the family's order: by label values, label names sorted (host, zone).
    assert [labels.label_values for labels, _ in family.samples] == [
        ("z1", "h1", "x86", "", "linux"),
        ("z1", "h2", "", "6.1", ""),
        ("z0", "h3", "", "", ""),
    ]
    assert [value for _, value in family.samples] == [1.0, 1.0, 1.0]


def test_info_replaces_the_previous_pairs(registry: MetricsRegistry) -> None:
    """Each ``info()`` replaces the whole info (no merge), as ``prometheus_client``'s; an
    empty mapping is an empty info again."""
    build = _info(registry, "build", "Build.")
    build.info({"version": "1", "commit": "a"})
    build.info({"branch": "main"})
    assert build.get() == {"branch": "main"}
    (family,) = registry.collect()
    assert _series(family) == [({"branch": "main"}, 1.0)]
    build.info({})
    assert build.get() == {}
    (family,) = registry.collect()
    assert family.labelnames == ()
    assert _series(family) == [({}, 1.0)]


def test_the_callers_mapping_is_copied_and_get_returns_a_copy(registry: MetricsRegistry) -> None:
    """Changing the dict passed to ``info()``, or the one ``get()`` returned, changes
    nothing recorded."""
    build = _info(registry, "build", "Build.")
    given = dict(BUILD)
    build.info(given)
    given["version"] = "9.9.9"
    given["extra"] = "x"
    got = build.get()
    got["version"] = "0"
    assert build.get() == BUILD


def test_any_mapping_and_str_subclasses_are_accepted(registry: MetricsRegistry) -> None:
    """Any ``Mapping`` is accepted; ``str`` subclass keys and values are stored as plain
    ``str``; values may be empty or any UTF-8 text."""

    class Text(str):
        pass

    class Pairs(Mapping[str, str]):
        def __init__(self, data: dict[str, str]) -> None:
            self._data = data

        def __getitem__(self, key: str) -> str:
            return self._data[key]

        def __iter__(self) -> Iterator[str]:
            return iter(self._data)

        def __len__(self) -> int:
            return len(self._data)

    build = _info(registry, "build", "Build.")
    build.info(Pairs({Text("owner"): Text("équipe ☃"), "empty": ""}))
    got = build.get()
    assert got == {"empty": "", "owner": "équipe ☃"}
    assert all(type(k) is str and type(v) is str for k, v in got.items())
    build.info({Text("owner"): "x"})  # a known key, given as a subclass this time
    assert [type(k) for k in build.get()] == [str]


def test_snapshot_labels_are_built_once_while_nothing_changes(registry: MetricsRegistry) -> None:
    """An unchanged series is exposed with the same label object scrape after scrape (the
    encoders' rendered-labels memo lives on it); a new ``info()`` gives new labels."""
    info = _info(registry, "node", "Node.", ("host",))
    info.labels("h1").info({"os": "linux"})
    info.labels("h2").info({"os": "bsd"})
    first = [labels for labels, _ in registry.collect()[0].samples]
    again = [labels for labels, _ in registry.collect()[0].samples]
    assert [a is b for a, b in zip(first, again, strict=True)] == [True, True]
    info.labels("h2").info({"os": "plan9"})
    third = [labels for labels, _ in registry.collect()[0].samples]
    assert third[0] is first[0]
    assert third[1] is not first[1]
    assert third[1].label_values == ("h2", "plan9")


# -- definitions, get-or-create and conflicts -------------------------------------------------


def test_get_or_create_returns_the_same_family(registry: MetricsRegistry) -> None:
    """The same definition gives the same instrument (help text is not compared)."""
    node = _info(registry, "node", "Node.", ("host",))
    assert _info(registry, "node", "Other help.", labelnames=["host"]) is node
    assert registry.get_or_create(Info, "node_info", "Node.", ("host",)) is node


def test_get_or_create_with_other_label_names_conflicts(registry: MetricsRegistry) -> None:
    """Other label names: ``RegistrationError`` naming both; the first family is kept."""
    node = _info(registry, "node", "Node.", ("host",))
    with pytest.raises(RegistrationError, match=r"labelnames \('host',\).*\('zone',\)"):
        _info(registry, "node", "Node.", ("zone",))
    assert registry.get("node") is node


def test_names_clash_with_other_types(registry: MetricsRegistry) -> None:
    """An info family ``x`` owns ``x`` and ``x_info``: a gauge of either name clashes with
    it, and it clashes with either gauge, in both orders; a counter or gauge family called
    ``x`` where an info's ``x`` exists is a conflict too."""
    _info(registry, "build", "Build.")
    with pytest.raises(RegistrationError, match="build_info"):
        registry.gauge("build_info", "Gauge.")
    with pytest.raises(RegistrationError, match="'build'"):
        registry.gauge("build", "Gauge.")
    other = MetricsRegistry()
    other.gauge("app_info", "Gauge.")
    with pytest.raises(RegistrationError, match="app_info"):
        _info(other, "app", "App.")
    assert isinstance(other.get("app_info"), Gauge)


def test_describe_gives_the_names_the_registry_checks() -> None:
    """``describe()``: the family name without ``_info``, type info, declared label names;
    the registry derives ``x`` and ``x_info`` from it."""
    info = Info("build_info", "Build.", ("host",))
    (described,) = info.describe()
    assert (described.name, described.type, described.labelnames) == (
        "build",
        MetricType.INFO,
        ("host",),
    )
    assert described.samples == ()
    registry = MetricsRegistry()
    registry.register(info)
    assert registry.get("build_info") is info
    with pytest.raises(RegistrationError):
        registry.register(Info("build", "Again."))


def test_registry_method_and_facade_made_from_the_class() -> None:
    """``info = instrument(Info)`` (the integrator's registry line) gives a get-or-create
    method with ``Info``'s arguments minus ``registry=``, documented as such."""

    class Registry(MetricsRegistry):
        info = instrument(Info)

    registry = Registry()
    build = registry.info("tachikoma_build", "Build information")
    build.info(BUILD)
    assert registry.info("tachikoma_build_info", "Build information") is build
    assert list(inspect.signature(registry.info).parameters) == [
        "name",
        "help",
        "labelnames",
        "unit",
    ]
    with pytest.raises(TypeError, match="registry="):
        registry.info("x", "X.", registry=registry)  # type: ignore[call-arg]


def test_a_family_built_on_its_own_registers_later() -> None:
    """``Info(name, help, labelnames, registry=...)`` registers on construction."""
    registry = MetricsRegistry()
    info = Info("build", "Build.", registry=registry)
    info.info({"v": "1"})
    assert registry.get("build_info") is info
    assert _series(registry.collect()[0]) == [({"v": "1"}, 1.0)]


@pytest.mark.parametrize("unit", ["seconds", "bytes"])
def test_a_unit_is_refused(registry: MetricsRegistry, unit: str) -> None:
    """OpenMetrics info families have no unit (its parsers reject one): ``ValueError``."""
    with pytest.raises(ValueError, match=f"{unit!r}"):
        _info(registry, f"build_{unit}", "Build.", unit=unit)
    assert registry.collect() == []


def test_remove_and_clear(registry: MetricsRegistry) -> None:
    """``remove`` drops one child, ``clear`` every child; a child taken again starts empty."""
    info = _info(registry, "node", "Node.", ("host",))
    info.labels("h1").info({"os": "linux"})
    info.labels("h2").info({"os": "bsd"})
    info.remove("h1")
    assert [labels.label_values for labels, _ in registry.collect()[0].samples] == [("h2", "bsd")]
    with pytest.raises(KeyError):
        info.remove("h1")
    info.clear()
    assert registry.collect()[0].samples == []
    assert info.labels("h1").get() == {}


# -- bad input: a clear error, nothing recorded changes ----------------------------------------


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        ([("version", "1")], TypeError, "must be a mapping"),
        ("version=1", TypeError, "must be a mapping"),
        (None, TypeError, "must be a mapping"),
        ({"version": 1}, TypeError, "the value of 'version' must be a str, got 1"),
        ({"version": None}, TypeError, "got None"),
        ({"version": b"1"}, TypeError, "got b'1'"),
        ({"ok": "1", "version": 1.5}, TypeError, "got 1.5"),
        ({"version": "\ud800"}, ValueError, "not valid UTF-8"),
        ({1: "x"}, TypeError, "got 1"),
        ({"bad-name": "x"}, ValueError, "'bad-name'"),
        ({"1st": "x"}, ValueError, "'1st'"),
        ({"a:b": "x"}, ValueError, "'a:b'"),
        ({"": "x"}, ValueError, "''"),
        ({"service.name": "x"}, ValueError, "'service.name'"),
        ({"__meta": "x"}, ValueError, "'__meta'.*reserved"),
        ({"host": "x"}, ValueError, "'host'.*declared label"),
    ],
)
def test_bad_info_is_refused_and_changes_nothing(
    registry: MetricsRegistry, bad: Any, error: type[Exception], match: str
) -> None:
    """Not a mapping, a value that is not a ``str`` (or not UTF-8), a key that is not a
    valid label name under legacy rules, is reserved or repeats a declared label name:
    ``TypeError``/``ValueError`` naming it, and the series keeps its info."""
    info = _info(registry, "node", "Node.", ("host",))
    child = info.labels("h1")
    child.info({"version": "0"})
    before = registry.export_openmetrics()
    with pytest.raises(error, match=match):
        child.info(bad)
    assert child.get() == {"version": "0"}
    assert registry.export_openmetrics() == before


def test_bad_info_on_an_unlabelled_family_changes_nothing(registry: MetricsRegistry) -> None:
    """The same on an unlabelled family, whose first write is refused: still no info."""
    build = _info(registry, "build", "Build.")
    with pytest.raises(TypeError, match="got 3"):
        build.info({"version": 3})
    assert build.get() == {}
    assert _series(registry.collect()[0]) == [({}, 1.0)]


def test_utf8_registry_accepts_utf8_keys() -> None:
    """A ``utf8_names`` registry takes UTF-8 info keys, as it takes UTF-8 label names."""
    registry = MetricsRegistry(utf8_names=True)
    info = _info(registry, "app", "App.")
    info.info({"service.name": "api", "région": "eu"})
    assert info.get() == {"région": "eu", "service.name": "api"}
    (family,) = registry.collect()
    assert family.labelnames == ("région", "service.name")


@pytest.mark.parametrize(
    ("first", "second", "match"),
    [
        ({}, {"a.b": "1", "a_b": "2"}, "'a.b' and 'a_b'"),
        ({"a.b": "1"}, {"a_b": "2"}, "'a.b' and 'a_b'"),
        ({}, {"region.x": "1"}, "'region_x'"),  # escaped like the declared label name
        ({}, {"_.x": "1"}, "reserved"),  # written __x once escaped
        ({}, {"": "1"}, "must not be empty"),
    ],
)
def test_utf8_registry_refuses_keys_written_alike(
    first: dict[str, str], second: dict[str, str], match: str
) -> None:
    """Keys that an escaping scheme would write alike, as each other, as an info key the
    family already has or as a declared label name, or as a reserved name, are refused
    where they first appear, not at every scrape; nothing changes."""
    registry = MetricsRegistry(utf8_names=True)
    info = _info(registry, "app", "App.", ("region_x",))
    child = info.labels("eu")
    child.info(first)
    with pytest.raises(ValueError, match=match):
        child.info(second)
    assert child.get() == first
    assert registry.export_prometheus(escaping="underscores")


# -- the paused facade -------------------------------------------------------------------------


@pytest.mark.usefixtures("fresh_facade")
def test_paused_facade_info_validates_drops_then_records() -> None:
    """A facade info family before ``init()`` validates each call and records nothing;
    handles taken before ``init()`` record after it."""
    facade_info = _global.facade(Info)
    build = facade_info("tachikoma_build", "Build information")
    node = facade_info("node", "Node.", ("host",))
    child = node.labels("h1")
    build.info(BUILD)
    child.info({"os": "linux"})
    assert build.get() == {}
    assert child.get() == {}
    with pytest.raises(TypeError, match="got 1"):
        build.info({"version": 1})
    with pytest.raises(ValueError, match="'bad-name'"):
        child.info({"bad-name": "x"})
    with pytest.raises(ValueError, match=r"before \.info\(\)"):
        node.info({"os": "x"})
    assert _global.export_prometheus() == ""
    _global.init()
    build.info(BUILD)
    child.info({"os": "linux"})
    assert build.get() == BUILD
    assert child.get() == {"os": "linux"}
    assert facade_info("tachikoma_build_info", "Build information") is build
    by_name = {f.name: f for f in _global.init().collect()}
    assert _series(by_name["tachikoma_build"]) == [({"commit": "abc", "version": "1.2.3"}, 1.0)]


# -- threads: a reader sees one info() or the next, never a mix --------------------------------


@pytest.mark.usefixtures("frequent_thread_switches")
def test_readers_never_see_a_mix_of_two_infos(registry: MetricsRegistry) -> None:
    """4 threads write infos whose values all agree ({a: n, b: n, c: n}) to one unlabelled
    family and one child, while 2 threads read ``get()`` and snapshots: every read has
    one ``info()``'s pairs, never keys or values from two."""
    plain = _info(registry, "plain", "Plain.")
    child = _info(registry, "node", "Node.", ("host",)).labels("h1")
    writes = 3_000
    plain.info({"a": "start", "b": "start"})
    child.info({"a": "start", "b": "start"})
    stop = threading.Event()
    seen: set[str] = set()

    def writer(offset: int) -> Callable[[], None]:
        def work() -> None:
            for i in range(writes):
                n = str(offset + i % 7)
                pairs = {"a": n, "b": n, "c": n} if i % 2 else {"a": n, "b": n}
                plain.info(pairs)
                child.info(pairs)

        return work

    def reader() -> None:
        while not stop.is_set():
            for got in (plain.get(), child.get()):
                assert len(set(got.values())) == 1, got
                assert set(got) in ({"a", "b"}, {"a", "b", "c"}), got
                seen.add(got["a"])
            for family in registry.collect():
                for labels, value in family.samples:
                    pairs = dict(zip(family.labelnames, labels.label_values, strict=True))
                    pairs.pop("host", None)
                    third = pairs.get("c", "")  # a key no series has is not a label
                    values = {pairs["a"], pairs["b"]} | ({third} if third else set())
                    assert len(values) == 1 and value == 1.0, pairs

    def writers_then_stop() -> None:
        try:
            run_together([writer(0), writer(10), writer(20), writer(30)])
        finally:
            stop.set()

    run_together([writers_then_stop, reader, reader])
    assert len(seen) > 1
    final = plain.get()
    assert len(set(final.values())) == 1


# -- the storage seam ----------------------------------------------------------------------------


def test_a_registry_storage_routes_every_info_write() -> None:
    """On a ``CountingStorage`` registry, every ``info()`` (family and child) goes through
    the storage's cell, refused ones included (they raise inside it); values are the same."""
    storage = CountingStorage()
    registry = MetricsRegistry(storage=storage)
    build = _info(registry, "build", "Build.")
    node = _info(registry, "node", "Node.", ("host",))
    build.info(BUILD)
    node.labels("h1").info({"os": "linux"})
    node.labels("h1").info({"os": "bsd"})
    with pytest.raises(TypeError):
        build.info({"v": 1})
    assert storage.writes["InfoCell.info"] == 4
    assert build.get() == BUILD
    assert node.labels("h1").get() == {"os": "bsd"}


# -- exports, validators and prometheus_client side by side ---------------------------------


def _record(registry: MetricsRegistry) -> None:
    _info(registry, "tachikoma_build", "Build information").info(BUILD)
    node = _info(registry, "node", "Node facts.", ("host",))
    node.labels("h1").info({"os": "linux", "arch": "x86"})
    node.labels("h2").info({"os": "bsd", "arch": "arm"})
    _info(registry, "empty", "Never set.")
    _info(registry, "quoted", 'Help with "quotes" \\ and\nnewline.').info(
        {"path": 'C:\\dir "x"\nnext'}
    )


def _record_prometheus_client(registry: prometheus_client.CollectorRegistry) -> None:
    prometheus_client.Info("tachikoma_build", "Build information", registry=registry).info(BUILD)
    node = prometheus_client.Info("node", "Node facts.", ["host"], registry=registry)
    node.labels("h1").info({"os": "linux", "arch": "x86"})
    node.labels("h2").info({"os": "bsd", "arch": "arm"})
    prometheus_client.Info("empty", "Never set.", registry=registry)
    prometheus_client.Info("quoted", 'Help with "quotes" \\ and\nnewline.', registry=registry).info(
        {"path": 'C:\\dir "x"\nnext'}
    )


def _parsed(families: Any) -> list[tuple[str, str, str, list[Any]]]:
    return sorted(
        (
            f.name,
            f.type,
            f.documentation,
            sorted((s.name, sorted(s.labels.items()), s.value) for s in f.samples),
        )
        for f in families
    )


def test_text_export_matches_prometheus_client_and_promtool_accepts_it() -> None:
    """Text 0.0.4: each info family is a gauge ``<name>_info`` of value 1 with its pairs
    as labels, as ``prometheus_client`` writes it (same parsed families); promtool
    accepts the body."""
    registry = MetricsRegistry()
    _record(registry)
    body = registry.export_prometheus()
    assert 'tachikoma_build_info{commit="abc",version="1.2.3"} 1' in body.splitlines()
    assert "# TYPE tachikoma_build_info gauge" in body.splitlines()
    theirs = prometheus_client.CollectorRegistry()
    _record_prometheus_client(theirs)
    reference = prometheus_client.generate_latest(theirs).decode()
    assert _parsed(text_string_to_metric_families(body)) == _parsed(
        text_string_to_metric_families(reference)
    )
    result = check_metrics(body.encode())
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


def test_openmetrics_export_matches_prometheus_client() -> None:
    """OpenMetrics: type ``info``, family name without ``_info``, sample ``<name>_info``,
    no ``_created`` line; the strict parser reads it back as ``prometheus_client``'s own
    exposition of the same calls."""
    registry = MetricsRegistry()
    _record(registry)
    body = registry.export_openmetrics()
    lines = body.splitlines()
    assert "# TYPE tachikoma_build info" in lines
    assert 'tachikoma_build_info{commit="abc",version="1.2.3"} 1.0' in lines
    assert "empty_info 1.0" in lines
    assert "_created" not in body
    theirs = prometheus_client.CollectorRegistry()
    _record_prometheus_client(theirs)
    reference = pc_openmetrics.generate_latest(theirs).decode()
    ours = _parsed(om_parser.text_string_to_metric_families(body))
    assert ours == _parsed(om_parser.text_string_to_metric_families(reference))
    assert ("tachikoma_build", "info") in {(name, kind) for name, kind, _, _ in ours}


def test_missing_keys_are_written_empty_which_readers_take_as_absent() -> None:
    """Series with different keys: ours writes ``key=""`` where prometheus_client writes
    no label; with empty labels dropped (as Prometheus reads them) both parse alike, in
    text and OpenMetrics."""
    registry = MetricsRegistry()
    node = _info(registry, "node", "Node.", ("host",))
    node.labels("h1").info({"os": "linux"})
    node.labels("h2").info({"kernel": "6.1"})
    theirs = prometheus_client.CollectorRegistry()
    pc_node = prometheus_client.Info("node", "Node.", ["host"], registry=theirs)
    pc_node.labels("h1").info({"os": "linux"})
    pc_node.labels("h2").info({"kernel": "6.1"})

    def dropped(families: Any) -> list[Any]:
        return sorted(
            (s.name, sorted((k, v) for k, v in s.labels.items() if v), s.value)
            for f in families
            for s in f.samples
        )

    text = registry.export_prometheus()
    assert 'node_info{host="h1",kernel="",os="linux"} 1' in text.splitlines()
    assert dropped(text_string_to_metric_families(text)) == dropped(
        text_string_to_metric_families(prometheus_client.generate_latest(theirs).decode())
    )
    om = registry.export_openmetrics()
    assert dropped(om_parser.text_string_to_metric_families(om)) == dropped(
        om_parser.text_string_to_metric_families(pc_openmetrics.generate_latest(theirs).decode())
    )
    result = check_metrics(text.encode())
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


def test_name_given_with_info_suffix_exports_like_prometheus_client_without_it() -> None:
    """Ours ``info("x_info")`` exposes what prometheus_client's ``Info("x")`` does (its
    ``Info("x_info")`` would write ``x_info_info``: the documented difference)."""
    registry = MetricsRegistry()
    _info(registry, "tachikoma_build_info", "Build information").info(BUILD)
    theirs = prometheus_client.CollectorRegistry()
    prometheus_client.Info("tachikoma_build", "Build information", registry=theirs).info(BUILD)
    assert _parsed(text_string_to_metric_families(registry.export_prometheus())) == _parsed(
        text_string_to_metric_families(prometheus_client.generate_latest(theirs).decode())
    )
    assert _parsed(om_parser.text_string_to_metric_families(registry.export_openmetrics())) == (
        _parsed(
            om_parser.text_string_to_metric_families(
                pc_openmetrics.generate_latest(theirs).decode()
            )
        )
    )


def test_protobuf_export_is_a_gauge_named_with_info() -> None:
    """Protobuf (no info type there): a gauge family ``<name>_info`` whose metrics carry
    the pairs as labels and the value 1; the official parser reads it back."""
    registry = MetricsRegistry()
    _record(registry)
    families = {f.name: f for f in decode_families(registry.export_protobuf())}
    assert set(families) == {"empty_info", "node_info", "quoted_info", "tachikoma_build_info"}
    build = families["tachikoma_build_info"]
    assert build.help == "Build information"
    assert build.type == 1  # GAUGE
    (metric,) = build.metric
    assert [(p.name, p.value) for p in metric.label] == [("commit", "abc"), ("version", "1.2.3")]
    assert metric.gauge.value == 1.0
    node = families["node_info"]
    assert [[(p.name, p.value) for p in m.label] for m in node.metric] == [
        [("arch", "x86"), ("host", "h1"), ("os", "linux")],
        [("arch", "arm"), ("host", "h2"), ("os", "bsd")],
    ]
    (empty,) = families["empty_info"].metric
    assert list(empty.label) == []
    assert empty.gauge.value == 1.0
