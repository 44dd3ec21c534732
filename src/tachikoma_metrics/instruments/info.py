"""Info: key-value pairs describing a target (build, version, configuration), exposed as
one series of value 1 whose labels carry the pairs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from ..model import LabelSet, MetricFamily, MetricType, SeriesLabels
from ..values_simple import InfoCell, InfoRules, InfoValue
from ._family import Child, Family, Registrar

_SUFFIX = "_info"


def refuse_unit(kind: str, name: object, unit: object) -> None:
    """``ValueError`` unless ``unit`` is ``""``: OpenMetrics gives info and stateset
    families no unit (its parsers reject one)."""
    if unit != "":
        raise ValueError(
            f"{kind} {name!r} cannot have a unit, got {unit!r}: OpenMetrics {kind}"
            " families have none"
        )


# Memo of a series' exposed labels: (info it was built from, info keys, labels).
_Exposed = tuple[InfoValue, tuple[str, ...], SeriesLabels]


class InfoChild(InfoCell, Child):
    """One info series: ``info(mapping)`` replaces its pairs; ``get()`` returns them."""

    __slots__ = ("_exposed",)

    def __init__(self, labels: tuple[str, ...], rules: InfoRules) -> None:
        Child.__init__(self, labels)
        self._init_cell(rules)
        self._exposed: _Exposed | None = None


class Info(Family[InfoChild], InfoCell):
    """An info family: each series is exposed as ``<name>_info{<labels>,<info keys>} 1``.

    The name may be given with or without ``_info`` (``_info`` is added once, never
    doubled); ``name`` is always without it, as the OpenMetrics family name. Before its
    first ``info()`` a series is exposed with no info labels, as ``prometheus_client``
    does. Keys follow the registry's label naming rules, must not start with ``__`` nor
    repeat a declared label name; values are ``str``. Info families have no unit.

    Unlabelled, the family is its own series, with the methods of ``InfoChild``.
    """

    __slots__ = ("_exposed", "_utf8")

    TYPE: ClassVar[MetricType] = MetricType.INFO
    CHILD: ClassVar[type[InfoChild]] = InfoChild

    def __init__(
        self,
        name: str,
        help: str = "",
        labelnames: Iterable[str] = (),
        *,
        unit: str = "",
        registry: Registrar | None = None,
    ) -> None:
        refuse_unit("info", name, unit)
        self._utf8 = registry.utf8_names if registry is not None else False
        self._exposed: _Exposed | None = None
        super().__init__(name, help, labelnames, unit=unit, registry=registry)

    def _init_cell_for_family(self) -> None:
        self._init_cell(InfoRules(self._name, self._labelnames, self._utf8))

    @staticmethod
    def _family_name(name: str) -> str:
        if name.endswith(_SUFFIX):
            name = name[: -len(_SUFFIX)]
            if not name:
                raise ValueError("invalid info name '_info': nothing is left before _info")
        return name

    def get(self) -> dict[str, str]:
        """The info of an unlabelled family."""
        self._unlabelled("get")
        return super().get()

    def _new_child(self, labels: tuple[str, ...]) -> InfoChild:
        return self._child_class(labels, self._rules)

    def _snapshot(self) -> MetricFamily:
        series: Sequence[InfoChild | Info] = self._series()
        infos = [one._info for one in series]  # each read once: one info() or the next
        keys = tuple(sorted({key for info in infos for key in info}))
        samples: list[tuple[SeriesLabels, float]]
        if keys:
            samples = [
                (_exposed(one, info, keys), 1.0) for one, info in zip(series, infos, strict=True)
            ]
        else:
            samples = [(one, 1.0) for one in series]
        return MetricFamily(
            self._name,
            MetricType.INFO,
            self._help,
            self._unit,
            self._labelnames + keys,
            samples=samples,
        )


def _exposed(series: InfoChild | Info, info: InfoValue, keys: tuple[str, ...]) -> SeriesLabels:
    """The labels ``series`` is exposed with: its label values, then its value of each info
    key (``""`` for a key it lacks). Kept until its info or the family's keys change, so an
    unchanged series is rendered once, not at every scrape."""
    memo = series._exposed
    if memo is not None and memo[0] is info and memo[1] == keys:
        return memo[2]
    labels = LabelSet((*series.label_values, *(info.get(key, "") for key in keys)))
    series._exposed = (info, keys, labels)
    return labels
