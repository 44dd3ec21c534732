"""Every exception the library raises on purpose, in one public module.

Each subclasses the built-in exception callers would otherwise catch (``ValueError``,
``RuntimeError``), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class ExpositionError(ValueError):
    """The snapshot cannot be written in the negotiated format (reported to the scrape as
    a 500): names that collide once escaped, text that is not valid UTF-8..."""


class RegistrationError(ValueError):
    """A family or collector cannot be registered: one of its names is taken, or the same
    name was asked for with another definition (type, label names, unit or options)."""


class PushError(RuntimeError):
    """The Pushgateway refused a request: ``status`` and the gateway's ``message``."""

    def __init__(self, url: str, status: int, message: str) -> None:
        super().__init__(f"Pushgateway answered {status} for {url}: {message.strip()}")
        self.url = url
        self.status = status
        self.message = message
