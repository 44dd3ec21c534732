"""``family.remove_matching(**labels)``: drop every series whose labels include all the given
pairs (``client_golang``'s ``DeletePartialMatch``), on every family type."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tachikoma_metrics import MetricsRegistry

TIMEOUT = 60.0


def _record(kind: str, child: Any) -> None:
    """One write of the family type's own kind."""
    if kind in ("counter", "gauge"):
        child.inc()
    elif kind == "info":
        child.info({"version": "1.2"})
    elif kind == "stateset":
        child.state("busy")
    else:
        child.observe(0.5)


def _make(registry: MetricsRegistry, kind: str, labelnames: tuple[str, ...]) -> Any:
    """A family of this type named after it, with these label names."""
    if kind == "stateset":
        return registry.stateset("mode", "M.", labelnames, states=("idle", "busy"))
    name = {"counter": "http_requests_total", "info": "build"}.get(kind, "http_requests")
    return getattr(registry, kind)(name, "R.", labelnames)


def _exported(registry: MetricsRegistry) -> list[dict[str, str]]:
    """The label sets of the exported series (the family's own labels only: no ``le``,
    ``quantile``, state or info label), once each, in export order."""
    out: list[dict[str, str]] = []
    for family in text_string_to_metric_families(registry.export_prometheus()):
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if k in DECLARED}
            if labels not in out:
                out.append(labels)
    return out


# Every label name the tests below declare.
DECLARED = frozenset({"route", "code", "queue", "status", "host", "node", "shard"})


KINDS = ["counter", "gauge", "histogram", "summary", "info", "stateset"]


@pytest.mark.parametrize("kind", KINDS)
def test_removes_every_series_including_the_pair(registry: MetricsRegistry, kind: str) -> None:
    """``remove_matching(route="/old")`` drops both ``/old`` series, whatever their other
    labels, returns 2, and leaves the others with their values."""
    family = _make(registry, kind, ("route", "code"))
    for route in ("/old", "/new"):
        for code in ("200", "500"):
            _record(kind, family.labels(route, code))
    _record(kind, family.labels("/new", "200"))
    assert family.remove_matching(route="/old") == 2
    assert _exported(registry) == [
        {"code": "200", "route": "/new"},
        {"code": "500", "route": "/new"},
    ]
    if kind in ("histogram", "summary"):
        assert family.labels("/new", "200").get().count == 2
        assert family.labels("/old", "200").get().count == 0  # a new, empty series
    elif kind in ("counter", "gauge"):
        assert family.labels("/new", "200").get() == 2.0
        assert family.labels("/old", "200").get() == 0.0


def test_all_pairs_must_match(registry: MetricsRegistry) -> None:
    """With several pairs, only series including every one of them are dropped."""
    family = registry.counter("jobs_total", "Jobs.", ("queue", "status", "host"))
    for queue in ("a", "b"):
        for status in ("ok", "failed"):
            family.labels(queue, status, "h1").inc()
    assert family.remove_matching(queue="a", status="failed") == 1
    assert [tuple(sorted(d.items())) for d in _exported(registry)] == [
        (("host", "h1"), ("queue", "a"), ("status", "ok")),
        (("host", "h1"), ("queue", "b"), ("status", "failed")),
        (("host", "h1"), ("queue", "b"), ("status", "ok")),
    ]


def test_values_are_converted_with_str_and_no_match_changes_nothing(
    registry: MetricsRegistry,
) -> None:
    """Values are compared as ``str()`` of what is given (as ``labels()`` converts them);
    when nothing matches, 0 is returned and every series stays."""
    family = registry.gauge("slots", "Slots.", ("code", "node"))
    family.labels(500, "n1").set(1)
    family.labels(200, "n1").set(2)
    assert family.remove_matching(code=404) == 0
    assert family.remove_matching(node="n2") == 0
    assert len(_exported(registry)) == 2
    assert family.remove_matching(code=500) == 1
    assert _exported(registry) == [{"code": "200", "node": "n1"}]


def test_order_stays_sorted_with_series_added_since_the_last_export(
    registry: MetricsRegistry,
) -> None:
    """Series created after an export (not yet placed in the export order) and series
    already placed are dropped alike; the next export is complete and sorted."""
    family = registry.counter("jobs_total", "Jobs.", ("queue", "shard"))
    for shard in range(0, 20, 2):
        family.labels("q", f"{shard:02d}").inc()
    family.labels("x", "00").inc()
    _exported(registry)  # the sorted order is built
    for shard in range(1, 20, 2):
        family.labels("q", f"{shard:02d}").inc()
    family.labels("x", "01").inc()
    assert family.remove_matching(queue="q") == 20
    assert _exported(registry) == [{"queue": "x", "shard": "00"}, {"queue": "x", "shard": "01"}]
    family.labels("a", "00").inc()
    assert [d["queue"] for d in _exported(registry)] == ["a", "x", "x"]


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_label_names_are_a_value_error_and_change_nothing(
    registry: MetricsRegistry, kind: str
) -> None:
    """A label name the family does not have is a ``ValueError`` naming it, even with a
    valid pair beside it; nothing is dropped."""
    family = _make(registry, kind, ("route",))
    _record(kind, family.labels("/a"))
    with pytest.raises(ValueError, match="'rout'"):
        family.remove_matching(rout="/a")
    with pytest.raises(ValueError, match="'code'"):
        family.remove_matching(route="/a", code="200")
    assert _exported(registry) == [{"route": "/a"}]


@pytest.mark.parametrize("kind", KINDS)
def test_no_pair_and_unlabelled_families_are_value_errors(
    registry: MetricsRegistry, kind: str
) -> None:
    """``remove_matching()`` with no pair would match everything: ``ValueError`` pointing to
    ``clear()``. An unlabelled family has no label to match."""
    family = _make(registry, kind, ("route",))
    _record(kind, family.labels("/a"))
    with pytest.raises(ValueError, match=r"clear\(\)"):
        family.remove_matching()
    assert len(_exported(registry)) == 1
    single = _make(MetricsRegistry(), kind, ())
    with pytest.raises(ValueError, match="'route'"):
        single.remove_matching(route="/a")


def test_concurrent_recording_creation_and_removal(registry: MetricsRegistry) -> None:
    """Writers record into series that stay and create series that are dropped, while
    another thread drops them and exports: no error, every kept series holds exactly its
    increments, and every dropped series is counted once by the calls that dropped it."""
    family = registry.counter("work_total", "Work.", ("kind", "worker", "item"))
    writers, rounds, kept_items = 4, 3000, 10
    barrier = threading.Barrier(writers + 1)
    done = threading.Event()
    errors: list[BaseException] = []
    removed = [0]

    def write(worker: int) -> None:
        try:
            barrier.wait(TIMEOUT)
            for i in range(rounds):
                family.labels("keep", worker, i % kept_items).inc()
                family.labels("drop", worker, i).inc(2)
        except BaseException as error:  # re-raised below
            errors.append(error)

    def remove() -> None:
        try:
            barrier.wait(TIMEOUT)
            while not done.is_set():
                removed[0] += family.remove_matching(kind="drop")
                registry.export_prometheus()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    remover = threading.Thread(target=remove)
    for thread in [*threads, remover]:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive()
    done.set()
    remover.join(TIMEOUT)
    assert not remover.is_alive()
    assert errors == []
    removed[0] += family.remove_matching(kind="drop")
    assert removed[0] == writers * rounds
    exported = {
        tuple(sorted(s.labels.items())): s.value
        for f in text_string_to_metric_families(registry.export_prometheus())
        for s in f.samples
    }
    assert exported == {
        (("item", str(item)), ("kind", "keep"), ("worker", str(worker))): rounds / kept_items
        for worker in range(writers)
        for item in range(kept_items)
    }
