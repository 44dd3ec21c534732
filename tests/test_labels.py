"""Labels: picking children, label value conversion, removal, and name validation."""

from __future__ import annotations

import pytest

from tachikoma_metrics import Counter, Gauge, Histogram, MetricsRegistry


@pytest.fixture
def calls(registry: MetricsRegistry) -> Counter:
    """A counter family labelled ``(provider, status)``."""
    return registry.counter("api_calls_total", "API calls.", labelnames=("provider", "status"))


def _assert_names_labels(error: pytest.ExceptionInfo[ValueError]) -> None:
    message = str(error.value)
    assert "provider" in message
    assert "status" in message


def test_positional_and_keyword_give_the_same_child(calls: Counter) -> None:
    """``labels(a, b)``, ``labels(provider=a, status=b)`` in any keyword order: one child."""
    child = calls.labels("anthropic", "ok")
    assert calls.labels(provider="anthropic", status="ok") is child
    assert calls.labels(status="ok", provider="anthropic") is child
    child.inc()
    calls.labels(provider="anthropic", status="ok").inc()
    assert child.get() == 2.0
    assert child.label_values == ("anthropic", "ok")


def test_distinct_values_give_distinct_children(calls: Counter) -> None:
    """Different label values (or the same values in another order) are different series."""
    a = calls.labels("x", "y")
    b = calls.labels("y", "x")
    assert a is not b
    a.inc(3)
    assert b.get() == 0.0


@pytest.mark.parametrize("values", [(), ("anthropic",), ("anthropic", "ok", "extra")])
def test_wrong_number_of_values_raises_naming_labels(
    calls: Counter, values: tuple[str, ...]
) -> None:
    """A wrong number of positional values raises ``ValueError`` naming the label names."""
    with pytest.raises(ValueError) as info:
        calls.labels(*values)
    _assert_names_labels(info)


def test_unknown_label_name_raises_naming_labels(calls: Counter) -> None:
    """An unknown keyword raises ``ValueError`` naming the expected labels and the stranger."""
    with pytest.raises(ValueError) as info:
        calls.labels(provider="a", status="ok", region="eu")
    _assert_names_labels(info)
    assert "region" in str(info.value)


def test_missing_label_name_raises_naming_labels(calls: Counter) -> None:
    """A missing keyword raises ``ValueError`` naming the expected labels."""
    with pytest.raises(ValueError) as info:
        calls.labels(provider="a")
    _assert_names_labels(info)


def test_mixing_positional_and_keyword_raises_naming_labels(calls: Counter) -> None:
    """Positional and keyword values together raise ``ValueError`` naming the expected labels."""
    with pytest.raises(ValueError) as info:
        calls.labels("a", status="ok")
    _assert_names_labels(info)


def test_recording_on_labelled_family_without_labels_raises(registry: MetricsRegistry) -> None:
    """``inc``/``set``/``observe``/``get`` on a labelled family without ``labels()`` raise
    ``ValueError`` naming the expected labels."""
    c = registry.counter("api_calls_total", "C.", labelnames=("provider", "status"))
    g = registry.gauge("api_in_flight", "G.", labelnames=("provider", "status"))
    h = registry.histogram("api_seconds", "H.", labelnames=("provider", "status"))
    calls = [c.inc, lambda: c.inc_by(1), c.get, g.inc, g.dec, lambda: g.set(1), g.get]
    calls += [g.set_to_current_time, lambda: h.observe(1), h.get, c.reset, c.count_exceptions]
    calls += [lambda: g.set_function(lambda: 1)]
    for call in calls:
        with pytest.raises(ValueError) as info:
            call()
        _assert_names_labels(info)
    # Timing blocks choose their child inside the block: leaving one without choosing raises.
    for helper in (g.track_inprogress, g.time, h.time):
        with pytest.raises(ValueError) as info, helper():
            pass
        _assert_names_labels(info)


def test_label_values_are_converted_with_str(calls: Counter) -> None:
    """Label values are converted with ``str()``: ``labels(1, True)`` is ``labels("1", "True")``."""
    child = calls.labels(1, True)
    assert child is calls.labels("1", "True")
    assert calls.labels(provider=1, status=True) is child
    assert calls.labels(1.5, None) is calls.labels("1.5", "None")
    assert child.label_values == ("1", "True")


def test_unhashable_label_values_are_converted_with_str(calls: Counter) -> None:
    """Any object is converted with ``str()``, unhashable ones (list, dict) included."""
    child = calls.labels(["a"], {"k": 1})
    assert child is calls.labels("['a']", "{'k': 1}")
    assert calls.labels(provider=["a"], status={"k": 1}) is child


def test_labels_on_unlabelled_family_raises(registry: MetricsRegistry) -> None:
    """An unlabelled family has no children to pick: ``labels()`` raises ``ValueError``.

    (As in prometheus_client; otherwise ``labels()`` would hand out the default series.)
    """
    c = registry.counter("jobs_total", "Jobs.")
    with pytest.raises(ValueError):
        c.labels("x")
    with pytest.raises(ValueError):
        c.labels()


def test_remove_drops_one_series(calls: Counter, registry: MetricsRegistry) -> None:
    """``remove(values)`` drops that series from the export; taking it again starts at 0."""
    calls.labels("a", "ok").inc(5)
    calls.labels("b", "ok").inc(2)
    calls.remove("a", "ok")
    text = registry.export_prometheus()
    assert 'provider="a"' not in text
    assert 'api_calls_total{provider="b",status="ok"} 2\n' in text
    assert calls.labels("a", "ok").get() == 0.0


def test_remove_by_keyword_and_with_str_conversion(calls: Counter) -> None:
    """``remove`` accepts keyword values and converts values with ``str()`` like ``labels``."""
    calls.labels("a", "1").inc()
    calls.labels("b", "True").inc()
    calls.remove(status="1", provider="a")
    calls.remove("b", True)
    assert calls.labels("a", "1").get() == 0.0
    assert calls.labels("b", "True").get() == 0.0


def test_remove_missing_series_raises_key_error(calls: Counter) -> None:
    """Removing a series that does not exist raises ``KeyError``."""
    with pytest.raises(KeyError):
        calls.remove("nobody", "ok")


def test_remove_with_wrong_labels_raises_value_error(calls: Counter) -> None:
    """``remove`` validates label values like ``labels`` does."""
    with pytest.raises(ValueError):
        calls.remove("only-one")
    with pytest.raises(ValueError):
        calls.remove(provider="a", region="eu")


def test_clear_drops_every_series(calls: Counter, registry: MetricsRegistry) -> None:
    """``clear()`` drops every child; the family keeps its HELP and TYPE."""
    calls.labels("a", "ok").inc()
    calls.labels("b", "err").inc()
    calls.clear()
    assert registry.export_prometheus() == (
        "# HELP api_calls_total API calls.\n# TYPE api_calls_total counter\n"
    )
    assert calls.labels("a", "ok").get() == 0.0


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b", "a.b", "grüße", "a\n", "a{b}"])
def test_invalid_metric_names_raise(name: str) -> None:
    """Metric names must match ``[a-zA-Z_:][a-zA-Z0-9_:]*``; others raise ``ValueError``."""
    for kind in (Counter, Gauge, Histogram):
        with pytest.raises(ValueError):
            kind(name, "Help.")


@pytest.mark.parametrize("name", ["a", "_a", ":a", "a:b_c9", "A_Z"])
def test_valid_metric_names_are_accepted(name: str, registry: MetricsRegistry) -> None:
    """Names matching the Prometheus metric-name rule are accepted as given."""
    assert registry.gauge(name, "Help.").name == name


@pytest.mark.parametrize("label", ["a:b", ":a", "__a", "__name__", "1a", "a-b", "", "é"])
def test_invalid_label_names_raise(label: str) -> None:
    """Label names must match ``[a-zA-Z_][a-zA-Z0-9_]*`` and not start with ``__``."""
    for kind in (Counter, Gauge, Histogram):
        with pytest.raises(ValueError, match="label name"):
            kind("m", "Help.", labelnames=(label,))


def test_single_underscore_label_name_is_valid(registry: MetricsRegistry) -> None:
    """``_`` and ``_a`` are ordinary label names (only a ``__`` prefix is reserved)."""
    c = registry.counter("m_total", "Help.", labelnames=("_", "_a"))
    c.labels("x", "y").inc()
    assert registry.export_prometheus().endswith('m_total{_="x",_a="y"} 1\n')


def test_duplicate_label_names_raise() -> None:
    """The same label name twice raises ``ValueError`` naming it."""
    for kind in (Counter, Gauge, Histogram):
        with pytest.raises(ValueError, match="duplicate"):
            kind("m", "Help.", labelnames=("a", "b", "a"))


def test_labelnames_as_a_bare_string_is_rejected() -> None:
    """``labelnames="ab"`` is a mistake for ``("ab",)``; it is refused, not split into letters."""
    with pytest.raises(TypeError):
        Counter("m_total", "Help.", labelnames="ab")


@pytest.mark.parametrize("value", ["\ud800", "ok\udcff", "\udfff end"])
def test_lone_surrogate_label_value_raises(calls: Counter, value: str) -> None:
    """A label value that is not encodable as UTF-8 raises ``ValueError`` at ``labels()``."""
    with pytest.raises(ValueError):
        calls.labels(value, "ok")
    with pytest.raises(ValueError):
        calls.labels(provider="a", status=value)
