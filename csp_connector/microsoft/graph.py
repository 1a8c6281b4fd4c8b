"""Microsoft Graph v1.0 calls, for the partner tenant (GDAP relationships) and for
customer tenants (organisation, users, groups, SKUs, devices).

``token`` is a callable returning a Graph access token for the tenant being read.
"""

RELATIONSHIPS = "v1.0/tenantRelationships/delegatedAdminRelationships"


class Graph:
    def __init__(self, http, token, tenant=None):
        self.http = http
        self.token = token
        self.tenant = tenant

    def _auth(self):
        return {"Authorization": f"Bearer {self.token()}"}

    def _url(self, path):
        return self.http.url("graph", path)

    def iter_collection(self, path, params=None, headers=None):
        """Every item of a collection, following ``@odata.nextLink``."""
        pages = self.http.iter_odata_pages(
            self._url(path), tenant=self.tenant, params=params, headers=headers, auth=self._auth
        )
        for page in pages:
            yield from page.get("value") or []

    def get(self, path, params=None):
        return self.http.get_json(
            self._url(path), service="graph", tenant=self.tenant, params=params, auth=self._auth
        )

    def iter_relationships(self, page_size=None):
        """The partner's GDAP relationships (all statuses)."""
        return self.iter_collection(
            RELATIONSHIPS, params={"$top": page_size} if page_size else None
        )

    def organization(self):
        """The tenant's organisation: one cheap call, used to test access."""
        values = self.get("v1.0/organization", params={"$select": "id,displayName,verifiedDomains"})
        return (values.get("value") or [{}])[0]
