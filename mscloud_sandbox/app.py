"""The HTTPS server: one port for login, Partner Center, Graph, pricing and the control API.

Requests are dispatched on the first path segment to the service modules' URL maps;
fault rules are applied first.  See ``README.md`` for the URLs.
"""

import contextlib
import importlib
import re
import socket
import struct
import sys
import threading
import time
import traceback

import jwt
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request

from . import errors, identity, invoices, tokens, unbilled, usage_exports
from .clock import Clock
from .faults import BEFORE_KEY, FaultSet, aadsts_error, reshape_body, service_error
from .tls import LocalTLS

# Partner Center's unbilled line items are the sandbox's own ledger of subscription
# changes (unbilled.py): its routes join Partner Center's and the control API's here.
unbilled.register()
invoices.register()
# the usage exports' control route (usage_exports.py)
usage_exports.register()

# first path segment -> (service name, module serving it)
PREFIXES = {
    "partnercenter": ("partnercenter", "partner_center"),
    "graph": ("graph", "graph"),
    "pricing": ("pricing", "pricing"),
    "blobs": ("blobs", "usage_exports"),
    "certs": ("certs", "webhooks"),
    "_control": ("control", "control"),
}
LOGIN = ("login", "identity")
_CUSTOMER_IN_PATH = re.compile(r"/customers/([0-9a-fA-F-]{36})")


class _ConnectionReset(Exception):
    """Raised by a fault rule: drop the connection without answering."""


class _RequestHandler(WSGIRequestHandler):
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms waits
    # keep-alive, as Microsoft's endpoints do: clients reuse one TLS connection
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle kept-alive connection is closed after this many seconds

    def send_header(self, keyword, value):
        # Werkzeug closes every connection, since http.server cannot skip a request
        # body the application left unread. The sandbox reads every body (wsgi_app),
        # so it keeps the connection unless the client asked to close it.
        if keyword.lower() == "connection" and value.lower() == "close":
            return
        super().send_header(keyword, value)

    def log_request(self, code="-", size="-"):
        if getattr(self.server, "verbose", False):
            super().log_request(code, size)


class Sandbox:
    """A running (once started) stand-in for Microsoft's cloud over one World.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        world,
        clock=None,
        host="127.0.0.1",
        port=0,
        token_lifetime=3600,
        ca_path=None,
        verbose=False,
        latency=None,
    ):
        self.world = world
        # a delay before each Microsoft answer (not the control API), as Microsoft's
        # 100-500 ms: latency.Latency, or None for none
        self.latency = latency
        self.clock = clock or Clock()
        self.host = host
        self.port = port
        self.verbose = verbose
        self.faults = FaultSet()
        self.tokens = tokens.TokenService(self.clock, token_lifetime)
        self._tls = LocalTLS(ca_path)
        self.tls = self._tls.ca
        self.ca_path = self._tls.ca_path
        self._server = None
        self._thread = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self):
        self._server = make_server(
            self.host,
            self.port,
            self.wsgi_app,
            threaded=True,
            request_handler=_RequestHandler,
            ssl_context=self._tls.server_context(),
        )
        # Accept in the serving thread, shake hands in the request's own thread, so one
        # slow client cannot hold up the others.
        self._server.socket.do_handshake_on_connect = False
        self._server.verbose = self.verbose
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="mscloud-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._thread.join()
            self._server.server_close()
            self._server = None
        self._tls.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    @property
    def base_url(self):
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"https://{host}:{self.port}"

    @property
    def urls(self):
        base = self.base_url
        return {
            "login": base,
            "partner_center": f"{base}/partnercenter",
            "graph": f"{base}/graph",
            "pricing": f"{base}/pricing",
            "control": f"{base}/_control",
        }

    def require_token(self, request, resource):
        """Verified claims of the bearer token for `resource`, else ApiError (401/403)."""
        return tokens.require_token(self, request, resource)

    # -- WSGI ----------------------------------------------------------------------

    def wsgi_app(self, environ, start_response):
        request = Request(environ)
        request.get_data()  # read the whole body: the next request on the connection starts clean
        try:
            response = self.handle(request)
        except _ConnectionReset:
            raise ConnectionResetError("fault rule: connection reset") from None
        return response(environ, start_response)

    def handle(self, request):
        first, _, rest = request.path.lstrip("/").partition("/")
        if first in PREFIXES:
            (service, module_name), path = PREFIXES[first], "/" + rest
        else:
            (service, module_name), path = LOGIN, request.path
        if service != "control":
            if self.latency is not None:
                self.latency.wait()
            fault_response = self._apply_faults(service, request, first, path)
            if isinstance(fault_response, str):  # a body fault: answer, then break it
                answer = self._dispatch(service, module_name, request, path)
                before = request.environ.get(BEFORE_KEY)
                return reshape_body(fault_response, answer, service, before)
            if fault_response is not None:
                return fault_response
        return self._dispatch(service, module_name, request, path)

    def _dispatch(self, service, module_name, request, path):
        try:
            module = importlib.import_module(f".{module_name}", __package__)
            endpoint, values = module.url_map.bind_to_environ(request.environ).match(
                path, method=request.method
            )
            return endpoint(self, request, **values)
        except errors.ApiError as exc:
            return exc.response
        except NotFound:
            return self._not_found(service, path)
        except MethodNotAllowed:
            return service_error(service, 405, self.clock.now())
        except HTTPException as exc:
            return exc.get_response(request.environ)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            return service_error(service, 500, self.clock.now())

    def _not_found(self, service, path):
        if service == "graph":
            segment = path.strip("/").split("/")[-1]
            return errors.graph_error(
                400,
                "BadRequest",
                f"Resource not found for the segment '{segment}'.",
                self.clock.now(),
            )
        if service in ("partnercenter", "pricing"):
            return errors.partner_center_error(404, 404, f"The resource '{path}' was not found.")
        return errors.json_response({"error": "not_found", "path": path}, 404)

    # -- faults --------------------------------------------------------------------

    def _apply_faults(self, service, request, first, path):
        if not self.faults.rules():
            return None
        tenant = self._request_tenant(service, request, first, path)
        rule = self.faults.match(service, request.method, request.path, tenant)
        if rule is None:
            return None
        if rule.delay:
            time.sleep(rule.delay)
        if rule.reset:
            self._reset_connection(request)
        if rule.status:
            return service_error(
                service, rule.status, self.clock.now(), rule.retry_after, rule.aadsts
            )
        if rule.aadsts:
            return self._aadsts_fault(rule.aadsts, request, first)
        return rule.body

    def _request_tenant(self, service, request, first, path):
        if service == "login":
            try:
                return identity.resolve_tenant(self.world, first) or first
            except identity.SignInError:
                return first
        if service in ("partnercenter", "pricing"):
            found = _CUSTOMER_IN_PATH.search(path)
            if found:
                return found.group(1)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            return jwt.decode(token.strip(), options={"verify_signature": False}).get("tid")
        except jwt.PyJWTError:
            return None

    def _aadsts_fault(self, code, request, first):
        values = request.values
        return aadsts_error(
            code,
            self.clock.now(),
            client_id=values.get("client_id", ""),
            tenant=first,
            redirect_uri=values.get("redirect_uri", ""),
            resource=values.get("scope", ""),
            issued=self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    @staticmethod
    def _reset_connection(request):
        """Close the TCP connection with a RST; the client sees a ConnectionError."""
        sock = request.environ.get("werkzeug.socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        raise _ConnectionReset()
