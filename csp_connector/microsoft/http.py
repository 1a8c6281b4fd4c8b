"""The one HTTP entry point to Microsoft: timeouts, host allow-list, retries, paging.

Every call goes through :class:`MicrosoftHttp`. It only calls https URLs on the hosts
of the connection's endpoints; retries connection errors and 5xx with exponential
back-off; honours ``Retry-After`` on 429 within a bounded total wait; sends
``MS-RequestId`` (kept on retry, so Partner Center treats a retry as the same request)
and ``MS-CorrelationId``; and reports each exchange to ``on_exchange`` so the caller
can log it (bodies are redacted there, on demand).
"""

import email.utils
import json as jsonlib
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from . import errors, redact

RETRY_STATUSES = frozenset({500, 502, 503, 504})
MAX_THROTTLED_ATTEMPTS = 20
MIN_CALL_SECONDS = 1.0  # a call with less time than this left is not started


class Clock:
    """The time a scheduled call of the integrator has (``time.monotonic()`` values).

    ``soft``: after it no step, page or retry starts (the budget); ``hard``: by then
    every call has ended (what the worker has left before Odoo stops it, less a
    margin). ``slowest`` is the longest answer of the current step so far: a page
    boundary stops when the next page could not arrive before ``hard``.
    """

    def __init__(self, soft=None, hard=None):
        self.soft = soft
        self.hard = hard
        self.slowest = 0.0

    def left(self):
        """Seconds until ``hard`` (None: no limit)."""
        return None if self.hard is None else self.hard - time.monotonic()

    def spent(self):
        now = time.monotonic()
        if self.soft is not None and now >= self.soft:
            return True
        return self.hard is not None and self.hard - now < max(self.slowest, MIN_CALL_SECONDS)

    def new_step(self):
        self.slowest = 0.0


@dataclass
class Exchange:
    """One attempt of one request, as the request log shows it."""

    service: str
    tenant: str | None
    method: str
    url: str  # redacted
    attempt: int
    request_id: str
    correlation_id: str
    duration_ms: int
    status: int | None = None
    error: str | None = None
    _request_body: object = field(default=None, repr=False)
    _response: object = field(default=None, repr=False)
    # a streamed answer's body is the caller's to read (a file of any size): not kept
    streamed: bool = False

    def request_text(self):
        body = self._request_body
        if body is None:
            return ""
        if isinstance(body, dict):
            body = urlencode(body)
        return redact.redact_text(body)

    def response_text(self):
        if self._response is None:
            return ""
        if self.streamed and self._response.status_code < 400:
            return "(streamed: the body is read by the caller, not kept)"
        return redact.redact_text(self._response.text)


class MicrosoftHttp:
    """HTTP client bound to one connection's endpoints.

    ``endpoints`` maps a service name (login, partnercenter, graph, pricing) to its base
    URL. ``ca_bundle`` is passed as ``verify`` on every request, so it wins over
    REQUESTS_CA_BUNDLE (which requests would otherwise prefer to a Session setting).
    """

    def __init__(
        self,
        endpoints,
        *,
        ca_bundle=None,
        timeout=30,
        max_attempts=4,
        max_wait=120.0,
        backoff=1.0,
        on_exchange=None,
        correlation_id=None,
        sleep=time.sleep,
        session=None,
    ):
        self.endpoints = {name: url.rstrip("/") for name, url in endpoints.items() if url}
        self.allowed_hosts = {urlsplit(url).netloc.lower() for url in self.endpoints.values()}
        self.verify = ca_bundle or True
        # one number (connect and read): Odoo's test harness only accepts a scalar
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.backoff = backoff
        self.on_exchange = on_exchange
        self.correlation_id = correlation_id or str(uuid.uuid4())
        self.sleep = sleep
        self.session = session or requests.Session()
        # time.monotonic() after which no retry starts (a scheduled run's time budget)
        self.deadline = None
        # a scheduled call's Clock: every wait ends before its hard deadline
        self.clock = None

    # -- URLs -------------------------------------------------------------

    def url(self, service, path):
        return f"{self.endpoints[service]}/{path.lstrip('/')}"

    def check_url(self, url):
        parts = urlsplit(url)
        if parts.scheme != "https" or parts.netloc.lower() not in self.allowed_hosts:
            raise errors.HostNotAllowedError(
                f"Refused to call {redact.redact_url(url)}: only https URLs on "
                f"{', '.join(sorted(self.allowed_hosts))} are allowed."
            )

    # -- requests ---------------------------------------------------------

    def request(
        self,
        method,
        url,
        *,
        service,
        tenant=None,
        headers=None,
        params=None,
        json=None,
        data=None,
        raise_for_status=True,
        request_id=None,
        auth=None,
        reauth=None,
        stream=False,
    ):
        """Send a request with retries; return the final ``requests.Response``.

        ``auth`` is a callable returning headers (a fresh bearer token) for each call.
        ``reauth`` (optional) returns headers with a newly acquired token: a 401 to a
        call made with a cached token is sent once more with it before it counts.
        ``stream``: a successful answer's body is left unread for the caller to stream
        (``response.raw``, ``iter_lines``; a file of any size), and not kept in the log.
        Raises :class:`errors.MicrosoftError` subclasses: TransportError when no answer
        came, ThrottledError when 429 outlasted ``max_wait``, and (when
        ``raise_for_status``) an error built from Microsoft's body for any 4xx/5xx.
        """
        self.check_url(url)
        request_id = request_id or str(uuid.uuid4())
        sent_headers = {
            "Accept": "application/json",
            **self._service_headers(service, request_id),
            **(auth() if auth else {}),
            **(headers or {}),
        }
        body = jsonlib.dumps(json) if json is not None else data
        waited = 0.0
        attempt = 0
        failures = 0
        reauthorised = False

        def report(**outcome):
            self._report(service, tenant, method, url, attempt, request_id, started,
                         body=body, streamed=stream, **outcome)  # fmt: skip

        while True:
            attempt += 1
            timeout = self._call_timeout(service, url)
            started = time.monotonic()
            try:
                response = self._send(
                    method, url, sent_headers, params, json, data, timeout, stream
                )
            except requests.RequestException as exc:
                self._raise_if_cut(exc, timeout, service, url, report)
                failures += 1
                message = f"{type(exc).__name__}: {redact.redact_text(str(exc), 500)}"
                report(error=message)
                delay = self._backoff_delay(failures)
                if (
                    failures < self.max_attempts
                    and waited + delay <= self.max_wait
                    and self._in_time(delay)
                ):
                    self.sleep(delay)
                    waited += delay
                    continue
                raise errors.TransportError(
                    message,
                    service=service,
                    tenant=tenant,
                    request_id=request_id,
                    correlation_id=self.correlation_id,
                ) from None
            report(response=response)
            status = response.status_code
            if status == 401 and reauth is not None and not reauthorised:
                reauthorised = True
                sent_headers.update(reauth())
                continue
            if status == 429 or status in RETRY_STATUSES:
                if status == 429:
                    delay = self._retry_after(response)
                    allowed = attempt < MAX_THROTTLED_ATTEMPTS
                else:
                    failures += 1
                    delay = self._retry_after(response, default=self._backoff_delay(failures))
                    allowed = failures < self.max_attempts
                if allowed and waited + delay <= self.max_wait and self._in_time(delay):
                    self.sleep(delay)
                    waited += delay
                    continue
                if status == 429:
                    raise self._error(errors.ThrottledError, response, service, tenant, request_id)
            if raise_for_status and status >= 400:
                raise self._error(errors.MicrosoftError, response, service, tenant, request_id)
            return response

    def get_json(
        self, url, *, service, tenant=None, params=None, headers=None, auth=None, reauth=None
    ):
        response = self.request(
            "GET", url, service=service, tenant=tenant, params=params, headers=headers,
            auth=auth, reauth=reauth,
        )  # fmt: skip
        return response.json() if response.content else {}

    def _in_time(self, delay):
        deadline = self.deadline
        if self.clock is not None and self.clock.soft is not None:
            deadline = self.clock.soft if deadline is None else min(deadline, self.clock.soft)
        return deadline is None or time.monotonic() + delay < deadline

    def _call_timeout(self, service, url):
        """This attempt's timeout: the configured one, clipped to the time the clock
        has left; OutOfTime when not even a short call fits."""
        left = self.clock.left() if self.clock is not None else None
        if left is None:
            return self.timeout
        if left < max(MIN_CALL_SECONDS, min(self.clock.slowest, self.timeout)):
            raise self._out_of_time(service, url)
        return min(self.timeout, left)

    def _send(self, method, url, headers, params, json, data, timeout, stream=False):
        started = time.monotonic()
        try:
            return self.session.request(
                method,
                url,
                headers=headers,
                params=params,
                json=json,
                data=data,
                timeout=timeout,
                verify=self.verify,
                allow_redirects=False,
                stream=stream,
            )
        finally:
            if self.clock is not None:  # the longest answer of the step so far
                self.clock.slowest = max(self.clock.slowest, time.monotonic() - started)

    def _raise_if_cut(self, exc, timeout, service, url, report):
        """A timeout cut by the time left, not by Microsoft: a pause, not a failure."""
        if timeout < self.timeout and isinstance(exc, requests.Timeout):
            report(error=f"{type(exc).__name__}: cut at the time left ({timeout:.1f} s)")
            raise self._out_of_time(service, url) from None

    def _out_of_time(self, service, url):
        left = self.clock.left() if self.clock is not None else 0
        return errors.OutOfTime(
            f"No time left for a call to {service} ({redact.redact_url(url)}): "
            f"{max(left or 0, 0):.1f} s left in this cron call."
        )

    # -- paging -----------------------------------------------------------

    def iter_odata_pages(
        self, url, *, service="graph", tenant=None, params=None, headers=None, auth=None,
        reauth=None,
    ):  # fmt: skip
        """Yield each page of an OData collection, following ``@odata.nextLink``.

        The last page carries ``@odata.deltaLink`` for delta queries. A page that is not
        a JSON object with a ``value`` list (an empty 200, a body without ``value``)
        raises IncompleteReadError: a reader must never take it for an empty page.
        """
        while url:
            try:
                page = self.get_json(
                    url, service=service, tenant=tenant, params=params, headers=headers,
                    auth=auth, reauth=reauth,
                )  # fmt: skip
            except ValueError:  # a body that is not JSON (cut mid-way)
                page = None
            if not isinstance(page, dict) or not isinstance(page.get("value"), list):
                if page is None:
                    shape = "a body that is not JSON"
                else:
                    shape = "an empty body" if not page else "no 'value' list"
                raise errors.IncompleteReadError(
                    f"A page of {redact.redact_url(url)} came back with {shape}.",
                    service=service,
                    tenant=tenant,
                    correlation_id=self.correlation_id,
                )
            yield page
            url = page.get("@odata.nextLink")
            params = None  # the next link already carries the query

    def iter_partner_center_pages(self, url, *, tenant=None, params=None, auth=None, reauth=None):
        """Yield each page of a Partner Center collection (``links.next`` + continuation),
        each proven whole by :func:`partner_center_page_problem`: a page that is not
        (an empty body, ``{}``, no ``items`` list, fewer items than its ``totalCount``,
        an empty list that does not say so, a continuation without a next link) raises
        IncompleteReadError, so a read that ends normally reached Partner Center's last
        page. An error on any page carries its number (``error.page``, from 1)."""
        headers = None
        number = 0
        while True:
            number += 1
            try:
                page = self.get_json(
                    url, service="partnercenter", tenant=tenant, params=params,
                    headers=headers, auth=auth, reauth=reauth,
                )  # fmt: skip
            except ValueError:  # a body that is not JSON (cut mid-way)
                page = None
            except errors.MicrosoftError as exc:
                exc.page = exc.page or number
                raise
            problem = partner_center_page_problem(page)
            if problem:
                raise errors.IncompleteReadError(
                    f"Page {number} of {redact.redact_url(url)} came back with {problem}.",
                    service="partnercenter",
                    tenant=tenant,
                    correlation_id=self.correlation_id,
                    page=number,
                )
            yield page
            links = page.get("links")
            following = links.get("next") if isinstance(links, dict) else None
            if not following:
                return
            url = self._partner_center_link(following["uri"])
            params = None
            headers = {item["key"]: item["value"] for item in following.get("headers") or []}

    def _partner_center_link(self, uri):
        """Partner Center's links come absolute, or relative with or without the
        version ("/v1/customers?...", "/customers?...", "v1/customers?...")."""
        uri = uri.strip()
        if uri.lower().startswith("https://"):
            return uri  # still checked against the allowed hosts when called
        path = uri.lstrip("/")
        if not path.lower().startswith("v1/"):
            path = "v1/" + path
        return urljoin(self.endpoints["partnercenter"] + "/", path)

    # -- internals --------------------------------------------------------

    def _service_headers(self, service, request_id):
        if service == "partnercenter":
            return {"MS-RequestId": request_id, "MS-CorrelationId": self.correlation_id}
        if service in ("graph", "pricing"):
            return {"client-request-id": request_id}
        return {}

    def _backoff_delay(self, failures):
        return self.backoff * (2 ** (failures - 1))

    def _retry_after(self, response, default=None):
        value = response.headers.get("Retry-After")
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                when = email.utils.parsedate_to_datetime(value)
                if when is not None:
                    return max(0.0, (when - datetime.now(UTC)).total_seconds())
        return default if default is not None else self._backoff_delay(1)

    def _error(self, cls, response, service, tenant, request_id):
        code, message, correlation = _parse_error_body(response)
        retry_after = response.headers.get("Retry-After")
        if service == "partnercenter":  # the ids we sent, which Partner Center logs
            correlation = response.headers.get("MS-CorrelationId") or self.correlation_id
        return cls(
            message or f"HTTP {response.status_code} from {service}",
            service=service,
            status=response.status_code,
            code=code,
            tenant=tenant,
            request_id=request_id,
            # Graph never receives our correlation id: only Microsoft's own ids are shown
            correlation_id=correlation,
            retry_after=retry_after,
            trace=_trace_ids(response, service, request_id),
        )

    def _report(
        self,
        service,
        tenant,
        method,
        url,
        attempt,
        request_id,
        started,
        response=None,
        error=None,
        body=None,
        streamed=False,
    ):
        if self.on_exchange is None:
            return
        self.on_exchange(
            Exchange(
                service=service,
                tenant=tenant,
                method=method,
                url=redact.redact_url(response.url if response is not None else url),
                attempt=attempt,
                request_id=request_id,
                correlation_id=self.correlation_id,
                duration_ms=int((time.monotonic() - started) * 1000),
                status=response.status_code if response is not None else None,
                error=error,
                _request_body=body,
                _response=response,
                streamed=streamed,
            )
        )


def partner_center_page_problem(page):
    """What keeps a Partner Center page from proving its part of a list, or None.

    A page proves itself when it is a JSON object with an ``items`` list; holds at
    least its ``totalCount`` (Partner Center counts the items of the page there); is
    either not empty or says ``totalCount: 0``; and either links the next page
    (``links.next`` with a ``uri``) or says it is the last (no next link and no
    ``continuationToken``)."""
    if page is None:
        return "a body that is not JSON"
    if not isinstance(page, dict):
        return "a body that is not a JSON object"
    if not page:
        return "an empty body (or an empty JSON object)"
    items = page.get("items")
    if not isinstance(items, list):
        return "no 'items' list"
    count = page.get("totalCount")
    counted = isinstance(count, int) and not isinstance(count, bool)
    if counted and count > len(items):
        return f"{len(items)} items where its totalCount announced {count}"
    if not items and not counted:
        return "an empty 'items' list without a totalCount saying the list is empty"
    links = page.get("links")
    following = links.get("next") if isinstance(links, dict) else None
    if following is not None and not (
        isinstance(following, dict) and isinstance(following.get("uri"), str)
        and following["uri"].strip()
    ):  # fmt: skip
        return "a link to the next page without an address"
    if following is None and page.get("continuationToken"):
        return "a continuation token but no link to the next page"
    return None


_GRAPH_TRACE = (("request-id", "Request id"), ("client-request-id", "Client request id"),
                ("date", "Date"))  # fmt: skip


def _trace_ids(response, service, request_id):
    """The ids Microsoft can find the call by: Graph's innerError (else its response
    headers), Partner Center's request id as sent; never an id Microsoft did not see."""
    if service == "partnercenter":
        return (("Request id", response.headers.get("MS-RequestId") or request_id),)
    inner = {}
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        found = error.get("innerError") or error.get("innererror")
        inner = found if isinstance(found, dict) else {}
    trace = []
    for key, label in _GRAPH_TRACE:
        value = inner.get(key) or response.headers.get(key)
        if value:
            trace.append((label, str(value)))
    return tuple(trace)


def _parse_error_body(response):
    """(code, message, correlation id) from Graph, Partner Center or token error bodies."""
    try:
        body = response.json()
    except ValueError:
        return None, redact.redact_text(response.text, 500) or None, None
    if not isinstance(body, dict):
        return None, None, None
    inner = body.get("error")
    if isinstance(inner, dict):  # Graph
        return inner.get("code"), inner.get("message"), None
    if isinstance(inner, str):  # Entra ID token endpoint
        return inner, body.get("error_description"), body.get("correlation_id")
    # Partner Center
    code = body.get("code") or body.get("errorCode")
    return (str(code) if code is not None else None), body.get("description"), None
