"""client_golang's own histogram as an oracle: ``tests/go_oracle/`` is a small Go program that
records observations in a ``prometheus.Histogram`` of client_golang (Debian package
``golang-github-prometheus-client-golang-dev``, version 1.14) and prints what its ``Write()``
returns, which this module decodes with the official ``protobuf`` package (``metrics_proto``).

The program is built once per test session, offline, in GOPATH mode against Debian's packaged
sources (``GO111MODULE=off``, ``GOPATH=/usr/share/gocode``, ``GOPROXY=off``), into a temporary
directory removed at exit. Go's build cache is the usual one (``go env GOCACHE``), so only the
first build on a machine compiles client_golang (about 10 s); a missing toolchain or package
fails the test (never skips it): ``bash scripts/test.sh`` installs them.

CGO is left as Go chooses: Debian's golang-1.19-go ships its standard library precompiled with
cgo on, which the build reuses without running a C compiler; ``CGO_ENABLED=0`` would recompile
``net``, ``net/http``, ``crypto/tls`` and the rest (about 40 s on two cores) for nothing.
"""

from __future__ import annotations

import array
import atexit
import base64
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from metrics_proto import message_classes, split_delimited

SOURCE = Path(__file__).resolve().parent / "go_oracle"
GOPATH = "/usr/share/gocode"
CLIENT_GOLANG = "golang-github-prometheus-client-golang-dev"
PACKAGES = {
    CLIENT_GOLANG: "github.com/prometheus/client_golang/prometheus",
    "golang-github-prometheus-client-model-dev": "github.com/prometheus/client_model/go",
}
DEFAULT_ZERO_THRESHOLD = 2.0**-128  # client_golang's DefNativeHistogramZeroThreshold
BUILD_TIMEOUT = 300.0  # seconds; a cold build takes about 10 s (40 s with CGO_ENABLED=0)
RUN_TIMEOUT = 120.0  # seconds; a million observations take about 1 s

_lock = threading.Lock()
_binary: Path | None = None
_build_error: str | None = None  # why the session's build failed: later calls fail the same


def _install_hint() -> str:
    return (
        "run the set-up script `bash scripts/test.sh`, which installs the Debian packages"
        " 'golang-go', " + ", ".join(f"'{name}'" for name in PACKAGES)
    )


def _build() -> Path | str:
    """Build ``tests/go_oracle`` into a fresh temporary directory and return the binary, or
    why that failed."""
    go = shutil.which("go")
    if go is None:
        return f"the Go toolchain ('go') is not installed: {_install_hint()}"
    for package, import_path in PACKAGES.items():
        if not (Path(GOPATH) / "src" / import_path).is_dir():
            return f"{GOPATH}/src/{import_path} is missing (package {package}): {_install_hint()}"
    directory = Path(tempfile.mkdtemp(prefix="client-golang-oracle-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    env = dict(
        os.environ,
        GO111MODULE="off",
        GOPATH=GOPATH,
        GOPROXY="off",
        GOFLAGS="",
        GOTOOLCHAIN="local",  # Go >= 1.21 would otherwise be free to fetch another toolchain
    )
    if not any(env.get(name) for name in ("GOCACHE", "XDG_CACHE_HOME", "HOME")):
        env["GOCACHE"] = str(directory / "gocache")  # Go has nowhere else to put its cache
    binary = directory / "go_oracle"
    command = [go, "build", "-buildvcs=false", "-o", str(binary), "."]
    try:
        result = subprocess.run(
            command,
            cwd=SOURCE,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"building the client_golang oracle took more than {BUILD_TIMEOUT:.0f} s"
    if result.returncode != 0 or not binary.is_file():
        return (
            f"building the client_golang oracle failed (exit status {result.returncode}):\n"
            f"  cd {SOURCE} && GO111MODULE=off GOPATH={GOPATH} GOPROXY=off {' '.join(command)}\n"
            f"{result.stdout}{result.stderr}\n{_install_hint()}"
        )
    return binary


def oracle_binary() -> Path:
    """The built oracle; the first call of the session builds it. Fails the calling test
    (never skips it) where the build is impossible."""
    global _binary, _build_error
    with _lock:
        if _binary is None and _build_error is None:
            built = _build()
            if isinstance(built, Path):
                _binary = built
            else:
                _build_error = built
        if _binary is None:
            pytest.fail(_build_error or "the client_golang oracle was not built")
        return _binary


def _float_bytes(observations: Iterable[float]) -> bytes:
    """The observations as little-endian IEEE 754 doubles: every float, NaN and infinity
    included, reaches Go bit for bit."""
    values = array.array("d", observations)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tobytes()


def _request(
    observations: Iterable[float],
    *,
    factor: float,
    zero_threshold: float,
    max_buckets: int = 0,
    max_zero_threshold: float = 0.0,
    classic_buckets: Iterable[float] = (),
    separately: bool = False,
) -> dict[str, Any]:
    return {
        "factor": factor,
        "zero_threshold": zero_threshold,
        "max_buckets": max_buckets,
        "min_reset_duration_ns": 0,
        "max_zero_threshold": max_zero_threshold,
        "classic_buckets": list(classic_buckets),
        "observations_f64le": base64.b64encode(_float_bytes(observations)).decode("ascii"),
        "separately": separately,
    }


def client_golang_metric(
    observations: Iterable[float],
    *,
    factor: float = 1.1,
    zero_threshold: float = DEFAULT_ZERO_THRESHOLD,
    max_buckets: int = 160,
    max_zero_threshold: float = 0.0,
    classic_buckets: Iterable[float] = (),
) -> Any:
    """The ``io.prometheus.client.Metric`` that a client_golang histogram writes after
    observing ``observations`` in order, from one goroutine.

    The options are client_golang's ``HistogramOpts``: ``NativeHistogramBucketFactor``,
    ``NativeHistogramZeroThreshold`` (there 0 means the default 2**-128 and a negative value
    a zero bucket of width 0), ``NativeHistogramMaxBucketNumber`` (0: no limit),
    ``NativeHistogramMaxZeroThreshold`` and ``Buckets``; ``NativeHistogramMinResetDuration``
    is always 0 (never reset).
    """
    request = _request(
        observations,
        factor=factor,
        zero_threshold=zero_threshold,
        max_buckets=max_buckets,
        max_zero_threshold=max_zero_threshold,
        classic_buckets=classic_buckets,
    )
    return _decode_metric(_run(request))


def run_request(request: dict[str, Any]) -> Any:
    """Run the oracle on one JSON request (see ``tests/go_oracle/main.go``) and return the
    decoded ``Metric``, or the list of them with ``"separately": true``."""
    data = _run(request)
    return _decode_all(data) if request.get("separately") else _decode_metric(data)


def _run(request: dict[str, Any]) -> bytes:
    body = json.dumps(request, allow_nan=False).encode()
    result = subprocess.run(
        [str(oracle_binary())], input=body, capture_output=True, timeout=RUN_TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise AssertionError(
            f"the client_golang oracle failed (exit status {result.returncode}):"
            f" {result.stderr.decode(errors='replace')}"
        )
    return result.stdout


def _decode_metric(data: bytes) -> Any:
    metric = message_classes()["Metric"]()
    metric.ParseFromString(data)
    return metric


def _decode_all(data: bytes) -> list[Any]:
    return [_decode_metric(chunk) for chunk in split_delimited(data)]


def client_golang_buckets_of(
    values: Iterable[float],
    *,
    factor: float = 1.1,
    zero_threshold: float = DEFAULT_ZERO_THRESHOLD,
) -> list[tuple[str, int | None]]:
    """Where client_golang puts each value, observed alone in a fresh histogram (one run of
    the oracle for all of them): ``("positive", i)``, ``("negative", i)``, ``("zero", None)``,
    or ``("none", None)`` for NaN."""
    values = list(values)
    request = _request(values, factor=factor, zero_threshold=zero_threshold, separately=True)
    metrics = _decode_all(_run(request))
    assert len(metrics) == len(values)
    places: list[tuple[str, int | None]] = []
    for metric in metrics:
        h = metric.histogram
        positive, negative = native_buckets(h)
        if h.zero_count:
            places.append(("zero", None))
        elif positive:
            ((index, _),) = positive.items()
            places.append(("positive", index))
        elif negative:
            ((index, _),) = negative.items()
            places.append(("negative", index))
        else:
            places.append(("none", None))
    return places


@functools.cache
def client_golang_bounds() -> dict[int, tuple[float, ...]]:
    """client_golang's ``nativeHistogramBounds``, read from Debian's source: schema (0..8) ->
    the fractions in [0.5, 1) that it compares a value's ``frexp`` fraction with. They are
    float literals, often not the float nearest the real bound ``0.5 * 2**(k / 2**s)``, and
    client_golang's buckets follow them, not the real numbers: at schema ``s > 0`` the bucket
    of ``v = f * 2**e`` (``math.frexp``) is the first ``k`` with ``bounds[s][k] >= f``, plus
    ``(e - 1) * 2**s``."""
    source = (Path(GOPATH) / "src" / PACKAGES[CLIENT_GOLANG] / "histogram.go").read_text()
    start = source.index("var nativeHistogramBounds = [][]float64{")
    table = source[start : source.index("\n}\n", start)]
    parts = re.split(r'// Schema "?(\d+)"?:', table)[1:]
    bounds = {
        int(schema): tuple(float(x) for x in re.findall(r"\d+\.\d+(?:e[+-]?\d+)?", text))
        for schema, text in zip(parts[::2], parts[1::2], strict=True)
    }
    assert sorted(bounds) == list(range(9))
    assert all(len(bounds[s]) == 2**s and bounds[s][0] == 0.5 for s in bounds)
    return bounds


def client_golang_histogram(
    observations: Iterable[float],
    factor: float = 1.1,
    zero_threshold: float = DEFAULT_ZERO_THRESHOLD,
    max_buckets: int = 160,
    **options: Any,
) -> Any:
    """The ``io.prometheus.client.Histogram`` message of ``client_golang_metric``: schema,
    zero_threshold, zero_count, positive/negative spans and deltas, sample_count and
    sample_sum (and classic buckets where ``classic_buckets`` is given)."""
    return client_golang_metric(
        observations,
        factor=factor,
        zero_threshold=zero_threshold,
        max_buckets=max_buckets,
        **options,
    ).histogram


def bucket_counts(spans: Iterable[Any], deltas: Iterable[int]) -> dict[int, int]:
    """Bucket index -> count, from protobuf spans (offset, length) and delta-encoded counts;
    the empty buckets that fill small gaps inside a span are kept, with count 0."""
    counts: dict[int, int] = {}
    delta_iter = iter(deltas)
    index = 0
    count = 0
    for n, span in enumerate(spans):
        index = span.offset if n == 0 else index + span.offset
        for _ in range(span.length):
            count += next(delta_iter)
            counts[index] = count
            index += 1
    assert next(delta_iter, None) is None, "more deltas than the spans' lengths"
    return counts


def native_buckets(histogram: Any) -> tuple[dict[int, int], dict[int, int]]:
    """(positive, negative) bucket index -> count of a ``Histogram`` message, populated
    buckets only (without the zero-count buckets that fill small gaps inside spans)."""
    positive = bucket_counts(histogram.positive_span, histogram.positive_delta)
    negative = bucket_counts(histogram.negative_span, histogram.negative_delta)
    return (
        {i: n for i, n in positive.items() if n},
        {i: n for i, n in negative.items() if n},
    )
