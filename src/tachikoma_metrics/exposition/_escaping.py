"""Escaping: UTF-8 names under the escaping schemes, and the backslash escapes of text.

Legacy-valid names are written as they are under every scheme (as Go's
``EscapeMetricFamily`` does). Other names are quoted when ``allow-utf-8`` was negotiated,
else rewritten by the scheme asked for: ``underscores``, ``dots`` or ``values``, as
``prometheus/common``'s ``model.EscapeName`` defines them.
"""

from __future__ import annotations

# The schemes and name escaping are name rules, checked at definition time too: they live
# in _names and are re-exported here for the writers.
from .._names import ALLOW_UTF8 as ALLOW_UTF8
from .._names import DOTS as DOTS
from .._names import SCHEMES as SCHEMES
from .._names import UNDERSCORES as UNDERSCORES
from .._names import VALUES as VALUES
from .._names import check_scheme as check_scheme
from .._names import escape_name as escape_name
from .._names import written_base_name as written_base_name
from ..errors import ExpositionError as ExpositionError


def escape_text(text: str, quotes: bool = True) -> str:
    r"""Escape ``\`` and LF as ``\\`` and ``\n`` and, with ``quotes``, ``"`` as ``\"``;
    nothing else changes. Label values, quoted names and OpenMetrics HELP escape quotes;
    text-format HELP does not."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    if quotes and '"' in text:
        text = text.replace('"', '\\"')
    return text


def quote(text: str) -> str:
    r"""``text`` in double quotes, with ``\``, ``"`` and LF escaped."""
    return '"' + escape_text(text) + '"'
