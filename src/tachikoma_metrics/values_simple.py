"""Value cells that hold one value object rather than a number: an info series' key-value
pairs and a stateset series' current state.

Same storage contract as ``values`` (``STORAGE`` lists the attributes, ``_init_cell()``
sets them, ``WRITES`` names the recording methods, ``Idle`` validates and drops), with a
simpler concurrency contract, which holds without relying on the GIL:

* A write validates its whole argument first, builds the new value (an immutable object)
  and publishes it with one reference store: last writer wins. Rejected input raises
  before that store, so a bad call changes nothing.
* A read loads the reference once, so it sees the value before a write or after it,
  never a mix of two writes.

Nothing is added up, so these cells take no per-thread slots (no ``_owner``, nothing is
folded when a thread exits). What a value is checked against (the family's name, its
declared label names, its registry's naming rules, its states) is one object per family,
shared by its children: ``InfoRules`` and ``States``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from typing import TYPE_CHECKING, ClassVar

from ._locks import new_lock
from ._names import check_label_names, check_text
from .values import Cell

# An info value: label names to values, keys sorted. Never mutated once stored (readers
# hold it without a lock); ``get()`` hands out copies.
InfoValue = dict[str, str]

_NO_INFO: InfoValue = {}


class InfoRules:
    """What an info family's series check their keys and values against, shared by the
    family and its children.

    A key must be a label name under the registry's naming rules (``utf8``), not reserved
    (``__`` prefix) and not one of the family's declared label names; a value must be a
    ``str`` that is valid UTF-8. Keys accepted once are remembered in ``known`` (replaced,
    never mutated), so a call with known keys checks only its values; in a UTF-8 registry
    a new key is also checked against every key known so far and the declared label names,
    since all of them become label names of one family: two names that an escaping scheme
    would write alike are refused where they first appear, not at every scrape.
    """

    __slots__ = ("declared", "known", "lock", "name", "utf8")

    def __init__(self, name: str, declared: tuple[str, ...], utf8: bool) -> None:
        self.name = name
        self.declared = declared
        self.utf8 = utf8
        self.known: frozenset[str] = frozenset()
        self.lock = new_lock()

    def check(self, values: object) -> InfoValue:
        """``values`` (a mapping of keys to values) as a new dict with its keys sorted,
        after checking every key and value; ``TypeError``/``ValueError`` naming the first
        offending one."""
        if values.__class__ is not dict and not isinstance(values, Mapping):
            raise TypeError(
                f"info of {self.name!r} must be a mapping of label names to str values,"
                f" got {values!r}"
            )
        items = list(values.items())  # one read of the caller's mapping
        known = self.known
        for key, value in items:
            # Known plain-str keys and plain ASCII values: nothing more to check.
            if (
                key.__class__ is not str
                or value.__class__ is not str
                or not value.isascii()
                or key not in known
            ):
                return self._check_slow(items)
        items.sort()  # keys are distinct: tuples compare by key alone
        return dict(items)

    def _check_slow(self, items: list[tuple[object, object]]) -> InfoValue:
        known = self.known
        for key, value in items:
            if not isinstance(value, str):
                raise TypeError(
                    f"info of {self.name!r}: the value of {key!r} must be a str, got {value!r}"
                )
            if not value.isascii():
                check_text(f"info of {self.name!r}: the value of {key!r}", value)
        new = [key for key, _ in items if key not in known]
        if new:
            self._learn(new)
        # str subclasses become plain str: a stored value never carries their behaviour.
        return dict(sorted((str.__str__(key), str.__str__(value)) for key, value in items))

    def _learn(self, keys: list[object]) -> None:
        """Check keys not seen before and remember them."""
        for key in keys:
            if not isinstance(key, str):
                raise TypeError(f"info keys of {self.name!r} must be str label names, got {key!r}")
            if key in self.declared:
                raise ValueError(
                    f"info key {key!r} of {self.name!r} is one of its declared label names"
                    f" {self.declared!r}: the info cannot set it"
                )
        try:
            names = check_label_names(keys, utf8=self.utf8)
        except ValueError as error:
            raise ValueError(f"invalid info key for {self.name!r}: {error}") from None
        with self.lock:
            known = self.known
            if self.utf8:
                fresh = [name for name in names if name not in known]
                try:
                    check_label_names((*self.declared, *sorted(known), *fresh), utf8=True)
                except ValueError as error:
                    raise ValueError(
                        f"invalid info key for {self.name!r}: {error} (with its label names"
                        " and the info keys it already has)"
                    ) from None
            self.known = known.union(str.__str__(name) for name in names)


class _IdleInfo:
    """``InfoCell`` writes that validate and drop (see ``values.Cell.Idle``)."""

    __slots__ = ()
    _rules: InfoRules

    def info(self, values: Mapping[str, str]) -> None:
        self._rules.check(values)


class InfoCell(Cell):
    """Key-value pairs (label names to label values) describing one series; empty until
    the first ``info()``."""

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE: ClassVar[tuple[str, ...]] = ("_info", "_mp", "_rules")
    WRITES: ClassVar[tuple[str, ...]] = ("info",)
    Idle = _IdleInfo
    _info: InfoValue
    _rules: InfoRules

    def _init_cell(self, rules: InfoRules) -> None:
        """``rules``: the family's, shared by its children."""
        self._rules = rules
        self._info = _NO_INFO

    def info(self, values: Mapping[str, str]) -> None:
        """Replace the info with ``values`` (label names to str values; the mapping is
        copied). ``TypeError``/``ValueError`` naming a bad key or value; nothing changes."""
        self._info = self._rules.check(values)

    def get(self) -> dict[str, str]:
        """The info as a new dict (keys sorted); ``{}`` before the first ``info()``."""
        return self._info.copy()


def check_states(family: str, states: object) -> tuple[str, ...]:
    """``states`` as a tuple, in the order given; ``TypeError``/``ValueError`` unless they
    are a non-empty, ordered collection of distinct, non-empty, valid UTF-8 strings."""
    if isinstance(states, (str, bytes, bytearray)):
        raise TypeError(
            f"states of {family!r} must be a sequence of str, not {states!r}"
            f" (write states=({states!r},))"
        )
    if isinstance(states, (Set, Mapping)) or not isinstance(states, Iterable):
        raise TypeError(
            f"states of {family!r} must be an ordered sequence of str (the first is the"
            f" initial state), got {states!r}"
        )
    names = tuple(states)
    if not names:
        raise ValueError(f"states of {family!r} must not be empty")
    seen: set[str] = set()
    for state in names:
        if not isinstance(state, str):
            raise TypeError(f"states of {family!r} must be str, got {state!r} in {names!r}")
        check_text(f"state of {family!r}", state)
        if not state:
            raise ValueError(
                f"states of {family!r} must not be empty strings (an empty label value is"
                f" no label): {names!r}"
            )
        if state in seen:
            raise ValueError(f"duplicate state {state!r} of {family!r} in {names!r}")
        seen.add(state)
    return tuple(str.__str__(state) for state in names)


class States:
    """A stateset family's states, shared by the family and its children: ``names`` in
    declared order and each name's position."""

    __slots__ = ("family", "index", "names")

    def __init__(self, family: str, names: tuple[str, ...]) -> None:
        """``names`` as ``check_states`` returns them."""
        self.family = family
        self.names = names
        self.index = {name: i for i, name in enumerate(names)}

    def position(self, state: object) -> int:
        """The position of ``state``; ``TypeError``/``ValueError`` unless it is one of
        the states."""
        if state.__class__ is str or isinstance(state, str):
            index = self.index.get(state)
            if index is not None:
                return index
            raise ValueError(
                f"unknown state {state!r} for {self.family!r}; expected one of {self.names!r}"
            )
        raise TypeError(
            f"state of {self.family!r} must be a str, one of {self.names!r}; got {state!r}"
        )


class _IdleStateSet:
    """``StateSetCell`` writes that validate and drop (see ``values.Cell.Idle``)."""

    __slots__ = ()
    _states: States

    def state(self, state: str) -> None:
        self._states.position(state)


class StateSetCell(Cell):
    """Which one of a fixed set of states a series is in; the first state until the
    first ``state()``. Stored as the state's position in ``States.names``."""

    if not TYPE_CHECKING:
        __slots__ = ()
    STORAGE: ClassVar[tuple[str, ...]] = ("_mp", "_state", "_states")
    WRITES: ClassVar[tuple[str, ...]] = ("state",)
    Idle = _IdleStateSet
    _state: int
    _states: States

    def _init_cell(self, states: States) -> None:
        """``states``: the family's, shared by its children."""
        self._states = states
        self._state = 0

    def state(self, state: str) -> None:
        """Make ``state`` the current state. ``ValueError`` for an unknown state,
        ``TypeError`` for a non-str; nothing changes."""
        self._state = self._states.position(state)

    def get(self) -> str:
        """The current state."""
        return self._states.names[self._state]
