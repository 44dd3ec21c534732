"""The registry: owns names, hands out get-or-create instruments, takes snapshots.

The registry depends on one narrow protocol, ``Collector``: an object whose ``collect()``
returns ``MetricFamily`` snapshots, and which may say up front, with ``describe()``, which
families it exposes. Instrument families are one implementation; exporters, callbacks and
runtime collectors are others. Names are checked across all of them: at registration for
collectors that describe themselves, at each export for those that cannot.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, overload, runtime_checkable

from . import _locks
from . import storage as _storage
from ._locks import new_lock
from ._names import (
    DOTS,
    UNDERSCORES,
    VALUES,
    check_label_names,
    check_metric_name,
    check_text,
    written_base_name,
)
from .errors import RegistrationError
from .exposition import (
    Negotiation,
    encode_openmetrics,
    encode_protobuf,
    encode_text,
    negotiate,
)
from .instruments import Counter, Gauge, Histogram, Info, StateSet, Summary
from .instruments._family import Family
from .model import MAX_TIME, MIN_TIME, LabelSet, MetricFamily, MetricType, exposed_names
from .multiprocess import MultiprocessStorage
from .storage import Storage
from .values import created_now

logger = logging.getLogger("tachikoma_metrics")

P = ParamSpec("P")
F = TypeVar("F", bound=Family[Any])

# What a collector's described names are: raw names (None: it cannot say) and written ones.
_Names = tuple[frozenset[str] | None, tuple[str, ...]]

# Distinct collector-error messages remembered, so each is logged once (bounded memory).
_REPORTED_LIMIT = 1024

# The self-metric counting failed collections, per collector type (see MetricsRegistry).
COLLECTOR_ERRORS = "tachikoma_metrics_collector_errors"
_COLLECTOR_ERRORS_HELP = (
    "Collections that failed, by the collector's type name; each failure left that"
    " collector's metrics out of one export."
)
_COLLECTOR_ERRORS_NAMES = frozenset(exposed_names(COLLECTOR_ERRORS, MetricType.COUNTER))


@runtime_checkable
class Collector(Protocol):
    """Anything the registry can export: ``collect()`` returns ``MetricFamily`` snapshots.

    Optionally ``describe()`` returns the same families without series (only names, types
    and label names matter), so their names are checked when the collector is registered
    and ``?name[]=`` filters can skip it without collecting. A collector without
    ``describe()`` is checked each time it is collected.
    """

    def collect(self) -> Iterable[MetricFamily]: ...


class _Entry:
    """A registered collector, the names it owns (``None``: it cannot say up front), and
    (UTF-8 registries) the names those are written as under each escaping scheme."""

    __slots__ = ("collector", "names", "written")

    def __init__(self, collector: Collector, names: _Names) -> None:
        self.collector = collector
        self.names, self.written = names


class _TargetInfo:
    """The OpenMetrics ``target_info`` family: an info family named ``target`` whose one
    series (value 1) carries labels describing the target (``service_name``...)."""

    __slots__ = ("family",)

    def __init__(self, labels: Mapping[str, str], utf8_names: bool) -> None:
        if not isinstance(labels, Mapping):
            raise TypeError(f"target_info must be a mapping of label names to str, got {labels!r}")
        if not labels:
            raise ValueError("target_info needs at least one label (or pass None for none)")
        names = tuple(sorted(check_label_names(labels, utf8=utf8_names)))
        values = tuple(check_text(f"target_info value of {n!r}", labels[n]) for n in names)
        self.family = MetricFamily(
            "target",
            MetricType.INFO,
            "Target metadata",
            "",
            names,
            ((LabelSet(values), 1.0),),
        )

    def collect(self) -> list[MetricFamily]:
        return [self.family]

    def describe(self) -> list[MetricFamily]:
        family = self.family
        return [MetricFamily(family.name, family.type, family.help, "", family.labelnames)]

    def labels(self) -> dict[str, str]:
        family = self.family
        return dict(zip(family.labelnames, family.samples[0][0].label_values, strict=True))

    def __repr__(self) -> str:
        return "<target_info>"


class _SelfMetrics:
    """Stands for the registry's own metrics where name checks name their owner."""

    def collect(self) -> list[MetricFamily]:
        return []

    def __repr__(self) -> str:
        return "<the registry's own metrics>"


class _Builder:
    """What get-or-create builds a candidate family with: the registry's storage and
    naming rules, without registering it (the registry decides that under its lock)."""

    __slots__ = ("storage", "utf8_names")

    def __init__(self, storage: Storage, utf8_names: bool) -> None:
        self.storage = storage
        self.utf8_names = utf8_names

    def register(self, collector: Any) -> None:
        pass


class instrument(Generic[P, F]):
    """A registry's get-or-create method for one instrument type, made from its class.

    ``counter = instrument(Counter)`` in a registry class gives ``registry.counter(...)``
    with exactly ``Counter``'s arguments (minus ``registry=``): the instrument with that
    name if one with the same definition exists, else a new one registered here.
    """

    def __init__(self, family: Callable[P, F]) -> None:
        self._family = family
        self._name = getattr(family, "__name__", "instrument").lower()

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, registry: None, owner: type) -> instrument[P, F]: ...

    @overload
    def __get__(self, registry: MetricsRegistry, owner: type) -> Callable[P, F]: ...

    def __get__(
        self, registry: MetricsRegistry | None, owner: type
    ) -> instrument[P, F] | Callable[P, F]:
        if registry is None:
            return self
        family = self._family

        def get_or_create(*args: P.args, **kwargs: P.kwargs) -> F:
            return registry.get_or_create(family, *args, **kwargs)

        document_maker(get_or_create, self._name, family, "this registry")
        return get_or_create


def document_maker(function: Callable[..., Any], name: str, family: Any, where: str) -> None:
    """Give a generated get-or-create function the name, signature and docstring users
    see in ``help()``: the family class's arguments, without ``registry=``."""
    function.__name__ = function.__qualname__ = name
    # __init__ holds the arguments (Family.__new__ only passes them on).
    signature = inspect.signature(family.__init__)
    function.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p for p in signature.parameters.values() if p.name not in ("self", "registry")],
        return_annotation=family.__name__,
    )
    function.__doc__ = (
        f"The {family.__name__} called ``name`` in {where}, created on first call"
        f" (get-or-create); the same definition returns the same instrument, another"
        f" raises RegistrationError. Arguments as for ``{family.__name__}``."
    )


class MetricsRegistry:
    """A set of collectors (instrument families and any other ``Collector``) with unique
    names.

    Every name a family can be exposed under (``x_total``, ``x_bucket``, ...) belongs to one
    collector only, so two never write the same series. Safe to use from any thread; an
    export runs while other threads register, unregister and record.

    Every collection that fails (a collector raising, returning something other than
    families, or exposing a taken name) is counted in the self-metric
    ``tachikoma_metrics_collector_errors_total{collector="<its type name>"}``, exported
    with the rest from the first failure on (never before, so a healthy registry's exports
    are unchanged). Should a collector expose that name itself, its metric is served and
    the self-metric left out.
    """

    counter = instrument(Counter)
    gauge = instrument(Gauge)
    histogram = instrument(Histogram)
    info = instrument(Info)
    stateset = instrument(StateSet)
    summary = instrument(Summary)

    def __init__(
        self,
        *,
        utf8_names: bool = False,
        created_series: bool = True,
        storage: Storage | None = None,
        target_info: Mapping[str, str] | None = None,
        multiprocess_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """``utf8_names``: accept metric and label names outside the legacy charset
        (Prometheus 3). ``created_series``: write ``_created`` series and created
        timestamps (OpenMetrics, protobuf) unless an export call says otherwise.
        ``storage``: where the value cells of this registry's instruments live (the
        default keeps them in process memory). ``target_info``: labels describing the
        target (``{"service_name": "api"}``), exposed as the OpenMetrics ``target_info``
        family (``target_info{service_name="api"} 1``; a gauge in Prometheus text); its
        names follow this registry's naming rules, its values are ``str``. The names
        ``target`` and ``target_info`` are then taken (see ``set_target_info``).
        ``multiprocess_dir``: keep values in per-process files in that directory and merge
        every process's at collection (``docs/multiprocess.md``); it must exist and be
        writable."""
        self.utf8_names = utf8_names
        self.created_series = created_series
        if multiprocess_dir is not None:
            if storage is not None:
                raise ValueError("give storage= or multiprocess_dir=, not both")
            storage = MultiprocessStorage(multiprocess_dir)
        self.storage = storage if storage is not None else _storage.MEMORY
        self._builder = _Builder(self.storage, utf8_names)
        self._lock = new_lock()
        _locks.install()
        self._entries: tuple[_Entry, ...] = ()  # replaced, never mutated: read without a lock
        self._owners: dict[str, _Entry] = {}
        self._written: dict[str, _Entry] = {}  # "'name' with escaping=scheme" (UTF-8 only)
        self._reported: OrderedDict[str, None] = OrderedDict()
        # Failed collections per collector type name: [labels, count, first failure].
        self._errors: dict[str, list[Any]] = {}
        self._self_entry = _Entry(_SelfMetrics(), (frozenset(), ()))
        self._stored_entry = _Entry(_SelfMetrics(), (frozenset(), ()))
        self._target: _TargetInfo | None = None
        if target_info is not None:
            self.set_target_info(target_info)

    def _move_to(self, storage: Storage) -> None:
        """Move this registry and every family in it to ``storage`` (the facade's
        ``init(multiprocess_dir=...)``, before anything was recorded)."""
        with self._lock:
            self.storage = storage
            self._builder = _Builder(storage, self.utf8_names)
            for entry in self._entries:
                if isinstance(entry.collector, Family):
                    entry.collector._move_to(storage)

    # -- instruments (get-or-create) ---------------------------------------------------------

    def get_or_create(self, family: Callable[P, F], *args: P.args, **kwargs: P.kwargs) -> F:
        """The instrument ``family(*args, **kwargs)`` would make, built for this registry:
        the registered one if its definition is the same, else a new one, registered.
        ``RegistrationError`` if the name is taken by something else."""
        if "registry" in kwargs:
            raise TypeError("a registry's instrument methods take no registry= argument")
        fresh = family(*args, registry=self._builder, **kwargs)  # type: ignore[arg-type]
        with self._lock:
            entry = self._owners.get(fresh.name)
            existing = entry.collector if entry is not None else None
            if not isinstance(existing, Family) or existing.name != fresh.name:
                self._add(fresh, self._names_of(fresh))  # raises if any of its names is taken
                return fresh
            if existing.definition() == fresh.definition():
                return existing  # type: ignore[return-value]
            raise RegistrationError(_describe_conflict(existing, fresh))

    # -- registration ----------------------------------------------------------------------

    def register(self, collector: Collector) -> None:
        """Add a collector: an instrument family built on its own, or any object with
        ``collect()``. ``RegistrationError`` if any of its names is taken, ``TypeError`` if
        it is not a collector."""
        if not callable(getattr(collector, "collect", None)):
            raise TypeError(
                f"cannot register {collector!r}: a collector needs a collect() method"
                " returning MetricFamily snapshots"
            )
        if isinstance(collector, Family) and collector.storage is not self.storage:
            raise RegistrationError(
                f"cannot register {collector!r}: its cells come from {collector.storage!r}"
                f" but this registry uses {self.storage!r}; build it with registry="
            )
        names = self._names_of(collector)
        with self._lock:
            self._add(collector, names)

    def _names_of(self, collector: Collector) -> _Names:
        """The names a collector describes (checked against this registry's naming
        rules), or ``None`` when it has no ``describe()``; and, in a UTF-8 registry, the
        names they are written as under each escaping scheme."""
        describe = getattr(collector, "describe", None)
        if not callable(describe):
            return None, ()
        names: set[str] = set()
        written: set[str] = set()
        for family in describe():
            if not isinstance(family, MetricFamily):
                raise TypeError(
                    f"{collector!r}.describe() must return MetricFamily objects, got {family!r}"
                )
            raw, escaped = self._checked_names(family)
            names.update(raw)
            written.update(escaped)
        return frozenset(names), tuple(sorted(written))

    def _add(self, collector: Collector, names: _Names) -> None:
        if any(entry.collector is collector for entry in self._entries):
            raise RegistrationError(f"{collector!r} is already registered")
        entry = _Entry(collector, names)
        # Sorted: the error names the same clash every time.
        for name in sorted(entry.names or ()):
            owner = self._owners.get(name)
            if owner is not None:
                raise RegistrationError(
                    f"cannot register {collector!r}: the name {name!r} is already used by"
                    f" {owner.collector!r}"
                )
        # In a UTF-8 registry, "a.b" and "a_b" would fail every scrape that asks for
        # escaping: written names must not clash either.
        for written in entry.written:
            owner = self._written.get(written)
            if owner is not None:
                raise RegistrationError(
                    f"cannot register {collector!r}: it would be written {written}, as"
                    f" {owner.collector!r} is"
                )
        for name in entry.names or ():
            self._owners[name] = entry
        for written in entry.written:
            self._written[written] = entry
        self._entries = (*self._entries, entry)

    def unregister(self, collector: Collector) -> None:
        """Remove a registered collector; ``KeyError`` if it is not registered here."""
        with self._lock:
            self._remove(collector)

    def _remove(self, collector: Collector) -> None:
        for entry in self._entries:
            if entry.collector is collector:
                break
        else:
            raise KeyError(f"{collector!r} is not registered")
        self._entries = tuple(e for e in self._entries if e is not entry)
        for name in entry.names or ():
            del self._owners[name]
        for written in entry.written:
            del self._written[written]

    def set_target_info(self, labels: Mapping[str, str] | None) -> None:
        """Expose ``labels`` as the ``target_info`` family (see ``__init__``), replacing
        any earlier ones; ``None`` removes the family. Bad labels raise
        ``TypeError``/``ValueError``, and ``RegistrationError`` if another collector owns
        ``target`` or ``target_info``; either way nothing changes."""
        fresh = None if labels is None else _TargetInfo(labels, self.utf8_names)
        names = None if fresh is None else self._names_of(fresh)
        with self._lock:
            old, self._target = self._target, None
            owner = self._owners.get("target_info")
            if old is not None and owner is not None and owner.collector is old:
                # The new family has the same names: adding it after this cannot clash.
                self._remove(old)
            if fresh is not None and names is not None:
                self._add(fresh, names)
                self._target = fresh

    def get_target_info(self) -> dict[str, str] | None:
        """A copy of the ``target_info`` labels, or ``None`` when there are none."""
        target = self._target
        if target is None or self.get("target_info") is not target:
            return None  # none given, or unregistered by hand
        return target.labels()

    def get(self, name: str) -> Any:
        """The collector exposing ``name`` (a family name or a sample name such as
        ``x_total``), or ``None``."""
        entry = self._owners.get(name)
        return entry.collector if entry is not None else None

    # -- snapshot and export ---------------------------------------------------------------

    def collect(self, names: Collection[str] | None = None) -> list[MetricFamily]:
        """A snapshot of every collector's families, sorted by family name.

        With ``names``, only the families exposing one of those names (a family name or a
        sample name such as ``x_total`` or ``x_bucket``), as ``?name[]=`` asks. A collector
        that raises, returns something other than ``MetricFamily`` objects, or exposes a
        name another collector owns is left out of this snapshot, the error logged (once
        per distinct message) and counted in ``tachikoma_metrics_collector_errors_total``;
        the rest is served. Families that are subclasses of ``MetricFamily`` (the
        ``collectors`` builders) are copied into plain ones.
        """
        wanted = None
        if names is not None:
            wanted = names if isinstance(names, (set, frozenset)) else frozenset(names)
        out: list[MetricFamily] = []
        # Names exposed (False) or written (True) by collectors checked at export.
        produced: dict[tuple[bool, str], _Entry] = {}
        entries = self._entries
        # Where the storage keeps values elsewhere (other processes' files), it makes the
        # snapshots of this registry's families, and of families only it knows.
        # (A generator: in process memory it is never read, so an export builds nothing.)
        stored = self.storage.snapshots(
            e.collector for e in entries if isinstance(e.collector, Family)
        )
        for entry in entries:
            described = entry.names
            if wanted is not None and described is not None and wanted.isdisjoint(described):
                continue
            try:
                if stored is not None and isinstance(entry.collector, Family):
                    families = _stored(stored[0], entry.collector.name)
                else:
                    families = _collected(entry.collector)
                if not isinstance(entry.collector, Family):  # families check text on entry
                    for family in families:
                        _check_text_of(family)
                        _check_series_of(family)
                if described is None or any(f.name not in described for f in families):
                    self._check_names(entry, families, produced)
            except Exception as error:  # one collector must never break the export
                self._collector_failed(entry.collector, error)
                continue
            if wanted is not None:
                families = [
                    f for f in families if not wanted.isdisjoint(exposed_names(f.name, f.type))
                ]
            out.extend(families)
        for family in stored[1] if stored is not None else ():
            if wanted is not None and wanted.isdisjoint(exposed_names(family.name, family.type)):
                continue
            try:
                self._check_names(self._stored_entry, [family], produced)
            except RegistrationError as error:
                self._report_once(
                    f"{family.name!r} from {self.storage!r} is left out: {error}", None
                )
            else:
                out.append(family)
        if self._errors and (wanted is None or not wanted.isdisjoint(_COLLECTOR_ERRORS_NAMES)):
            errors = self._errors_family()
            try:
                self._check_names(self._self_entry, [errors], produced)
            except RegistrationError as error:  # a collector's own metric of that name wins
                self._report_once(f"{COLLECTOR_ERRORS}_total is left out: {error}", None)
            else:
                out.append(errors)
        out.sort(key=_family_name)
        return out

    def _errors_family(self) -> MetricFamily:
        """The self-metric: failed collections per collector type name, sorted by name."""
        with self._lock:
            rows = sorted(self._errors.items())
            samples = tuple((labels, float(count)) for _, (labels, count, _) in rows)
            created = tuple(start for _, (_, _, start) in rows)
        return MetricFamily(
            COLLECTOR_ERRORS,
            MetricType.COUNTER,
            _COLLECTOR_ERRORS_HELP,
            "",
            ("collector",),
            samples,
            created=created,
        )

    def _checked_names(self, family: MetricFamily) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Check a family's names against this registry's naming rules; return the names
        it exposes and, in a UTF-8 registry, what they are written as under each escaping
        scheme (as ``"'name' with escaping=scheme"``)."""
        check_metric_name(family.name, self.utf8_names)
        check_label_names(family.labelnames, utf8=self.utf8_names)
        raw = exposed_names(family.name, family.type)
        if not self.utf8_names:
            return raw, ()  # legacy names are written as they are under every scheme
        written: list[str] = []
        for scheme in (UNDERSCORES, DOTS, VALUES):
            base = written_base_name(family.name, scheme, family.type)
            written.extend(
                f"{n!r} with escaping={scheme}" for n in exposed_names(base, family.type)
            )
        return raw, tuple(written)

    def _check_names(
        self,
        entry: _Entry,
        families: list[MetricFamily],
        produced: dict[tuple[bool, str], _Entry],
    ) -> None:
        """Raise if ``families`` (collected from ``entry``, which could not describe them
        all up front) break this registry's naming rules, or expose or are written as a
        name another collector owns or has already exposed in this export."""
        mine: dict[tuple[bool, str], _Entry] = {}
        for family in families:
            raw, written = self._checked_names(family)
            keys = [(False, name) for name in raw] + [(True, name) for name in written]
            for key in keys:
                owned = self._written if key[0] else self._owners
                other = owned.get(key[1]) or produced.get(key) or mine.get(key)
                if other is not None and other is not entry:
                    raise RegistrationError(
                        f"{entry.collector!r} exposes {key[1]!r}, which"
                        f" {other.collector!r} already exposes"
                    )
                if other is entry and key in mine:
                    raise RegistrationError(f"{entry.collector!r} exposes {key[1]!r} twice")
                mine[key] = entry
        produced.update(mine)

    def _collector_failed(self, collector: Collector, error: Exception) -> None:
        """Count a collector's failure (every one) and log it once per distinct message
        (logger ``tachikoma_metrics``)."""
        kind = type(collector).__name__
        with self._lock:
            record = self._errors.get(kind)
            if record is None:
                self._errors[kind] = [LabelSet((kind,)), 1, created_now()]
            else:
                record[1] += 1
        message = f"collector {kind} failed: {type(error).__name__}: {error}"
        self._report_once(f"{message}; its metrics are left out of this export", error)

    def _report_once(self, message: str, error: Exception | None) -> None:
        """Log ``message`` at WARNING unless it is one of the last ``_REPORTED_LIMIT``
        distinct messages logged."""
        with self._lock:
            if message in self._reported:
                return
            self._reported[message] = None
            if len(self._reported) > _REPORTED_LIMIT:
                self._reported.popitem(last=False)
        logger.warning("%s", message, exc_info=error)

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


def _collected(collector: Collector) -> list[MetricFamily]:
    """``collector.collect()`` as a list, every item checked to be a ``MetricFamily`` and
    subclasses (builders whose lists grow) copied into plain ones."""
    families = collector.collect()
    if families.__class__ is not list:
        families = list(families)
    copied = False
    for i, family in enumerate(families):
        if family.__class__ is not MetricFamily:
            if not isinstance(family, MetricFamily):
                raise TypeError(f"collect() must return MetricFamily objects, got {family!r}")
            if not copied:  # the collector's own list is never changed
                families, copied = list(families), True
            families[i] = _plain(family)
    return families


def _stored(snapshots: Mapping[str, MetricFamily | Exception], name: str) -> list[MetricFamily]:
    snapshot = snapshots.get(name)
    if isinstance(snapshot, Exception):
        raise snapshot
    return [] if snapshot is None else [snapshot]


def _plain(family: MetricFamily) -> MetricFamily:
    """A plain ``MetricFamily`` with the fields of ``family`` (series lists as tuples)."""
    return MetricFamily(
        family.name,
        family.type,
        family.help,
        family.unit,
        tuple(family.labelnames),
        tuple(family.samples),
        tuple(family.histograms),
        tuple(family.summaries),
        tuple(family.created),
        tuple(family.exemplars),
        tuple(family.timestamps),
    )


def _check_text_of(family: MetricFamily) -> None:
    """Raise ``ValueError``/``TypeError`` unless every string of a collector-built family
    can be written (valid UTF-8) and every series has one value per label name."""
    check_text("metric name", family.name)
    check_text(f"help of {family.name!r}", family.help)
    check_text(f"unit of {family.name!r}", family.unit)
    for name in family.labelnames:
        check_text(f"label name of {family.name!r}", name)
    expected = len(family.labelnames)
    for series, _ in (*family.samples, *family.histograms, *family.summaries):
        values = series.label_values
        if len(values) != expected:
            raise ValueError(
                f"{family.name!r} has label names {family.labelnames!r} but a series with"
                f" label values {values!r}"
            )
        for value in values:
            check_text(f"label value of {family.name!r}", value)
    for exemplar in family.exemplars:
        if exemplar is not None:
            for pair in exemplar.labels:
                for text in pair:
                    check_text(f"exemplar label of {family.name!r}", text)


def _check_series_of(family: MetricFamily) -> None:
    """Raise ``ValueError`` unless a collector-built family's parallel lists (created
    times, exemplars, timestamps) are empty or have one entry per series, and its times can
    be written by every format: a bad family must fail its collector, not the export."""
    kind = family.type
    if kind is MetricType.HISTOGRAM or kind is MetricType.GAUGE_HISTOGRAM:
        count = len(family.histograms)
    elif kind is MetricType.SUMMARY:
        count = len(family.summaries)
    else:
        count = len(family.samples)
    for what, parallel in (
        ("created times", family.created),
        ("exemplars", family.exemplars),
        ("timestamps", family.timestamps),
    ):
        if parallel and len(parallel) != count:
            raise ValueError(
                f"{family.name!r} has {count} series but {len(parallel)} {what}: give one"
                " per series, or none"
            )
    for seconds in (*family.created, *family.timestamps):
        if seconds is not None and not MIN_TIME <= seconds <= MAX_TIME:
            raise ValueError(
                f"{family.name!r} has the time {seconds!r}, not within the years 1 to 9999"
            )


def _family_name(family: MetricFamily) -> str:
    return family.name


def _describe_conflict(existing: Family[Any], fresh: Family[Any]) -> str:
    old, new = existing.definition().fields(), fresh.definition().fields()
    differences = [
        f"{key} {old.get(key)!r} (registered) vs {new.get(key)!r} (requested)"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]
    return f"metric {fresh.name!r} is already registered with another definition: " + "; ".join(
        differences
    )
