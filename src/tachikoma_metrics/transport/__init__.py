"""Transports: the HTTP server, WSGI and ASGI apps, Pushgateway, textfiles."""

from ..errors import PushError
from ._core import MetricsEndpoint, Response
from .asgi import make_asgi_app
from .push import (
    PushHandler,
    basic_auth_handler,
    default_handler,
    delete_from_gateway,
    gateway_url,
    passthrough_redirect_handler,
    push_to_gateway,
    pushadd_to_gateway,
    tls_auth_handler,
)
from .server import MetricsServer, start_http_server
from .textfile import write_textfile
from .wsgi import make_wsgi_app

__all__ = [
    "MetricsEndpoint",
    "MetricsServer",
    "PushError",
    "PushHandler",
    "Response",
    "basic_auth_handler",
    "default_handler",
    "delete_from_gateway",
    "gateway_url",
    "make_asgi_app",
    "make_wsgi_app",
    "passthrough_redirect_handler",
    "push_to_gateway",
    "pushadd_to_gateway",
    "start_http_server",
    "tls_auth_handler",
    "write_textfile",
]
