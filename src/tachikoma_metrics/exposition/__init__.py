"""Encoders and negotiation: pure functions from snapshot families to exposition bodies.

``FORMATS`` lists every format; ``encode`` writes any of them, ``negotiate`` picks one
from request headers; ``encode_text``, ``encode_openmetrics`` and ``encode_protobuf``
write one format (text formats as ``str``).
"""

from ._escaping import SCHEMES, UNDERSCORES, ExpositionError
from .formats import FORMATS, Format, encode, get_format
from .negotiate import Negotiation, negotiate
from .openmetrics import encode_openmetrics
from .protobuf import encode_protobuf
from .text import CONTENT_TYPE as TEXT_CONTENT_TYPE
from .text import encode_text

__all__ = [
    "FORMATS",
    "SCHEMES",
    "TEXT_CONTENT_TYPE",
    "UNDERSCORES",
    "ExpositionError",
    "Format",
    "Negotiation",
    "encode",
    "encode_openmetrics",
    "encode_protobuf",
    "encode_text",
    "get_format",
    "negotiate",
]
