"""Partner Center REST calls: customers, subscriptions, subscribed SKUs, quantities,
audit records, webhook registration.

``token`` is a callable returning a Partner Center access token; it is asked before
every call, so MSAL can refresh it during long runs.

Every list is read through ``PartnerCenter.pages`` (``MicrosoftHttp.
iter_partner_center_pages``), which proves each page whole
(``http.partner_center_page_problem``) and follows ``links.next`` to the page that says
it is the last: a list these methods return in full is the complete list, and any
other answer raises ``errors.IncompleteReadError`` before the caller could conclude
anything (mark a subscription removed, archive a tenant) from a part of it.

The public API an add-on builds its own Partner Center calls on (in its own
``microsoft/``): ``PartnerCenter.pages`` and ``PartnerCenter.items`` (a paged GET with
that proof), ``PartnerCenter.get`` and ``PartnerCenter.request`` (single requests), and
``errors.register`` for its error texts.
"""

from dataclasses import dataclass
from datetime import UTC
from urllib.parse import quote

from . import errors

PAGE_SIZE = 500  # Partner Center's maximum for customers


@dataclass(frozen=True)
class PatchAnswer:
    """Partner Center's answer to a subscription PATCH.

    ``subscription``: the subscription as the answer shows it, keys in camelCase
    whichever casing Partner Center used (None without one). ``applied``: a 200 that
    shows the subscription, so it holds the change; otherwise (a 202, or a 200 without
    a subscription) Partner Center accepted the change and a later read confirms it."""

    status: int
    subscription: dict | None

    @classmethod
    def of(cls, status, body):
        body = camel_keys(body) if isinstance(body, dict) else None
        if body is not None and not (isinstance(body.get("id"), str) and body["id"]):
            body = None
        return cls(status, body)

    @property
    def applied(self):
        return self.status == 200 and self.subscription is not None


def camel_keys(value):
    """`value` with every key (nested too) starting in lower case, as Partner Center's
    lists send them ("Quantity" -> "quantity"); a key sent in both casings keeps the
    camelCase one's value."""
    if isinstance(value, list):
        return [camel_keys(item) for item in value]
    if not isinstance(value, dict):
        return value
    result = {}
    for key, item in value.items():
        camel = key[:1].lower() + key[1:] if isinstance(key, str) else key
        if camel in result and camel == key:
            result[camel] = camel_keys(item)
        else:
            result.setdefault(camel, camel_keys(item))
    return result


class PartnerCenter:
    """``fresh_token`` (optional) acquires a new token (not the cached one): a call
    Partner Center refuses with 401 is sent once more with it before it counts."""

    def __init__(self, http, token, fresh_token=None):
        self.http = http
        self.token = token
        self.fresh_token = fresh_token
        self._reauth = self._fresh_auth if fresh_token else None

    def _auth(self):
        return {"Authorization": f"Bearer {self.token()}"}

    def _fresh_auth(self):
        return {"Authorization": f"Bearer {self.fresh_token()}"}

    def _url(self, path):
        return self.http.url("partnercenter", path)

    # -- the public API: paged and single requests -------------------------------------

    def pages(self, path, params=None, tenant=None):
        """Every page of a Partner Center list at ``path`` (under the Partner Center
        endpoint), each proven whole, following ``links.next`` with its continuation
        to the page that says it is the last (see the module's docstring). ``tenant``:
        the customer the call is about (the request log's)."""
        return self.http.iter_partner_center_pages(
            self._url(path), tenant=tenant, params=params, auth=self._auth,
            reauth=self._reauth,
        )  # fmt: skip

    def items(self, path, params=None, tenant=None):
        """Every item of the list at ``path``, across all its pages (``pages``)."""
        for page in self.pages(path, params=params, tenant=tenant):
            yield from page["items"]

    def get(self, path, params=None, tenant=None):
        """One GET: the answer's JSON body ({} when empty)."""
        return self.http.get_json(
            self._url(path), service="partnercenter", tenant=tenant, params=params,
            auth=self._auth, reauth=self._reauth,
        )  # fmt: skip

    def request(self, method, path, json=None, tenant=None):
        """One request, its ``requests.Response``. The request id is kept on retries, so
        Partner Center applies a retried change once; any 4xx/5xx raises
        ``errors.MicrosoftError``."""
        return self.http.request(
            method, self._url(path), service="partnercenter", tenant=tenant, json=json,
            auth=self._auth, reauth=self._reauth,
        )  # fmt: skip

    # -- customers, subscriptions -------------------------------------------------------

    def customers(self, page_size=PAGE_SIZE):
        """Every customer with a reseller relationship, across all pages (links.next
        with its continuation token)."""
        return self.items("v1/customers", _size(page_size))

    def subscriptions(self, customer_id, page_size=None):
        """Every subscription of a customer, across all pages. Partner Center answers
        one page unless a size is asked; links.next is followed either way."""
        path = f"v1/customers/{quote(customer_id)}/subscriptions"
        return self.items(path, _size(page_size), tenant=customer_id)

    def subscribed_skus(self, customer_id):
        path = f"v1/customers/{quote(customer_id)}/subscribedskus"
        return list(self.items(path, tenant=customer_id))

    # -- one subscription, quantity changes ------------------------------------------

    def subscription(self, customer_id, subscription_id):
        """One subscription as Partner Center has it now."""
        path = f"v1/customers/{quote(customer_id)}/subscriptions/{quote(subscription_id)}"
        return self.get(path, tenant=customer_id)

    def patch_subscription(self, customer_id, subscription_id, body):
        """PATCH the whole subscription object (e.g. with a new quantity). The request id
        is kept on retries, so Partner Center applies a retried change once. Returns a
        :class:`PatchAnswer`: Partner Center's documented answers are a 200 with the
        changed subscription (camelCase or PascalCase keys) and a 202 (accepted, still
        being applied)."""
        path = f"v1/customers/{quote(customer_id)}/subscriptions/{quote(subscription_id)}"
        response = self.request("PATCH", path, json=body, tenant=customer_id)
        try:
            answer = response.json() if response.content else None
        except ValueError:
            answer = None
        return PatchAnswer.of(response.status_code, answer)

    # -- audit records ------------------------------------------------------------------

    def audit_records(self, start, end=None, page_size=None):
        """Audit records from `start` (aware or naive UTC datetime) to `end`, all pages."""
        params = {"startDate": _stamp(start)}
        if end is not None:
            params["endDate"] = _stamp(end)
        if page_size:
            params["size"] = page_size
        return self.items("v1/auditrecords", params)

    # -- webhook registration -----------------------------------------------------------

    def _webhook(self, method, path="", json=None):
        response = self.request(method, f"webhooks/v1/registration{path}", json=json)
        return response.json() if response.content else {}

    def webhook_registration(self):
        """The partner's registration ({WebhookUrl, WebhookEvents}), None when none."""
        try:
            return self._webhook("GET")
        except errors.MicrosoftError as exc:
            if exc.status == 404:
                return None
            raise

    def register_webhook(self, url, events):
        """Register `url` for `events`; an existing registration is updated (PUT)."""
        body = {"WebhookUrl": url, "WebhookEvents": list(events)}
        try:
            return self._webhook("POST", json=body)
        except errors.MicrosoftError as exc:
            if exc.status != 409:
                raise
        return self._webhook("PUT", json=body)

    def delete_webhook(self):
        try:
            self._webhook("DELETE")
        except errors.MicrosoftError as exc:
            if exc.status != 404:
                raise

    def send_webhook_test(self):
        """Ask Partner Center to send a test-created event: {"correlationId"}."""
        return self._webhook("POST", "/validationEvents")

    def webhook_test_event(self, correlation_id):
        return self._webhook("GET", f"/validationEvents/{quote(correlation_id)}")


def _size(page_size):
    return {"size": page_size} if page_size else None


def _stamp(moment):
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
