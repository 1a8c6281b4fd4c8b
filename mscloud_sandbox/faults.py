"""Injected failures: throttling, outages, slow answers, dropped connections, AADSTS errors,
200 answers that are not whole pages (``body``: ``empty``, ``empty_object``, ``no_value``,
``cut``, ``emptied``, ``emptied_uncounted``, ``no_next``; on Graph's ``value`` and
Partner Center's ``items`` alike), and Partner Center's other documented answers to a
subscription PATCH (``pascal``, ``accepted``, ``accepted_empty``).

A :class:`FaultRule` says which requests it hits (service, path substring, method,
tenant) and what happens to them.  The application asks :meth:`FaultSet.match` before
dispatching each request; a rule with ``times`` is used up after that many hits.
"""

import itertools
import json
import threading
from dataclasses import asdict, dataclass, field

from werkzeug.wrappers import Response

from . import errors

# Names accepted for FaultRule.service -> the first path segment served.
SERVICES = {
    "login": "login",
    "identity": "login",
    "partnercenter": "partnercenter",
    "partner_center": "partnercenter",
    "graph": "graph",
    "pricing": "pricing",
    "blobs": "blobs",
    "usage_exports": "blobs",
    "certs": "certs",
    "webhooks": "certs",
}

_ids = itertools.count(1)


@dataclass
class FaultRule:
    service: str | None = None
    path: str | None = None  # substring of the request path
    method: str | None = None
    tenant: str | None = None
    status: int | None = None
    retry_after: int | None = None
    delay: float | None = None
    reset: bool = False
    aadsts: int | None = None
    # a 200 answer that is not a whole page; the list is Graph's "value" or Partner
    # Center's "items", the next link Graph's @odata.nextLink or Partner Center's
    # links.next (with its continuationToken):
    #   "empty" (no body), "empty_object" ({}), "no_value" (the page without its list),
    #   "cut" (half of the list, no next or delta link, counts kept: a page cut short),
    #   "emptied" (the list emptied, no next link, counts kept: totalCount now wrong),
    #   "emptied_uncounted" (the list emptied, without next link or count),
    #   "no_next" (only the next link dropped; Partner Center's continuationToken stays),
    #   "omit:<property>,<property>" (the page's objects come without these properties, as
    #   Microsoft leaves out properties it has no value for),
    #   "drop:<n>" (the page's last n objects left out, no next or delta link, and its count
    #   lowered by n: a cut page that a stale, eventually consistent count agrees with);
    # a subscription PATCH's other documented answers (the change is applied either way):
    #   "pascal" (200, the subscription with PascalCase keys: Id, Quantity, ...),
    #   "accepted" (202, the subscription as it was before the change: still pending),
    #   "accepted_empty" (202 without a body)
    body: str | None = None
    times: int | None = None  # None: until cleared
    after: int = 0  # matching requests let through untouched first (e.g. to hit page 2)
    id: int = field(default_factory=lambda: next(_ids))

    def __post_init__(self):
        if self.service is not None:
            if self.service not in SERVICES:
                raise ValueError(f"unknown service {self.service!r}")
            self.service = SERVICES[self.service]
        if self.method is not None:
            self.method = self.method.upper()
        if self.aadsts is not None and int(self.aadsts) not in AADSTS:
            raise ValueError(f"unsupported AADSTS code {self.aadsts}")
        if self.body is not None and not (
            self.body in BODY_FAULTS
            or self.body.startswith(OMIT_PREFIX)
            or (self.body.startswith(DROP_PREFIX) and self.body[len(DROP_PREFIX) :].isdigit())
        ):
            raise ValueError(f"unknown body fault {self.body!r} (one of {sorted(BODY_FAULTS)})")

    def matches(self, service, method, path, tenant):
        return (
            (self.service is None or self.service == service)
            and (self.path is None or self.path in path)
            and (self.method is None or self.method == method)
            and (self.tenant is None or (tenant or "").lower() == self.tenant.lower())
        )

    def to_dict(self):
        return asdict(self)


class FaultSet:
    """The active rules; thread-safe."""

    def __init__(self):
        self._rules = []
        self._lock = threading.Lock()

    def add(self, rule=None, **fields):
        rule = rule or FaultRule(**fields)
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule_id):
        """Drop one rule by id; False if there was none."""
        with self._lock:
            before = len(self._rules)
            self._rules[:] = [rule for rule in self._rules if rule.id != rule_id]
            return len(self._rules) != before

    def clear(self):
        with self._lock:
            self._rules.clear()

    def rules(self):
        with self._lock:
            return list(self._rules)

    def match(self, service, method, path, tenant=None):
        """The first rule hitting this request (one use of it is consumed), or None."""
        with self._lock:
            for rule in self._rules:
                if rule.matches(service, method, path, tenant):
                    if rule.after > 0:
                        rule.after -= 1
                        continue
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return rule
        return None


# -- 200 answers that are not whole pages ----------------------------------------

BODY_FAULTS = frozenset(
    {"empty", "empty_object", "no_value", "cut", "emptied", "emptied_uncounted", "no_next",
     "pascal", "accepted", "accepted_empty"}
)  # fmt: skip
PATCH_ANSWERS = frozenset({"pascal", "accepted", "accepted_empty"})
OMIT_PREFIX = "omit:"
DROP_PREFIX = "drop:"
# set by a handler on the request (environ) when a fault may need it: the object as it
# was before the request changed it (a PATCH answered 202 shows it unchanged)
BEFORE_KEY = "mscloud_sandbox.before"


def reshape_body(kind, response, service="graph", before=None):
    """`response` (the real answer) turned into the broken (or other-shaped) answer of
    fault `kind`; ``before``: the changed object as it was (``accepted``)."""
    if kind in PATCH_ANSWERS and response.status_code >= 400:
        return response  # a refused change stays refused
    ids = {k: v for k, v in response.headers.items() if k.lower().startswith("ms-")}
    if kind in ("empty", "accepted_empty"):
        return Response(b"", 202 if kind == "accepted_empty" else 200, ids,
                        content_type="application/json")  # fmt: skip
    if kind == "empty_object":
        return Response(b"{}", 200, content_type="application/json")
    try:
        body = json.loads(response.get_data())
    except ValueError:
        return response
    if not isinstance(body, dict):
        return response
    if kind == "accepted":
        answer = json.dumps(before if before is not None else body)
        return Response(answer, 202, ids, content_type="application/json")
    if kind == "pascal":
        return Response(json.dumps(_pascal(body)), response.status_code, ids,
                        content_type="application/json")  # fmt: skip
    _reshape_page(kind, body, service)
    return Response(json.dumps(body), 200, content_type="application/json")


def _reshape_page(kind, body, service):
    listed, count = ("items", "totalCount") if service != "graph" else ("value", "@odata.count")
    if kind == "no_value":
        body.pop(listed, None)
    elif kind in ("cut", "emptied", "emptied_uncounted", "no_next"):
        items = body.get(listed) or []
        if kind == "cut":
            body[listed] = items[: len(items) // 2]
        elif kind != "no_next":
            body[listed] = []
        if kind == "emptied_uncounted":
            body.pop(count, None)
        body.pop("@odata.nextLink", None)
        if isinstance(body.get("links"), dict):
            body["links"].pop("next", None)
        if kind != "no_next":
            body.pop("@odata.deltaLink", None)
            body.pop("continuationToken", None)
    elif kind.startswith(DROP_PREFIX):
        dropped = int(kind[len(DROP_PREFIX) :])
        items = body.get(listed) or []
        body[listed] = items[: max(len(items) - dropped, 0)]
        for link in ("@odata.nextLink", "@odata.deltaLink", "continuationToken"):
            body.pop(link, None)
        if isinstance(body.get("links"), dict):
            body["links"].pop("next", None)
        if isinstance(body.get(count), int):
            body[count] = max(body[count] - dropped, 0)
    elif kind.startswith(OMIT_PREFIX):
        omitted = {name.strip() for name in kind[len(OMIT_PREFIX) :].split(",")}
        body[listed] = [
            {k: v for k, v in item.items() if k not in omitted} if isinstance(item, dict) else item
            for item in body.get(listed) or []
        ]


def _pascal(value):
    """Every key of `value` (nested too) with its first letter in upper case."""
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: _pascal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_pascal(item) for item in value]
    return value


# -- AADSTS codes the token endpoint can be told to answer ---------------------

# code -> (HTTP status, OAuth error, message); {client_id} and {tenant} are filled in.
AADSTS = {
    50011: (
        400,
        "invalid_request",
        "The redirect URI '{redirect_uri}' specified in the request does not match the "
        "redirect URIs configured for the application '{client_id}'. Make sure the "
        "redirect URI sent in the request matches one added to your application.",
    ),
    50076: (
        400,
        "invalid_grant",
        "Due to a configuration change made by your administrator, or because you moved "
        "to a new location, you must use multi-factor authentication to access "
        "'{resource}'.",
    ),
    50078: (
        400,
        "invalid_grant",
        "Presented multi-factor authentication has expired due to policies configured by "
        "your administrator; you must refresh it to access '{resource}'.",
    ),
    65001: (
        400,
        "invalid_grant",
        "The user or administrator has not consented to use the application with ID "
        "'{client_id}'. Send an interactive authorization request for this user and "
        "resource.",
    ),
    90002: (
        400,
        "invalid_tenant",
        "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
        "and are signing into the correct cloud. This may happen if there are no active "
        "subscriptions for the tenant.",
    ),
    700016: (
        400,
        "unauthorized_client",
        "Application with identifier '{client_id}' was not found in the directory "
        "'{tenant}'. This can happen if the application has not been installed by the "
        "administrator of the tenant or consented to by any user in the tenant. You may "
        "have sent your authentication request to the wrong tenant.",
    ),
    700082: (
        400,
        "invalid_grant",
        "The refresh token has expired due to inactivity. The token was issued on "
        "{issued} and was inactive for 90.00:00:00.",
    ),
    # Entra ID Protection: the signed-in account (the partner's delegated administrator)
    # is risky and a risk policy blocks it
    530034: (
        400,
        "invalid_grant",
        "A delegated administrator was blocked from accessing the tenant due to account risk.",
    ),
    53011: (400, "invalid_grant", "User blocked due to risk on home tenant."),
    9002313: (
        400,
        "invalid_request",
        "Invalid request. Request is malformed or invalid.",
    ),
    7000119: (
        400,
        "unauthorized_client",
        "Client application with identifier '{client_id}' is not allowed to be used by "
        "tenant '{tenant}'.",
    ),
    7000215: (
        401,
        "invalid_client",
        "Invalid client secret provided. Ensure the secret being sent in the request is "
        "the client secret value, not the client secret ID, for a secret added to app "
        "'{client_id}'.",
    ),
    7000222: (
        401,
        "invalid_client",
        "The provided client secret keys for app '{client_id}' are expired. Visit the "
        "Azure portal to create new keys for your app, or consider using certificate "
        "credentials for added security.",
    ),
    7000229: (
        401,
        "invalid_client",
        "The client application {client_id} is missing service principal in the tenant "
        "{tenant}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119",
    ),
}


class _Blank(dict):
    def __missing__(self, key):
        return "unknown"


def aadsts_message(code, **values):
    return AADSTS[int(code)][2].format_map(_Blank(values))


def aadsts_error(code, clock_now=None, **values):
    """The token endpoint's error response for an AADSTS code of the table."""
    status, error, _ = AADSTS[int(code)]
    return errors.token_error(status, error, int(code), aadsts_message(code, **values), clock_now)


# -- service-shaped responses for injected (and unexpected) statuses -----------

_GRAPH_CODES = {
    403: "Authorization_RequestDenied",
    429: "TooManyRequests",
    500: "generalException",
    503: "serviceNotAvailable",
}
_TEXT = {
    403: "Insufficient privileges to complete the operation.",
    429: "Too many requests. Please retry after the time given in the Retry-After header.",
    500: "An internal server error occurred. Please retry the request.",
    503: "The service is temporarily unavailable. Please retry the request later.",
}
# Entra ID's codes for throttling / sign-in service failures / transient outages.
_LOGIN = {
    429: ("temporarily_unavailable", 90055, "The tenant is being throttled: too many requests."),
    500: ("server_error", 50000, "There was an error issuing a token or a sign-in issue."),
    503: ("temporarily_unavailable", 90033, "A transient error has occurred. Please try again."),
}


def service_error(service, status, clock_now=None, retry_after=None, aadsts=None):
    """An error response of `status` shaped like `service` answers it; with `aadsts`
    (a code of the table), a Graph or Partner Center answer carrying that sign-in
    refusal (e.g. a 403 for a risky delegated administrator)."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    text = _TEXT.get(status, f"The request failed with status {status}.")
    if aadsts is not None and service != "login":
        text = f"AADSTS{int(aadsts)}: {aadsts_message(aadsts)}"
    if service == "graph":
        code = _GRAPH_CODES.get(status, "generalException")
        return errors.graph_error(status, code, text, clock_now, headers)
    if service in ("partnercenter", "pricing"):
        return errors.partner_center_error(status, status, text, headers)
    if service == "blobs":
        code = "ServerBusy" if status in (429, 503) else "InternalError"
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f"<Error><Code>{code}</Code><Message>{text}</Message></Error>"
        )
        return Response(body, status, headers, content_type="application/xml")
    if service == "login":
        error, code, message = _LOGIN.get(status, ("server_error", 50000, text))
        return errors.token_error(status, error, code, message, clock_now, headers)
    return errors.json_response({"error": {"code": status, "message": text}}, status, headers)
