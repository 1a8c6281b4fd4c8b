"""Error bodies shaped exactly as Microsoft's services shape them.

Every sandbox service raises :class:`ApiError` (or returns one of these responses);
the application turns the exception into the response.
"""

import json
import uuid

from werkzeug.wrappers import Response


def json_response(payload, status=200, headers=None):
    return Response(
        json.dumps(payload),
        status=status,
        headers=headers or {},
        content_type="application/json; charset=utf-8",
    )


class ApiError(Exception):
    """Raise from a handler; carries the response to send."""

    def __init__(self, response):
        super().__init__(response.status)
        self.response = response


def graph_error(status, code, message, clock_now=None, headers=None, client_request_id=None):
    """Graph: {"error": {"code", "message", "innerError": {date, request-id, ...}}}: its
    own request id, and the caller's client-request-id echoed (a new one if none came),
    also as response headers."""
    request_id = str(uuid.uuid4())
    client_request_id = client_request_id or str(uuid.uuid4())
    inner = {"request-id": request_id, "client-request-id": client_request_id}
    if clock_now is not None:
        inner["date"] = clock_now.strftime("%Y-%m-%dT%H:%M:%S")
    body = {"error": {"code": code, "message": message, "innerError": inner}}
    ids = {"request-id": request_id, "client-request-id": client_request_id}
    return json_response(body, status, {**ids, **(headers or {})})


def partner_center_error(status, code, description, headers=None):
    """Partner Center: {"code": n, "description": "...", "data": [], "source": "PartnerFD"}."""
    body = {"code": code, "description": description, "data": [], "source": "PartnerFD"}
    return json_response(body, status, headers)


def token_error(status, error, aadsts, message, clock_now=None, headers=None):
    """Entra ID token endpoint error body."""
    correlation_id = str(uuid.uuid4())
    trace_id = str(uuid.uuid4())
    stamp = clock_now.strftime("%Y-%m-%d %H:%M:%SZ") if clock_now else ""
    description = (
        f"AADSTS{aadsts}: {message} Trace ID: {trace_id} "
        f"Correlation ID: {correlation_id} Timestamp: {stamp}"
    )
    body = {
        "error": error,
        "error_description": description,
        "error_codes": [int(aadsts)],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
    }
    return json_response(body, status, headers)
