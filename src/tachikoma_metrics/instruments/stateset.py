"""StateSet: which one of a fixed set of states something is in (``prometheus_client``'s
``Enum``), exposed as one series per state, 1 for the current state and 0 for the others."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from .._names import check_label_names
from ..model import LabelSet, MetricFamily, MetricType, SeriesLabels
from ..values_simple import States, StateSetCell, check_states
from ._family import Child, Family, Registrar
from .info import refuse_unit

_ON = 1.0
_OFF = 0.0


class StateSetChild(StateSetCell, Child):
    """One stateset series: ``state(name)`` sets its state; ``get()`` returns it."""

    __slots__ = ("_state_labels",)

    def __init__(self, labels: tuple[str, ...], states: States) -> None:
        Child.__init__(self, labels)
        self._init_cell(states)
        # One label set per state, built once: the state label follows the child's labels.
        self._state_labels: tuple[SeriesLabels, ...] = tuple(
            LabelSet((*labels, state)) for state in states.names
        )


class StateSet(Family[StateSetChild], StateSetCell):
    """A stateset family: a series per state, labelled ``<name>="<state>"``, 1 for the
    current state and 0 for the others (OpenMetrics type ``stateset``; a gauge in text
    0.0.4), exactly as ``prometheus_client``'s ``Enum`` writes it.

    ``states`` (keyword-only) lists the states in exposition order; the first is the
    initial state. They are part of the definition: get-or-create compares them. The
    family's name is also the label that holds the state, so it must be a valid label name
    under the registry's naming rules (``a:b`` is a metric name, not a label name) and
    must not be one of ``labelnames``. Statesets have no unit.

    Unlabelled, the family is its own series, with the methods of ``StateSetChild``.
    """

    __slots__ = ("_state_labels", "_states_given", "_utf8")

    TYPE: ClassVar[MetricType] = MetricType.STATESET
    CHILD: ClassVar[type[StateSetChild]] = StateSetChild

    def __init__(
        self,
        name: str,
        help: str = "",
        labelnames: Iterable[str] = (),
        *,
        states: Iterable[str],
        unit: str = "",
        registry: Registrar | None = None,
    ) -> None:
        refuse_unit("stateset", name, unit)
        self._states_given = check_states(name, states)
        self._utf8 = registry.utf8_names if registry is not None else False
        super().__init__(name, help, labelnames, unit=unit, registry=registry)

    def _init_cell_for_family(self) -> None:
        # Runs once the name and label names are checked, before the family is registered.
        name, labelnames = self._name, self._labelnames
        try:
            check_label_names((name,), utf8=self._utf8)
        except ValueError as error:
            raise ValueError(
                f"invalid stateset name {name!r}: a stateset's name is also the label that"
                f" holds its state, and {error}"
            ) from None
        if name in labelnames:
            raise ValueError(
                f"stateset {name!r} cannot declare a label named {name!r}: that label holds"
                f" its state (label names {labelnames!r})"
            )
        if self._utf8:
            try:
                check_label_names((*labelnames, name), utf8=True)
            except ValueError as error:
                raise ValueError(
                    f"invalid stateset {name!r}: its name is also a label name, and {error}"
                ) from None
        states = States(name, self._states_given)
        self._init_cell(states)
        self._state_labels = tuple(LabelSet((state,)) for state in states.names)

    @property
    def states(self) -> tuple[str, ...]:
        """The states, in declared (and exposition) order; the first is the initial one."""
        return self._states.names

    def _options(self) -> tuple[tuple[str, object], ...]:
        return (("states", self._states.names),)

    def describe(self) -> list[MetricFamily]:
        """The family's metadata with no series; its last label name is its own name."""
        return [
            MetricFamily(
                self._name, self.TYPE, self._help, self._unit, (*self._labelnames, self._name)
            )
        ]

    def get(self) -> str:
        """The current state of an unlabelled family."""
        self._unlabelled("get")
        return super().get()

    def _new_child(self, labels: tuple[str, ...]) -> StateSetChild:
        return self._child_class(labels, self._states)

    def _snapshot(self) -> MetricFamily:
        samples: list[tuple[SeriesLabels, float]] = []
        append = samples.append
        one: StateSetChild | StateSet
        for one in self._series():
            current = one._state  # read once: one state() or the next, never a mix
            for position, labels in enumerate(one._state_labels):
                append((labels, _ON if position == current else _OFF))
        return MetricFamily(
            self._name,
            MetricType.STATESET,
            self._help,
            self._unit,
            (*self._labelnames, self._name),
            samples=samples,
        )
