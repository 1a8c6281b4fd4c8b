"""Microsoft Graph v1.0 calls, for the partner tenant (GDAP relationships) and for
customer tenants (organisation, users, groups, SKUs, devices).

``token`` is a callable returning a Graph access token for the tenant being read.
"""

from itertools import chain

from . import errors

RELATIONSHIPS = "v1.0/tenantRelationships/delegatedAdminRelationships"


def _first_then_rest(pages):
    """Fetch the first page now (so a 401 shows at once), then the rest lazily."""
    first = next(pages, None)
    return chain([] if first is None else [first], pages)


class Graph:
    """``forget_token`` (optional) drops a cached token Graph refused with 401: the call
    is then made once more with a fresh one."""

    def __init__(self, http, token, tenant=None, forget_token=None):
        self.http = http
        self.token = token
        self.tenant = tenant
        self.forget_token = forget_token

    def _retrying(self, call):
        try:
            return call()
        except errors.MicrosoftError as exc:
            if exc.status != 401 or not self.forget_token:
                raise
            self.forget_token()
            return call()

    def _auth(self):
        return {"Authorization": f"Bearer {self.token()}"}

    def _url(self, path):
        return self.http.url("graph", path)

    def iter_collection(self, path, params=None, headers=None):
        """Every item of a collection, following ``@odata.nextLink``."""
        for page in self.iter_pages(path, params=params, headers=headers):
            yield from page.get("value") or []

    def get(self, path, params=None):
        return self._retrying(
            lambda: self.http.get_json(
                self._url(path),
                service="graph",
                tenant=self.tenant,
                params=params,
                auth=self._auth,
            )
        )

    def iter_pages(self, url_or_path, params=None, headers=None):
        """Every page of a collection or of a delta round (a full URL is followed as is)."""
        url = url_or_path if url_or_path.startswith("https://") else self._url(url_or_path)
        pages = self._retrying(
            lambda: _first_then_rest(
                self.http.iter_odata_pages(
                    url, tenant=self.tenant, params=params, headers=headers, auth=self._auth
                )
            )
        )
        yield from pages

    def delta_latest(self, path, select=None):
        """A delta link at the current state, without reading anything (``latest``)."""
        params = {"$deltaToken": "latest"}
        if select:
            params["$select"] = select
        link = None
        for page in self.iter_pages(path, params=params):
            link = page.get("@odata.deltaLink") or link
        return link

    def iter_relationships(self, page_size=None):
        """The partner's GDAP relationships (all statuses)."""
        return self.iter_collection(
            RELATIONSHIPS, params={"$top": page_size} if page_size else None
        )

    def organization(self):
        """The tenant's organisation: one cheap call, used to test access."""
        values = self.get("v1.0/organization", params={"$select": "id,displayName,verifiedDomains"})
        return (values.get("value") or [{}])[0]
