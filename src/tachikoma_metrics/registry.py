"""The registry: owns family names, hands out get-or-create instruments, takes snapshots."""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from typing import Any, TypeVar, cast

from ._names import check_label_names, check_metric_name
from .exposition._escaping import UNDERSCORES
from .exposition.negotiate import Negotiation, negotiate
from .exposition.openmetrics import encode_openmetrics
from .exposition.protobuf import encode_protobuf
from .exposition.text import encode_text
from .instruments import DEFAULT_BUCKETS, Counter, Gauge, Histogram
from .instruments._family import Family
from .model import MetricFamily

FamilyT = TypeVar("FamilyT", bound=Family[Any])


class MetricsRegistry:
    """A set of metric families with unique names.

    Every name a family can be exposed under (``x_total``, ``x_bucket``, ...) belongs to one
    family only, so two families never write the same series. Safe to use from any thread;
    an export runs while other threads register, unregister and record.
    """

    def __init__(self, *, utf8_names: bool = False, created_series: bool = True) -> None:
        """``utf8_names``: accept metric and label names outside the legacy charset
        (Prometheus 3). ``created_series``: write ``_created`` series and created
        timestamps (OpenMetrics, protobuf) unless an export call says otherwise."""
        self.utf8_names = utf8_names
        self.created_series = created_series
        self._lock = threading.Lock()
        self._families: dict[str, Family[Any]] = {}
        self._owners: dict[str, Family[Any]] = {}
        self._order: list[Family[Any]] | None = []

    # -- instruments (get-or-create) ---------------------------------------------------------

    def counter(
        self, name: str, help: str = "", *, labelnames: Iterable[str] = (), unit: str = ""
    ) -> Counter:
        """The counter called ``name``, created on first call; see ``Counter``."""
        return self._get_or_create(
            Counter(name, help, labelnames=labelnames, unit=unit, utf8_names=self.utf8_names)
        )

    def gauge(
        self, name: str, help: str = "", *, labelnames: Iterable[str] = (), unit: str = ""
    ) -> Gauge:
        """The gauge called ``name``, created on first call; see ``Gauge``."""
        return self._get_or_create(
            Gauge(name, help, labelnames=labelnames, unit=unit, utf8_names=self.utf8_names)
        )

    def histogram(
        self,
        name: str,
        help: str = "",
        *,
        labelnames: Iterable[str] = (),
        unit: str = "",
        buckets: Iterable[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        """The histogram called ``name``, created on first call; see ``Histogram``."""
        return self._get_or_create(
            Histogram(
                name,
                help,
                labelnames=labelnames,
                unit=unit,
                buckets=buckets,
                utf8_names=self.utf8_names,
            )
        )

    def _get_or_create(self, fresh: FamilyT) -> FamilyT:
        with self._lock:
            existing = self._families.get(fresh.name)
            if existing is None:
                self._add(fresh)
                return fresh
            if existing.definition() == fresh.definition():
                return cast(FamilyT, existing)
            raise ValueError(_describe_conflict(existing, fresh))

    # -- registration ----------------------------------------------------------------------

    def register(self, metric: Family[Any]) -> None:
        """Add a family built on its own. ``ValueError`` if any of its names is taken."""
        if not isinstance(metric, Family):
            raise TypeError(f"can only register metric families, got {metric!r}")
        with self._lock:
            self._add(metric)

    def _add(self, metric: Family[Any]) -> None:
        if not self.utf8_names:
            check_metric_name(metric.name)
            check_label_names(metric.labelnames)
        names = metric.sample_names()
        for name in names:
            owner = self._owners.get(name)
            if owner is not None:
                if owner is metric:
                    raise ValueError(f"{metric!r} is already registered")
                raise ValueError(
                    f"cannot register {metric!r}: the name {name!r} is already used by {owner!r}"
                )
        for name in names:
            self._owners[name] = metric
        self._families[metric.name] = metric
        self._order = None

    def unregister(self, metric: Family[Any]) -> None:
        """Remove a registered family; ``KeyError`` if it is not registered here."""
        with self._lock:
            if self._families.get(metric.name) is not metric:
                raise KeyError(f"{metric!r} is not registered")
            del self._families[metric.name]
            for name in metric.sample_names():
                del self._owners[name]
            self._order = None

    def get(self, name: str) -> Family[Any] | None:
        """The family registered as ``name`` (for counters, with or without ``_total``)."""
        with self._lock:
            family = self._owners.get(name)
        return family

    # -- snapshot and export ---------------------------------------------------------------

    def collect(self, names: Collection[str] | None = None) -> list[MetricFamily]:
        """A snapshot of every family, sorted by family name.

        With ``names``, only the families exposing one of those names (a family name or a
        sample name such as ``x_total`` or ``x_bucket``), as ``?name[]=`` asks.
        """
        order = self._order
        if order is None:
            with self._lock:
                order = self._order
                if order is None:
                    order = self._order = sorted(self._families.values(), key=_family_name)
        if names is not None:
            wanted = names if isinstance(names, (set, frozenset)) else frozenset(names)
            order = [f for f in order if not wanted.isdisjoint(f.sample_names())]
        return [family.collect() for family in order]

    def export_prometheus(self, *, escaping: str = UNDERSCORES) -> str:
        """Every family in Prometheus text format (0.0.4; 1.0.0 with ``allow-utf-8``)."""
        return encode_text(self.collect(), escaping=escaping)

    def export_openmetrics(
        self, *, escaping: str = UNDERSCORES, created: bool | None = None
    ) -> str:
        """Every family in OpenMetrics 1.0 text. ``created`` defaults to the registry's."""
        return encode_openmetrics(
            self.collect(),
            escaping=escaping,
            created=self.created_series if created is None else created,
        )

    def export_protobuf(self, *, escaping: str = UNDERSCORES, created: bool | None = None) -> bytes:
        """Every family as length-delimited protobuf ``MetricFamily`` messages."""
        return encode_protobuf(
            self.collect(),
            escaping=escaping,
            created=self.created_series if created is None else created,
        )

    def negotiate(self, accept: str | None, accept_encoding: str | None = None) -> Negotiation:
        """``negotiate()`` with this registry's ``created_series`` setting."""
        return negotiate(accept, accept_encoding, created=self.created_series)


def _family_name(family: Family[Any]) -> str:
    return family.name


def _describe_conflict(existing: Family[Any], fresh: Family[Any]) -> str:
    old, new = existing.definition(), fresh.definition()
    differences = [
        f"{key} {old.get(key)!r} (registered) vs {new.get(key)!r} (requested)"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]
    return f"metric {fresh.name!r} is already registered with another definition: " + "; ".join(
        differences
    )
