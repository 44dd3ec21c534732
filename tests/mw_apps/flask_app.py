"""A Flask app for gunicorn in multi-process mode: ``init`` with the directory named by
``TACHIKOMA_METRICS_MULTIPROC_DIR`` (as ``mp_apps`` do), ``wsgi_middleware`` around its
``wsgi_app`` recording in the global registry, ``/metrics`` dispatched outside it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from flask import Flask, Response
from werkzeug.middleware.dispatcher import DispatcherMiddleware

import tachikoma_metrics as metrics
from tachikoma_metrics.middleware import wsgi_middleware

metrics.init(multiprocess_dir=os.environ["TACHIKOMA_METRICS_MULTIPROC_DIR"])

app = Flask("mw_flask")


@app.get("/ping")
def ping() -> str:
    return f"{os.getpid()}\n"


@app.get("/missions/<int:mission_id>")
def mission(mission_id: int) -> str:
    return f"mission {mission_id}\n"


@app.get("/fail")
def fail() -> str:
    raise RuntimeError("mission failed")


@app.get("/stream")
def stream() -> Response:
    def chunks() -> Iterator[bytes]:
        yield b"first\n"
        time.sleep(0.2)
        yield b"last\n"

    return Response(chunks(), mimetype="text/plain")


app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
    wsgi_middleware(app.wsgi_app), {"/metrics": metrics.make_wsgi_app()}
)
