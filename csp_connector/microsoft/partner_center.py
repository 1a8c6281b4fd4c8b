"""Partner Center REST calls: customers, subscriptions, subscribed SKUs, quantities.

``token`` is a callable returning a Partner Center access token; it is asked before
every call, so MSAL can refresh it during long runs.
"""

from datetime import UTC
from urllib.parse import quote

from . import errors

PAGE_SIZE = 500  # Partner Center's maximum for customers
LINE_ITEMS_PAGE_SIZE = 2000  # Partner Center's maximum for reconciliation line items


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

    def customers(self, page_size=PAGE_SIZE):
        """Every customer with a reseller relationship, across all pages (links.next
        with its continuation token)."""
        return self._paged_items("v1/customers", None, page_size)

    def subscriptions(self, customer_id, page_size=None):
        """Every subscription of a customer, across all pages. Partner Center answers
        one page unless a size is asked; links.next is followed either way."""
        path = f"v1/customers/{quote(customer_id)}/subscriptions"
        return self._paged_items(path, customer_id, page_size)

    def _paged_items(self, path, tenant, page_size):
        pages = self.http.iter_partner_center_pages(
            self._url(path),
            tenant=tenant,
            params={"size": page_size} if page_size else None,
            auth=self._auth,
            reauth=self._reauth,
        )
        for page in pages:
            yield from page.get("items") or []

    def subscribed_skus(self, customer_id):
        return self._items(f"v1/customers/{quote(customer_id)}/subscribedskus", customer_id)

    def _items(self, path, tenant):
        body = self.http.get_json(
            self._url(path),
            service="partnercenter",
            tenant=tenant,
            auth=self._auth,
            reauth=self._reauth,
        )
        return body.get("items") or []

    # -- one subscription, quantity changes ------------------------------------------

    def subscription(self, customer_id, subscription_id):
        """One subscription as Partner Center has it now."""
        path = f"v1/customers/{quote(customer_id)}/subscriptions/{quote(subscription_id)}"
        return self.http.get_json(
            self._url(path), service="partnercenter", tenant=customer_id, auth=self._auth,
            reauth=self._reauth,
        )  # fmt: skip

    def patch_subscription(self, customer_id, subscription_id, body):
        """PATCH the whole subscription object (e.g. with a new quantity). The request id
        is kept on retries, so Partner Center applies a retried change once."""
        path = f"v1/customers/{quote(customer_id)}/subscriptions/{quote(subscription_id)}"
        response = self.http.request(
            "PATCH", self._url(path), service="partnercenter", tenant=customer_id, json=body,
            auth=self._auth, reauth=self._reauth,
        )  # fmt: skip
        return response.json() if response.content else {}

    # -- audit records ------------------------------------------------------------------

    def audit_records(self, start, end=None, page_size=None):
        """Audit records from `start` (aware or naive UTC datetime) to `end`, all pages."""
        params = {"startDate": _stamp(start)}
        if end is not None:
            params["endDate"] = _stamp(end)
        if page_size:
            params["size"] = page_size
        pages = self.http.iter_partner_center_pages(
            self._url("v1/auditrecords"), params=params, auth=self._auth, reauth=self._reauth
        )
        for page in pages:
            yield from page.get("items") or []

    # -- billing ------------------------------------------------------------------------

    def unbilled_line_items(self, currency, period="current", page_size=LINE_ITEMS_PAGE_SIZE):
        """The partner's unbilled reconciliation line items of licence-based (new
        commerce) purchases: ``GET /v1/invoices/unbilled/lineitems?provider=onetime
        &invoicelineitemtype=billinglineitems``, in ``currency`` (ISO code), for the
        ``period`` "current" or "previous" (calendar month), every customer, across all
        pages (``links.next`` with the ``MS-ContinuationToken`` header). Items are yielded
        as Partner Center sent them (billing/reconcile.py reads their fields, which may
        be absent). A page that is not a list of items, or holds fewer than its
        ``totalCount``, raises :class:`errors.IncompleteReadError` (a cut page would look
        like charges Microsoft did not make); a refusal raises
        :class:`errors.BillingReadError`, explained for billing."""
        params = {
            "provider": "onetime",
            "invoicelineitemtype": "billinglineitems",
            "currencycode": currency.upper(),
            "period": period,
            "size": page_size,
        }
        pages = self.http.iter_partner_center_pages(
            self._url("v1/invoices/unbilled/lineitems"), params=params, auth=self._auth,
            reauth=self._reauth,
        )  # fmt: skip
        try:
            for page in pages:
                items = page.get("items") if isinstance(page, dict) else None
                count = page.get("totalCount") if isinstance(page, dict) else None
                if not isinstance(items, list) or (isinstance(count, int) and count > len(items)):
                    raise errors.IncompleteReadError(
                        "A page of unbilled reconciliation line items was cut short or had "
                        "no list of items.", service="partnercenter",
                    )  # fmt: skip
                yield from items
        except errors.MicrosoftError as exc:
            if exc.status in errors.BILLING_REFUSALS and not isinstance(
                exc, errors.BillingReadError
            ):
                raise errors.BillingReadError.of(exc) from exc
            raise

    # -- webhook registration -----------------------------------------------------------

    def _webhook(self, method, path="", json=None):
        response = self.http.request(
            method, self._url(f"webhooks/v1/registration{path}"), service="partnercenter",
            json=json, auth=self._auth, reauth=self._reauth,
        )  # fmt: skip
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


def _stamp(moment):
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
