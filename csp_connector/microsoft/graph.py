"""Microsoft Graph v1.0 calls, for the partner tenant (GDAP relationships) and for
customer tenants (organisation, users, groups, SKUs, devices).

``token`` is a callable returning a Graph access token for the tenant being read.
"""

RELATIONSHIPS = "v1.0/tenantRelationships/delegatedAdminRelationships"


class Graph:
    """``forget_token`` (optional) drops a cached token Graph refused with 401: the call
    (any page of a collection) is then sent once more with a fresh one."""

    def __init__(self, http, token, tenant=None, forget_token=None):
        self.http = http
        self.token = token
        self.tenant = tenant
        self.forget_token = forget_token
        self._reauth = self._fresh_auth if forget_token else None

    def _auth(self):
        return {"Authorization": f"Bearer {self.token()}"}

    def _fresh_auth(self):
        self.forget_token()
        return self._auth()

    def _url(self, path):
        return self.http.url("graph", path)

    def iter_collection(self, path, params=None, headers=None):
        """Every item of a collection, following ``@odata.nextLink``."""
        for page in self.iter_pages(path, params=params, headers=headers):
            yield from page.get("value") or []

    def get(self, path, params=None):
        return self.http.get_json(
            self._url(path),
            service="graph",
            tenant=self.tenant,
            params=params,
            auth=self._auth,
            reauth=self._reauth,
        )

    def iter_pages(self, url_or_path, params=None, headers=None):
        """Every page of a collection or of a delta round (a full URL is followed as is)."""
        url = url_or_path if url_or_path.startswith("https://") else self._url(url_or_path)
        yield from self.http.iter_odata_pages(
            url,
            tenant=self.tenant,
            params=params,
            headers=headers,
            auth=self._auth,
            reauth=self._reauth,
        )

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
