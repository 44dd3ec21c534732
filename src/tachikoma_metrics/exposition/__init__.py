"""Encoders: pure functions from snapshot families to exposition bytes or text."""

from .text import CONTENT_TYPE as TEXT_CONTENT_TYPE
from .text import encode_text

__all__ = ["TEXT_CONTENT_TYPE", "encode_text"]
