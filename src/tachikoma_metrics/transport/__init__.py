"""Transports: the HTTP server, WSGI and ASGI apps, Pushgateway, textfiles."""

from ..errors import PushError
from ._core import MetricsEndpoint, Response
from .asgi import make_asgi_app
from .push import delete_from_gateway, gateway_url, push_to_gateway
from .server import MetricsServer, start_http_server
from .textfile import write_textfile
from .wsgi import make_wsgi_app

__all__ = [
    "MetricsEndpoint",
    "MetricsServer",
    "PushError",
    "Response",
    "delete_from_gateway",
    "gateway_url",
    "make_asgi_app",
    "make_wsgi_app",
    "push_to_gateway",
    "start_http_server",
    "write_textfile",
]
