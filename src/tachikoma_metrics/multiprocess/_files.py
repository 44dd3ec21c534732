"""The on-disk format: one append-only file of records per process, read by any process.

A file is a sequence of chunks. Each chunk starts with a 32-byte header: the magic
``TKMP0001``, ``used`` (the end of its last complete record, from the chunk's start), its
size, and 8 reserved bytes. Records follow, 8-byte aligned::

    u32 length (whole record, a multiple of 8)  u16 kind  u16 0  u32 crc32(payload)
    u32 payload length  u32 0   payload (UTF-8 JSON), zero-padded to 8   float64 slots...

A writer (the one process owning the file) appends a record whole, then stores the new
``used`` (one aligned 8-byte store), so a reader taking ``used`` first never meets half a
record. The slots are the values: the owner changes them in place, each with one aligned
8-byte store (``memoryview`` item assignment), which readers see whole. Chunks are never
moved or remapped, so a view handed to a value cell stays valid for the file's life; a full
chunk is followed by a new one, twice as large (up to 4 MiB, or as large as one record
needs). Nothing here is ever truncated; only a dead process's whole file is deleted.

The payload's checksum and every header field are checked on reading: a record that fails
ends the reading of that file (everything before it is kept) and is reported.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Any, cast

MAGIC = b"TKMP0001"
CHUNK_HEADER = 32
RECORD_HEADER = 16
FIRST_CHUNK = 64 * 1024
LARGEST_CHUNK = 4 * 1024 * 1024
_PAGE = mmap.PAGESIZE
_HEADER = struct.Struct("<IHHII")  # length, kind, 0, crc, payload length (+4 bytes of 0)

# Record kinds.
FAMILY = 1  # payload: a family's definition; no slots
SERIES = 2  # payload: [family id, label values, role]; slots: the series' values
EXEMPLAR = 3  # payload: [family id, label values, bucket]; slots: a seqlocked exemplar
INFO = 4  # payload: [family id, label values, {key: value}]; slots: [time written]
KINDS = frozenset({FAMILY, SERIES, EXEMPLAR, INFO})


# Payloads decoded, by their bytes: every process's file names the same families and
# series, so a scrape or a compaction parses each once. Decoded values are never changed.
_decoded: dict[bytes, Any] = {}
_DECODED_MAX = 1 << 18
_MISSING = object()


class CorruptFile(ValueError):
    """A file's bytes break the format: what is wrong and where."""


def _aligned(size: int, to: int = 8) -> int:
    return (size + to - 1) // to * to


def encode_payload(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Chunk:
    """One mapped chunk of a file being written: its map, a byte view and a float view."""

    __slots__ = ("floats", "map", "offset", "raw", "size", "used")

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self.offset = offset
        self.size = size
        self.map = mmap.mmap(
            fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=offset
        )
        self.raw = memoryview(self.map)
        self.floats = self.raw.cast("d")
        self.used = CHUNK_HEADER
        self.raw[0:8] = MAGIC
        struct.pack_into("<QQ", self.map, 16, size, 0)
        self.raw.cast("q")[1] = self.used


class FileWriter:
    """The file one process writes. Not thread-safe: callers hold the process's lock.

    ``append`` returns the chunk and the index (in its float view) of the record's first
    slot; the record's offset in the file names it (``SeriesRef``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        self.fd = os.open(path, flags, 0o644)
        self.chunks: list[Chunk] = []
        self.end = 0  # the file's size: where the next chunk goes
        self._grow(FIRST_CHUNK)

    def _grow(self, size: int) -> Chunk:
        os.ftruncate(self.fd, self.end + size)
        chunk = Chunk(self.fd, self.end, size)
        self.chunks.append(chunk)
        self.end += size
        return chunk

    def append(self, kind: int, payload: bytes, slots: int) -> tuple[Chunk, int, int]:
        """Append a record with ``slots`` zeroed float slots; return its chunk, the index of
        its first slot in ``chunk.floats`` and the record's offset in the file."""
        body = _aligned(len(payload))
        length = RECORD_HEADER + body + 8 * slots
        chunk = self.chunks[-1]
        if chunk.used + length > chunk.size:
            wanted = max(min(chunk.size * 2, LARGEST_CHUNK), _aligned(CHUNK_HEADER + length, _PAGE))
            chunk = self._grow(wanted)
        start = chunk.used
        raw = chunk.raw
        _HEADER.pack_into(chunk.map, start, length, kind, 0, zlib.crc32(payload), len(payload))
        raw[start + RECORD_HEADER : start + RECORD_HEADER + len(payload)] = payload
        chunk.used = start + length
        chunk.raw.cast("q")[1] = chunk.used  # publish: the record is whole
        first = (start + RECORD_HEADER + body) // 8
        return chunk, first, chunk.offset + start

    def close(self) -> None:
        for chunk in self.chunks:
            chunk.floats.release()
            chunk.raw.release()
            chunk.map.close()
        self.chunks = []
        os.close(self.fd)


@dataclass(slots=True)
class Record:
    """One record as read: where it is, what it says, and where its slots are."""

    offset: int  # in the file: the record's identity
    kind: int
    payload: Any
    first: int  # index of its first slot in the reader's float view of the file
    slots: int


class FileReader:
    """A file read by another process (or its owner), mapped read-only.

    Records are parsed once: later reads parse only what was appended since. ``floats``
    views the whole mapped file as float64s; ``values(record)`` reads a record's slots, each
    with one 8-byte load. A file that shrank (someone truncated it) is mapped anew."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.records: list[Record] = []
        self.error: str | None = None
        self._map: mmap.mmap | None = None
        self.floats: memoryview[float] | None = None
        self.raw: memoryview[int] | None = None
        self._identity = (-1, -1)
        self._chunk = 0  # offset of the chunk being parsed
        self._position = CHUNK_HEADER  # within it

    def refresh(self) -> None:
        """Map the file as it is now and parse new records. Raises ``OSError`` if it cannot
        be opened; a format error is kept in ``error`` (records before it stay)."""
        with open(self.path, "rb") as handle:
            status = os.fstat(handle.fileno())
            size = status.st_size
            if (status.st_dev, status.st_ino) != self._identity:
                # Another file under this name (the archive is replaced whole): start over.
                self._unmap()
                self.records = []
                self.error = None
                self._chunk, self._position = 0, CHUNK_HEADER
                self._identity = (status.st_dev, status.st_ino)
            if self._map is None or size != len(self._map):
                self._unmap()
                if size < _PAGE or size % 8:
                    self.error = self.error or f"{self.path}: size {size} is not a valid file"
                    if size < _PAGE:
                        return
                    size -= size % 8
                self._map = mmap.mmap(handle.fileno(), size, mmap.MAP_SHARED, mmap.PROT_READ)
                self.raw = memoryview(self._map)
                self.floats = self.raw[: size - size % 8].cast("d")
        if self.error is None:
            try:
                self._parse()
            except CorruptFile as error:
                self.error = str(error)

    def _parse(self) -> None:
        raw = self.raw
        assert raw is not None
        size = len(raw)
        while self._chunk < size:
            base = self._chunk
            if base + CHUNK_HEADER > size:
                raise CorruptFile(f"{self.path}: chunk at {base} is cut short")
            if bytes(raw[base : base + 8]) != MAGIC:
                if base > 0 and not any(raw[base : base + CHUNK_HEADER]):
                    return  # a chunk being added: its header is not written yet
                raise CorruptFile(f"{self.path}: no chunk header at offset {base}")
            used, chunk_size = struct.unpack_from("<QQ", raw, base + 8)
            if chunk_size < _PAGE or chunk_size % _PAGE or base + chunk_size > size:
                raise CorruptFile(f"{self.path}: chunk at {base} has a bad size {chunk_size}")
            if not CHUNK_HEADER <= used <= chunk_size or used % 8:
                raise CorruptFile(f"{self.path}: chunk at {base} has a bad end {used}")
            while self._position < used:
                self._record(base, used)
            if base + chunk_size >= size or self._chunk_is_current(base, chunk_size):
                return
            self._chunk = base + chunk_size
            self._position = CHUNK_HEADER

    def _chunk_is_current(self, base: int, chunk_size: int) -> bool:
        """Whether the writer may still append to this chunk: the next chunk does not exist
        yet (its header is unwritten)."""
        raw = self.raw
        assert raw is not None
        after = base + chunk_size
        return bytes(raw[after : after + 8]) != MAGIC

    def _record(self, base: int, used: int) -> None:
        raw = self.raw
        assert raw is not None
        start = base + self._position
        length, kind, _, crc, size = _HEADER.unpack_from(raw, start)
        body = _aligned(size)
        if (
            kind not in KINDS
            or length % 8
            or length < RECORD_HEADER + body
            or self._position + length > used
        ):
            raise CorruptFile(f"{self.path}: bad record header at offset {start}")
        payload = bytes(raw[start + RECORD_HEADER : start + RECORD_HEADER + size])
        decoded = _decoded.get(payload, _MISSING)
        if decoded is _MISSING:
            if zlib.crc32(payload) != crc:
                raise CorruptFile(f"{self.path}: record at offset {start} fails its checksum")
            try:
                decoded = json.loads(payload)
            except ValueError:
                raise CorruptFile(f"{self.path}: record at offset {start} is not JSON") from None
            if len(_decoded) >= _DECODED_MAX:
                _decoded.clear()
            _decoded[payload] = decoded
        elif zlib.crc32(payload) != crc:
            raise CorruptFile(f"{self.path}: record at offset {start} fails its checksum")
        first = (start + RECORD_HEADER + body) // 8
        slots = (length - RECORD_HEADER - body) // 8
        self.records.append(Record(start, kind, decoded, first, slots))
        self._position += length

    def values(self, record: Record) -> list[float]:
        floats = self.floats
        assert floats is not None
        return cast("list[float]", floats[record.first : record.first + record.slots].tolist())

    def _unmap(self) -> None:
        for view in (self.floats, self.raw):
            if view is not None:
                view.release()
        if self._map is not None:
            self._map.close()
        self._map = self.floats = self.raw = None

    def close(self) -> None:
        self._unmap()
