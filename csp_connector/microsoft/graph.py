"""Microsoft Graph v1.0 calls, for the partner tenant (GDAP relationships) and for
customer tenants (organisation, users, groups, SKUs, licence assignments).

``token`` is a callable returning a Graph access token for the tenant being read.

The public API an add-on builds its own Graph calls on (in its own ``microsoft/``):
``Graph.iter_pages`` (a paged GET, each page shape-checked) with :class:`ReadCheck`
(the proof that a read is complete), ``Graph.iter_collection``, ``Graph.get`` and
``Graph.request`` (single requests), and ``errors.register`` for its error texts.
"""

from urllib.parse import quote

from . import errors

RELATIONSHIPS = "v1.0/tenantRelationships/delegatedAdminRelationships"
USERS = "v1.0/users"
USERS_DELTA = "v1.0/users/delta"
GROUPS_DELTA = "v1.0/groups/delta"
GROUP_FIELDS = "id,displayName,members"
MAX_IDS_PER_FILTER = 15  # Graph's limit for an "in" filter on ids
MAX_PAGE_SIZE = 999


def is_resync(error):
    """Graph's answers for a delta token it no longer knows (410, or 400 on some APIs)."""
    code = (error.code or "").lower()
    return error.status == 410 or code in ("syncstatenotfound", "resyncrequired")


def read_delta(read, link, expired, resumed=False):
    """``read(link)``; when Graph no longer knows the delta link (410) the round was
    following (``link``, or a next link kept by a ``resumed`` round), ``expired()`` then
    ``read(None)``: everything is read again, once. Returns what read returned."""
    try:
        return read(link)
    except errors.MicrosoftError as exc:
        if not (link or resumed) or not is_resync(exc):
            raise
        expired()
        return read(None)


class ReadCheck:
    """Proof that a read of a collection or a delta round is complete.

    Feed it every page (already shape-checked by the paging); ``finish()`` raises
    IncompleteReadError unless the read ended with Graph's final page: a delta round
    must end with ``@odata.deltaLink``; a full list that announced ``@odata.count``
    must have delivered at least that many items. Its state is plain data, so a round
    cut at a page boundary and resumed later goes on with the same check.
    """

    def __init__(self, delta, expected=None, read=0):
        self.delta = delta
        self.expected = expected
        self.read = read
        self.last = None

    def page(self, page):
        if self.expected is None and isinstance(page.get("@odata.count"), int):
            self.expected = page["@odata.count"]
        self.read += len(page["value"])
        self.last = page
        return page["value"]

    def state(self):
        return {"delta": self.delta, "expected": self.expected, "read": self.read}

    def finish(self, what="the list"):
        last = self.last or {}
        if last.get("@odata.nextLink"):
            return  # not over: the caller stopped at a page boundary
        if self.delta and not last.get("@odata.deltaLink"):
            raise errors.IncompleteReadError(
                f"The delta round of {what} ended on a page without @odata.deltaLink "
                f"after {self.read} items: the answer was cut short."
            )
        if self.expected is not None and self.read < self.expected:
            raise errors.IncompleteReadError(
                f"Graph announced {self.expected} items in {what} but its pages held "
                f"{self.read}: the answer was cut short."
            )


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
        """One GET: the answer's JSON body ({} when empty)."""
        return self.http.get_json(
            self._url(path),
            service="graph",
            tenant=self.tenant,
            params=params,
            auth=self._auth,
            reauth=self._reauth,
        )

    def request(self, method, path, json=None, params=None):
        """One request (retried as ``MicrosoftHttp.request`` retries): the answer's JSON
        body ({} when empty). Any 4xx/5xx raises ``errors.MicrosoftError``."""
        response = self.http.request(
            method,
            self._url(path),
            service="graph",
            tenant=self.tenant,
            params=params,
            json=json,
            auth=self._auth,
            reauth=self._reauth,
        )
        return response.json() if response.content else {}

    def send(self, method, url_or_path, json=None, params=None):
        """One request (retried as ``request``), returning the ``requests.Response``
        itself: for answers whose headers matter (a 202's ``Location``, a long
        operation's ``Retry-After``). A full URL must be on Graph's host (the
        allow-list). Any 4xx/5xx raises ``errors.MicrosoftError``."""
        url = url_or_path if url_or_path.startswith("https://") else self._url(url_or_path)
        return self.http.request(
            method,
            url,
            service="graph",
            tenant=self.tenant,
            params=params,
            json=json,
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

    # -- users, groups ---------------------------------------------------------

    def users(self, select, page_size=MAX_PAGE_SIZE):
        """Pages of every user of the tenant, with ``@odata.count`` (the proof of a
        complete read; it needs ConsistencyLevel: eventual)."""
        return self.iter_pages(
            USERS,
            params={"$select": select, "$top": page_size, "$count": "true"},
            headers={"ConsistencyLevel": "eventual"},
        )

    def users_by_ids(self, ids, select):
        """The users with these object ids (a few calls: 15 ids each)."""
        ids = list(ids)
        for start in range(0, len(ids), MAX_IDS_PER_FILTER):
            chunk = ids[start : start + MAX_IDS_PER_FILTER]
            quoted = ",".join(f"'{object_id}'" for object_id in chunk)
            yield from self.iter_collection(
                USERS, params={"$filter": f"id in ({quoted})", "$select": select}
            )

    def users_delta(self, link=None, select=None):
        """Pages of a users delta round: from a stored delta (or next) link, or a new
        round over every user."""
        if link:
            return self.iter_pages(link)
        return self.iter_pages(USERS_DELTA, params={"$select": select} if select else None)

    def users_delta_latest(self, select=None):
        """A users delta link at the current state, reading nothing."""
        return self.delta_latest(USERS_DELTA, select)

    def groups_delta(self, link=None, select=GROUP_FIELDS):
        """Pages of a groups delta round (names and ``members@delta``)."""
        if link:
            return self.iter_pages(link)
        return self.iter_pages(GROUPS_DELTA, params={"$select": select})

    # -- licences ---------------------------------------------------------

    def subscribed_skus(self):
        """The tenant's subscribed SKUs (one page: Graph does not page this list)."""
        return self.iter_collection("v1.0/subscribedSkus")

    def assign_license(self, user_id, add=(), remove=()):
        """Add licences (skuIds, optionally with disabled plans) to and remove licences
        from one user. ``add``: skuIds or dicts {"skuId", "disabledPlans"}."""
        body = {
            "addLicenses": [
                sku if isinstance(sku, dict) else {"skuId": sku, "disabledPlans": []} for sku in add
            ],
            "removeLicenses": list(remove),
        }
        return self.request("POST", f"v1.0/users/{quote(user_id)}/assignLicense", json=body)

    def iter_relationships(self, page_size=None):
        """The partner's GDAP relationships (all statuses)."""
        return self.iter_collection(
            RELATIONSHIPS, params={"$top": page_size} if page_size else None
        )

    def organization(self):
        """The tenant's organisation: one cheap call, used to test access."""
        values = self.get("v1.0/organization", params={"$select": "id,displayName,verifiedDomains"})
        return (values.get("value") or [{}])[0]
