"""MicrosoftHttp against the sandbox over HTTPS: allow-list, retries, throttling, paging."""

import time

import pytest

from odoo.addons.csp_connector.microsoft import auth, errors
from odoo.addons.csp_connector.microsoft.graph import ReadCheck
from odoo.addons.csp_connector.microsoft.http import Clock, MicrosoftHttp


class Recorder:
    """Collects exchanges and the waits the client asked for (no real sleeping)."""

    def __init__(self):
        self.exchanges = []
        self.sleeps = []

    def exchange(self, exchange):
        self.exchanges.append(exchange)

    def sleep(self, seconds):
        self.sleeps.append(seconds)


def make_http(sb, rec, **kwargs):
    endpoints = {
        "login": sb.urls["login"],
        "partnercenter": sb.urls["partner_center"],
        "graph": sb.urls["graph"],
        "pricing": sb.urls["pricing"],
    }
    return MicrosoftHttp(
        endpoints, ca_bundle=sb.ca_path, on_exchange=rec.exchange, sleep=rec.sleep, **kwargs
    )


def graph_app_token(http, sb, tenant_id):
    app = auth.confidential_app(
        http, sb.world.gdap_app.client_id, sb.world.gdap_app.client_secret, tenant_id
    )
    return auth.app_token(app, tenant=tenant_id)["access_token"]


@pytest.fixture
def consented_tenant(sandbox):
    special = sandbox.world.special
    excluded = set(special["no_consent"]) | {special["consent_blocked"]}
    return next(tid for tid in sandbox.world.tenants if tid not in excluded)


def test_hosts_outside_the_endpoints_are_never_called(sandbox):
    rec = Recorder()
    http = make_http(sandbox, rec)
    with pytest.raises(errors.HostNotAllowedError):
        http.request("GET", "https://evil.example.com/v1.0/users", service="graph")
    plain = sandbox.urls["graph"].replace("https://", "http://")
    with pytest.raises(errors.HostNotAllowedError):
        http.request("GET", plain + "/v1.0/users", service="graph")
    assert rec.exchanges == []


def test_a_429_storm_is_ridden_out_honouring_retry_after(sandbox, consented_tenant):
    rec = Recorder()
    http = make_http(sandbox, rec)
    token = graph_app_token(http, sandbox, consented_tenant)
    sandbox.faults.add(service="graph", path="/v1.0/users", status=429, retry_after=7, times=5)
    rec.exchanges.clear()
    page = http.get_json(
        http.url("graph", "v1.0/users"),
        service="graph",
        headers={"Authorization": f"Bearer {token}"},
        params={"$top": "5"},
    )
    assert len(page["value"]) == 5
    assert [e.status for e in rec.exchanges] == [429] * 5 + [200]
    assert rec.sleeps == [7.0] * 5
    # one logical request: the same request id on every attempt
    assert len({e.request_id for e in rec.exchanges}) == 1


def test_throttling_beyond_the_wait_budget_raises_an_explained_error(sandbox, consented_tenant):
    rec = Recorder()
    http = make_http(sandbox, rec, max_wait=100)
    token = graph_app_token(http, sandbox, consented_tenant)
    sandbox.faults.add(service="graph", path="/v1.0/users", status=429, retry_after=30)
    with pytest.raises(errors.ThrottledError) as caught:
        http.get_json(
            http.url("graph", "v1.0/users"),
            service="graph",
            headers={"Authorization": f"Bearer {token}"},
        )
    assert sum(rec.sleeps) <= 100
    assert caught.value.status == 429
    assert "throttling" in caught.value.user_message()


def test_server_errors_are_retried_with_backoff(sandbox, consented_tenant):
    rec = Recorder()
    http = make_http(sandbox, rec, backoff=0.5)
    token = graph_app_token(http, sandbox, consented_tenant)
    sandbox.faults.add(service="graph", path="/v1.0/organization", status=503, times=2)
    body = http.get_json(
        http.url("graph", "v1.0/organization"),
        service="graph",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert body["value"]
    assert rec.sleeps == [0.5, 1.0]


def test_connection_resets_are_retried_then_reported(sandbox, consented_tenant):
    rec = Recorder()
    http = make_http(sandbox, rec, max_attempts=3)
    token = graph_app_token(http, sandbox, consented_tenant)
    headers = {"Authorization": f"Bearer {token}"}
    url = http.url("graph", "v1.0/organization")
    sandbox.faults.add(service="graph", path="/v1.0/organization", reset=True, times=1)
    assert http.get_json(url, service="graph", headers=headers)["value"]
    sandbox.faults.add(service="graph", path="/v1.0/organization", reset=True)
    with pytest.raises(errors.TransportError) as caught:
        http.get_json(url, service="graph", headers=headers)
    assert "could not be reached" in caught.value.user_message()
    assert rec.exchanges[-1].status is None and rec.exchanges[-1].error


def test_graph_errors_carry_microsofts_code(sandbox):
    rec = Recorder()
    http = make_http(sandbox, rec)
    no_p1 = next(
        tid
        for tid in sandbox.world.special["no_p1"]
        if tid not in sandbox.world.special["no_consent"]
        and tid != sandbox.world.special["consent_blocked"]
    )
    token = graph_app_token(http, sandbox, no_p1)
    with pytest.raises(errors.MicrosoftError) as caught:
        http.get_json(
            http.url("graph", "v1.0/users"),
            service="graph",
            headers={"Authorization": f"Bearer {token}"},
            params={"$select": "id,signInActivity"},
        )
    assert caught.value.status == 403
    assert caught.value.code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    assert "P1" in caught.value.explanation.title


def test_graph_paging_follows_next_links(sandbox, consented_tenant):
    rec = Recorder()
    http = make_http(sandbox, rec)
    token = graph_app_token(http, sandbox, consented_tenant)
    pages = list(
        http.iter_odata_pages(
            http.url("graph", "v1.0/users"),
            params={"$top": "7", "$select": "id,displayName"},
            headers={"Authorization": f"Bearer {token}"},
        )
    )
    ids = [user["id"] for page in pages for user in page["value"]]
    tenant = sandbox.world.tenant(consented_tenant)
    assert len(pages) == -(-len(tenant.users) // 7)
    assert sorted(ids) == sorted(tenant.users)


def test_token_exchanges_are_logged_without_secrets(sandbox, consented_tenant):
    rec = Recorder()
    http = make_http(sandbox, rec)
    token = graph_app_token(http, sandbox, consented_tenant)
    token_calls = [e for e in rec.exchanges if "/oauth2/v2.0/token" in e.url]
    assert token_calls and token_calls[-1].status == 200
    secret = sandbox.world.gdap_app.client_secret
    for exchange in rec.exchanges:
        text = exchange.url + exchange.request_text() + exchange.response_text()
        assert secret not in text
        assert token not in text
    assert "access_token" in token_calls[-1].response_text()  # the key stays, not the value


def _users_pages(http, token, **params):
    return http.iter_odata_pages(
        http.url("graph", "v1.0/users"),
        params={"$top": "7", "$select": "id", **params},
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.mark.parametrize("kind", ["empty", "no_value"])
def test_a_200_that_is_not_a_page_is_a_failed_read(sandbox, consented_tenant, kind):
    rec = Recorder()
    http = make_http(sandbox, rec)
    token = graph_app_token(http, sandbox, consented_tenant)
    rule = sandbox.faults.add(service="graph", path="/v1.0/users", body=kind, times=1)
    try:
        with pytest.raises(errors.IncompleteReadError) as caught:
            list(_users_pages(http, token))
    finally:
        sandbox.faults.remove(rule.id)
    assert "nothing was archived" in caught.value.user_message()
    assert rec.exchanges[-1].status == 200


def test_a_page_cut_short_fails_the_completeness_check(sandbox, consented_tenant):
    rec = Recorder()
    http = make_http(sandbox, rec)
    token = graph_app_token(http, sandbox, consented_tenant)
    check = ReadCheck(delta=False)
    for page in _users_pages(http, token, **{"$count": "true"}):
        check.page(page)
    check.finish()  # a whole read passes
    assert check.read == check.expected == len(sandbox.world.tenant(consented_tenant).users)
    sandbox.faults.add(service="graph", path="/v1.0/users", body="cut", times=1)
    check = ReadCheck(delta=False)
    for page in _users_pages(http, token, **{"$count": "true"}):
        check.page(page)
    with pytest.raises(errors.IncompleteReadError, match="announced"):
        check.finish()
    # a delta round must end with its delta link, wherever it stopped
    delta = ReadCheck(delta=True)
    delta.page({"value": [{"id": "a"}]})
    with pytest.raises(errors.IncompleteReadError, match="deltaLink"):
        delta.finish()
    resumed = ReadCheck(**delta.state())
    resumed.page({"value": [], "@odata.deltaLink": "https://graph/next"})
    resumed.finish()
    assert resumed.read == 1


def test_no_retry_starts_after_the_deadline(sandbox, consented_tenant):
    rec = Recorder()
    http = make_http(sandbox, rec)
    token = graph_app_token(http, sandbox, consented_tenant)
    http.deadline = time.monotonic() - 1
    sandbox.faults.add(service="graph", path="/v1.0/organization", status=503, times=3)
    try:
        with pytest.raises(errors.MicrosoftError) as caught:
            http.get_json(
                http.url("graph", "v1.0/organization"),
                service="graph",
                headers={"Authorization": f"Bearer {token}"},
            )
    finally:
        sandbox.faults.clear()
    assert caught.value.status == 503
    assert rec.sleeps == []
    assert len([e for e in rec.exchanges if "organization" in e.url]) == 1


def test_a_call_is_cut_at_the_time_its_cron_call_has_left(sandbox, consented_tenant):
    rec = Recorder()
    http = make_http(sandbox, rec, timeout=30)
    token = graph_app_token(http, sandbox, consented_tenant)
    url = http.url("graph", "v1.0/organization")
    headers = {"Authorization": f"Bearer {token}"}
    sandbox.faults.add(service="graph", path="/v1.0/organization", delay=4)
    try:
        http.clock = Clock(hard=time.monotonic() + 1.5)
        started = time.monotonic()
        # Microsoft answers in 4 s, the worker has 1.5 s left: a pause, not a failure
        with pytest.raises(errors.OutOfTime):
            http.get_json(url, service="graph", headers=headers)
        assert time.monotonic() - started < 2.5, "the 30 s timeout was clipped"
        assert rec.sleeps == [], "no retry"
        # the step's slowest answer so far does not fit in what is left: not even sent
        sent = len(rec.exchanges)
        http.clock = Clock(hard=time.monotonic() + 3)
        http.clock.slowest = 4
        with pytest.raises(errors.OutOfTime):
            http.get_json(url, service="graph", headers=headers)
        assert len(rec.exchanges) == sent
        assert http.clock.spent(), "a page boundary stops here too"
        # time enough: the answer comes
        http.clock = Clock(hard=time.monotonic() + 20)
        assert http.get_json(url, service="graph", headers=headers)["value"]
        assert 3.5 < http.clock.slowest < 20
    finally:
        sandbox.faults.clear()
