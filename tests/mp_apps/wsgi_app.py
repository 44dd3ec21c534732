"""A WSGI app for gunicorn: ``/work`` counts a request (before answering) and answers this
process's id, ``/pid`` answers the id only, ``/metrics`` serves the merged metrics of every
process sharing the directory."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import tachikoma_metrics as metrics

from ._shared import pid_body, record_request

_metrics_app = metrics.make_wsgi_app()


def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    if path == "/metrics":
        answer: Iterable[bytes] = _metrics_app(environ, start_response)
        return answer
    if path == "/work":
        body = record_request()
    elif path in ("/pid", "/ping"):
        body = pid_body()
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
