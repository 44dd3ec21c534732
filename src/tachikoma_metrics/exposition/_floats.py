"""Float rendering as Prometheus' Go encoders write it."""

from __future__ import annotations

_SPECIAL = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}


# Rendered values, most of them small integers; bounded so odd values cannot grow it forever.
_CACHE: dict[float, str] = {}
_CACHE_LIMIT = 4096


def format_go(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'g', -1, 64)``, with Prometheus' spelling of specials.

    Shortest round-trip digits; exponent form when the decimal exponent is below -4 or at
    least 6 (``1e+06``, ``1e-05``); integral values without a fraction (``1``); ``-0.0``
    as ``0``; ``+Inf``, ``-Inf``, ``NaN``.
    """
    cached = _CACHE.get(value)
    if cached is not None:
        return cached
    text = _format_go(value)
    if len(_CACHE) < _CACHE_LIMIT:
        _CACHE[value] = text
    return text


def _format_go(value: float) -> str:
    text = repr(float(value))
    if text[-2:] == ".0":
        digits = text[:-2]
        negative = digits[0] == "-"
        magnitude = digits[1:] if negative else digits
        if len(magnitude) <= 6:
            return "0" if magnitude == "0" else digits
        # 1e6 <= |v| < 1e16: Python writes all digits, Go an exponent.
        mantissa = magnitude.rstrip("0")
        exponent = len(magnitude) - 1
        head = mantissa[0] + ("." + mantissa[1:] if len(mantissa) > 1 else "")
        return f"{'-' if negative else ''}{head}e+{exponent:02d}"
    if "e" in text:
        return text  # Python and Go agree in exponent form
    if "." in text:
        integral = text.split(".", 1)[0].lstrip("-")
        if len(integral) > 6:
            negative = text[0] == "-"
            digits = (integral + text.split(".", 1)[1]).rstrip("0")
            exponent = len(integral) - 1
            head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
            return f"{'-' if negative else ''}{head}e+{exponent:02d}"
        return text
    return _SPECIAL[text]


# The same memo for the OpenMetrics form.
OM_CACHE: dict[float, str] = {}


def format_openmetrics(value: float) -> str:
    """The OpenMetrics canonical form: Go's digits, with ``.0`` on integral values."""
    cached = OM_CACHE.get(value)
    if cached is not None:
        return cached
    text = format_go(value)
    if not ("." in text or "e" in text or text[-1] in "fN"):
        text += ".0"
    if len(OM_CACHE) < _CACHE_LIMIT:
        OM_CACHE[value] = text
    return text
