"""Partner Center REST calls: customers, subscriptions, subscribed SKUs, quantities.

``token`` is a callable returning a Partner Center access token; it is asked before
every call, so MSAL can refresh it during long runs.
"""

from urllib.parse import quote

PAGE_SIZE = 500  # Partner Center's maximum for customers


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
