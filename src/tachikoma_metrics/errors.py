"""Every exception the library raises on purpose, in one public module.

Each subclasses the built-in exception callers would otherwise catch (``ValueError``,
``RuntimeError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class RegistrationError(ValueError):
    """A family or collector cannot be registered: one of its names is taken, or the same
    name was asked for with another definition (type, label names, unit or options)."""
