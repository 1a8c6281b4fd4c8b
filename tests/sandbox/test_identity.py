"""Entra ID endpoints of the sandbox, driven by the real MSAL library over HTTPS."""

import json
from urllib.parse import parse_qs, urlparse

import jwt
import msal
import pytest
import requests
from conftest import (
    GRAPH_SCOPE,
    PARTNER_CENTER_SCOPE,
    PRICING_SCOPE,
    REDIRECT_URI,
    graph_token,
    msal_app,
    partner_center_token,
    sign_in,
)
from werkzeug.test import EnvironBuilder

from mscloud_sandbox.errors import ApiError

DAY = 86400


def claims_of(token):
    return jwt.decode(token, options={"verify_signature": False})


def bearer_request(token):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return EnvironBuilder(path="/v1.0/users", headers=headers).get_request()


def rejection(sb, token, resource):
    with pytest.raises(ApiError) as caught:
        sb.require_token(bearer_request(token), resource)
    response = caught.value.response
    return response.status_code, json.loads(response.get_data())


def consented_customer(world):
    return next(t for t in world.tenants.values() if world.gdap_app.client_id in t.consented_apps)


def location_query(response):
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlparse(response.headers["Location"]).query).items()}


def authorize_url(sb, app, **params):
    query = {
        "client_id": app.client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": f"{PARTNER_CENTER_SCOPE} offline_access openid",
        "state": "xyz",
    } | params
    return (
        requests.Request(
            "GET", f"{sb.base_url}/{sb.world.partner_tenant_id}/oauth2/v2.0/authorize", params=query
        )
        .prepare()
        .url
    )


def get(sb, url):
    return requests.get(url, allow_redirects=False, verify=sb.ca_path)


def post_token(sb, form, tenant=None):
    url = f"{sb.base_url}/{tenant or sb.world.partner_tenant_id}/oauth2/v2.0/token"
    return requests.post(url, data=form, verify=sb.ca_path)


# -- discovery -----------------------------------------------------------------


def test_discovery_by_domain_and_unknown_tenant(sandbox_session):
    sb, world = sandbox_session, sandbox_session.world
    url = f"{sb.base_url}/{world.partner_domain}/v2.0/.well-known/openid-configuration"
    config = requests.get(url, verify=sb.ca_path).json()
    assert config["issuer"] == f"{sb.base_url}/{world.partner_tenant_id}/v2.0"
    assert config["token_endpoint"].endswith(f"/{world.partner_domain}/oauth2/v2.0/token")
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    common = requests.get(
        f"{sb.base_url}/common/v2.0/.well-known/openid-configuration", verify=sb.ca_path
    ).json()
    assert common["issuer"] == f"{sb.base_url}/{{tenantid}}/v2.0"

    missing = requests.get(
        f"{sb.base_url}/nobody.example.com/v2.0/.well-known/openid-configuration",
        verify=sb.ca_path,
    )
    assert missing.status_code == 400
    assert missing.json()["error_codes"] == [90002]
    assert "nobody.example.com" in missing.json()["error_description"]


def test_jwks_verifies_issued_tokens(sandbox_session):
    sb = sandbox_session
    token = graph_token(sb, sb.world.partner_tenant_id)
    url = f"{sb.base_url}/{sb.world.partner_tenant_id}/discovery/v2.0/keys"
    jwks = requests.get(url, verify=sb.ca_path).json()
    key = jwt.PyJWK(jwks["keys"][0])
    assert jwt.get_unverified_header(token)["kid"] == key.key_id
    claims = jwt.decode(
        token, key.key, algorithms=["RS256"], audience="https://graph.microsoft.com"
    )
    assert claims["tid"] == sb.world.partner_tenant_id


# -- client credentials --------------------------------------------------------


def test_client_credentials_partner_tenant(sandbox_session):
    sb, world = sandbox_session, sandbox_session.world
    token = graph_token(sb, world.partner_tenant_id)
    claims = sb.require_token(bearer_request(token), "graph")
    assert claims["tid"] == world.partner_tenant_id
    assert claims["appid"] == claims["azp"] == world.gdap_app.client_id
    assert "DelegatedAdminRelationship.Read.All" in claims["roles"]
    assert "scp" not in claims


def test_client_credentials_consented_customer(sandbox_session):
    sb = sandbox_session
    customer = consented_customer(sb.world)
    claims = sb.require_token(bearer_request(graph_token(sb, customer.id)), "graph")
    assert claims["tid"] == customer.id
    assert "User.Read.All" in claims["roles"]


def test_client_credentials_without_consent_is_7000229(sandbox_session):
    sb = sandbox_session
    customer = next(t for t in sb.world.tenants.values() if not t.consented_apps)
    result = msal_app(sb, sb.world.gdap_app, customer.id).acquire_token_for_client([GRAPH_SCOPE])
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000229]
    assert customer.id in result["error_description"]


def test_wrong_secret_is_7000215(sandbox_session):
    sb = sandbox_session
    client = msal.ConfidentialClientApplication(
        sb.world.gdap_app.client_id,
        client_credential="not-the-secret",
        authority=f"{sb.base_url}/{sb.world.partner_tenant_id}",
        instance_discovery=False,
        http_client=msal_app(sb, sb.world.gdap_app).http_client,
    )
    result = client.acquire_token_for_client([GRAPH_SCOPE])
    assert (result["error"], result["error_codes"]) == ("invalid_client", [7000215])


def test_unknown_client_and_basic_auth(sandbox_session):
    sb, app = sandbox_session, sandbox_session.world.gdap_app
    form = {"grant_type": "client_credentials", "scope": GRAPH_SCOPE}
    unknown = post_token(sb, form | {"client_id": "0" * 8, "client_secret": "x"})
    assert (unknown.status_code, unknown.json()["error_codes"]) == (400, [700016])
    url = f"{sb.base_url}/{sb.world.partner_tenant_id}/oauth2/v2.0/token"
    basic = requests.post(
        url, data=form, auth=(app.client_id, app.client_secret), verify=sb.ca_path
    )
    assert basic.status_code == 200
    assert basic.json()["token_type"] == "Bearer"


def test_client_credentials_needs_default_scope(sandbox_session):
    sb, app = sandbox_session, sandbox_session.world.gdap_app
    form = {"grant_type": "client_credentials", "client_id": app.client_id}
    form["client_secret"] = app.client_secret
    response = post_token(sb, form | {"scope": "https://graph.microsoft.com/User.Read.All"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_scope")


def test_expired_secret_is_7000222(sandbox):
    sandbox.clock.set(sandbox.world.gdap_app.secret_expires)
    result = msal_app(sandbox, sandbox.world.gdap_app).acquire_token_for_client([GRAPH_SCOPE])
    assert result["error_codes"] == [7000222]


# -- authorization code flow ---------------------------------------------------


def test_code_flow_with_pkce_signs_in_partner_admin(sandbox_session):
    sb, world = sandbox_session, sandbox_session.world
    client = msal_app(sb, world.partner_center_app)
    result = sign_in(sb, client, [PARTNER_CENTER_SCOPE])
    assert result["id_token_claims"]["preferred_username"] == world.partner_admin_upn
    assert result["id_token_claims"]["aud"] == world.partner_center_app.client_id
    assert "refresh_token" in result
    claims = sb.require_token(bearer_request(result["access_token"]), "partnercenter")
    assert claims["tid"] == world.partner_tenant_id
    assert claims["scp"] == "user_impersonation"
    assert claims["upn"] == world.partner_admin_upn
    [account] = client.get_accounts()
    assert account["username"] == world.partner_admin_upn


def test_partner_center_token_helper(sandbox_session):
    claims = claims_of(partner_center_token(sandbox_session))
    assert claims["aud"] == "https://api.partnercenter.microsoft.com"


def test_login_hint_signs_in_customer_user_in_home_tenant(sandbox):
    customer = consented_customer(sandbox.world)
    user = next(iter(sandbox.world.tenant(customer.id).users.values()))
    client = msal.ConfidentialClientApplication(
        sandbox.world.gdap_app.client_id,
        client_credential=sandbox.world.gdap_app.client_secret,
        authority=f"{sandbox.base_url}/organizations",
        instance_discovery=False,
        http_client=msal_app(sandbox, sandbox.world.gdap_app).http_client,
    )
    result = sign_in(sandbox, client, ["User.Read"], login_hint=user.userPrincipalName)
    assert result["id_token_claims"]["tid"] == customer.id
    assert result["id_token_claims"]["oid"] == user.id
    assert result["id_token_claims"]["preferred_username"] == user.userPrincipalName


def test_code_is_single_use_and_redirect_must_match(sandbox):
    app = sandbox.world.partner_center_app
    code = location_query(get(sandbox, authorize_url(sandbox, app)))
    assert code["state"] == "xyz"
    form = {
        "grant_type": "authorization_code",
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "code": code["code"],
        "redirect_uri": "http://localhost:8069/other",
    }
    mismatch = post_token(sandbox, form)
    assert (mismatch.status_code, mismatch.json()["error_codes"]) == (400, [50011])
    again = post_token(sandbox, form | {"redirect_uri": REDIRECT_URI})
    assert again.json()["error_codes"] == [54005]


def test_pkce_verifier_is_checked(sandbox):
    app = sandbox.world.partner_center_app
    url = authorize_url(sandbox, app, code_challenge="a" * 43, code_challenge_method="plain")
    code = location_query(get(sandbox, url))["code"]
    form = {
        "grant_type": "authorization_code",
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": "b" * 43,
    }
    response = post_token(sandbox, form)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


def test_code_expires_after_ten_minutes(sandbox):
    app = sandbox.world.partner_center_app
    code = location_query(get(sandbox, authorize_url(sandbox, app)))
    sandbox.clock.advance(601)
    form = {
        "grant_type": "authorization_code",
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "code": code["code"],
        "redirect_uri": REDIRECT_URI,
    }
    assert post_token(sandbox, form).json()["error_codes"] == [70008]


def test_authorize_refuses_unregistered_redirect_and_unknown_client(sandbox_session):
    sb, app = sandbox_session, sandbox_session.world.partner_center_app
    evil = requests.get(
        authorize_url(sb, app, redirect_uri="https://evil.example.com/cb"),
        allow_redirects=False,
        verify=sb.ca_path,
    )
    assert evil.status_code == 400
    assert "AADSTS50011" in evil.text
    assert "Location" not in evil.headers
    unknown = requests.get(
        authorize_url(sb, app, client_id="11111111-2222-3333-4444-555555555555"),
        allow_redirects=False,
        verify=sb.ca_path,
    )
    assert unknown.status_code == 400
    assert "AADSTS700016" in unknown.text


def test_authorize_form_post_and_bad_scope(sandbox_session):
    sb, app = sandbox_session, sandbox_session.world.partner_center_app
    posted = requests.get(
        authorize_url(sb, app, response_mode="form_post"), allow_redirects=False, verify=sb.ca_path
    )
    assert posted.status_code == 200
    assert f'action="{REDIRECT_URI}"' in posted.text
    assert 'name="code"' in posted.text
    two_resources = f"{PARTNER_CENTER_SCOPE} {GRAPH_SCOPE}"
    error = location_query(
        requests.get(
            authorize_url(sb, app, scope=two_resources), allow_redirects=False, verify=sb.ca_path
        )
    )
    assert error["error"] == "invalid_scope"
    assert error["state"] == "xyz"


# -- refresh tokens ------------------------------------------------------------


def _refresh_tokens(client):
    return {
        rt["secret"]
        for rt in client.token_cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)
    }


def test_refresh_after_expiry_rotates_refresh_token(sandbox):
    client = msal_app(sandbox, sandbox.world.partner_center_app)
    first = sign_in(sandbox, client, [PARTNER_CENTER_SCOPE])
    sandbox.clock.advance(3700)
    status, body = rejection(sandbox, first["access_token"], "partnercenter")
    assert status == 401
    assert "expired" in body["description"]
    [account] = client.get_accounts()
    renewed = client.acquire_token_silent([PARTNER_CENTER_SCOPE], account, force_refresh=True)
    assert renewed["access_token"] != first["access_token"]
    assert sandbox.require_token(bearer_request(renewed["access_token"]), "partnercenter")
    assert _refresh_tokens(client) == {renewed["refresh_token"]} != {first["refresh_token"]}


def test_refresh_token_is_multi_resource(sandbox):
    world = sandbox.world
    client = msal_app(sandbox, world.partner_center_app)
    sign_in(sandbox, client, [PARTNER_CENTER_SCOPE])
    [account] = client.get_accounts()
    graph = client.acquire_token_silent([GRAPH_SCOPE], account)
    pricing = client.acquire_token_silent([PRICING_SCOPE], account)
    assert claims_of(graph["access_token"])["aud"] == "https://graph.microsoft.com"
    assert sandbox.require_token(bearer_request(pricing["access_token"]), "pricing")["upn"] == (
        world.partner_admin_upn
    )


def test_partner_admin_gets_customer_token_through_gdap(sandbox):
    world = sandbox.world
    rt = sign_in(sandbox, msal_app(sandbox, world.gdap_app), [GRAPH_SCOPE])["refresh_token"]
    with_gdap = next(t for t in world.tenants.values() if t.gdap and t.gdap.status == "active")
    without = next(t for t in world.tenants.values() if t.gdap is None)
    result = msal_app(sandbox, world.gdap_app, with_gdap.id).acquire_token_by_refresh_token(
        rt, [GRAPH_SCOPE]
    )
    assert claims_of(result["access_token"])["tid"] == with_gdap.id
    refused = msal_app(sandbox, world.gdap_app, without.id).acquire_token_by_refresh_token(
        rt, [GRAPH_SCOPE]
    )
    assert refused["error_codes"] == [50020]


def test_refresh_token_dies_after_90_days_unused(sandbox):
    client = msal_app(sandbox, sandbox.world.partner_center_app)
    sign_in(sandbox, client, [PARTNER_CENTER_SCOPE])
    [account] = client.get_accounts()
    sandbox.clock.advance(89 * DAY)
    assert "access_token" in client.acquire_token_silent_with_error(
        [PARTNER_CENTER_SCOPE], account, force_refresh=True
    )
    sandbox.clock.advance(91 * DAY)
    result = client.acquire_token_silent_with_error(
        [PARTNER_CENTER_SCOPE], account, force_refresh=True
    )
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [700082]


# -- require_token -------------------------------------------------------------


def test_require_token_rejections(sandbox_session):
    sb = sandbox_session
    token = graph_token(sb, sb.world.partner_tenant_id)

    status, body = rejection(sb, None, "graph")
    assert (status, body["error"]["code"]) == (401, "InvalidAuthenticationToken")
    assert body["error"]["message"] == "Access token is empty."

    header, payload, signature = token.split(".")
    tampered = (
        f"{header}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    )
    status, body = rejection(sb, tampered, "graph")
    assert (status, body["error"]["code"]) == (401, "InvalidAuthenticationToken")

    status, body = rejection(sb, token, "partnercenter")
    assert status == 401
    assert body["source"] == "PartnerFD"
    assert "audience" in body["description"]


def test_require_token_audience_expiry_and_tenant(sandbox):
    customer = consented_customer(sandbox.world)
    pc = partner_center_token(sandbox)
    status, body = rejection(sandbox, pc, "graph")
    assert body["error"]["message"] == "Access token validation failure. Invalid audience."

    customer_token = graph_token(sandbox, customer.id)
    assert sandbox.require_token(bearer_request(customer_token), "graph")["tid"] == customer.id
    sandbox.clock.advance(3601)
    status, body = rejection(sandbox, customer_token, "graph")
    assert status == 401
    assert body["error"]["message"] == "Access token has expired or is not yet valid."


def test_partner_center_refuses_customer_tenant_tokens(sandbox_session):
    sb = sandbox_session
    customer = consented_customer(sb.world)
    client = msal_app(sb, sb.world.gdap_app, customer.id)
    token = client.acquire_token_for_client(["https://api.partnercenter.microsoft.com/.default"])
    status, body = rejection(sb, token["access_token"], "partnercenter")
    assert status == 403
    assert customer.id in body["description"]


# -- admin consent -------------------------------------------------------------


def consent_url(sb, tenant_id, app=None):
    app = app or sb.world.gdap_app
    query = {
        "client_id": app.client_id,
        "redirect_uri": REDIRECT_URI,
        "state": "s1",
        "scope": GRAPH_SCOPE,
    }
    return (
        requests.Request("GET", f"{sb.base_url}/{tenant_id}/v2.0/adminconsent", params=query)
        .prepare()
        .url
    )


def test_admin_consent_records_consent(sandbox):
    world = sandbox.world
    customer = next(t for t in world.tenants.values() if not t.consented_apps and t.gdap)
    answer = location_query(
        requests.get(
            consent_url(sandbox, customer.id), allow_redirects=False, verify=sandbox.ca_path
        )
    )
    assert answer == {
        "admin_consent": "True",
        "tenant": customer.id,
        "state": "s1",
        "scope": GRAPH_SCOPE,
    }
    assert world.gdap_app.client_id in customer.consented_apps
    assert "access_token" in msal_app(
        sandbox, world.gdap_app, customer.id
    ).acquire_token_for_client([GRAPH_SCOPE])


def test_admin_consent_blocked_tenant_redirects_with_error(sandbox):
    world = sandbox.world
    blocked = next(t for t in world.tenants.values() if t.consent_blocked)
    answer = location_query(
        requests.get(
            consent_url(sandbox, blocked.id), allow_redirects=False, verify=sandbox.ca_path
        )
    )
    assert answer["error"] == "access_denied"
    assert answer["error_description"].startswith("AADSTS")
    assert answer["state"] == "s1"
    assert world.gdap_app.client_id not in blocked.consented_apps


def test_admin_consent_single_tenant_app_in_customer_tenant(sandbox_session):
    sb = sandbox_session
    customer = consented_customer(sb.world)
    response = requests.get(
        consent_url(sb, customer.id, sb.world.partner_center_app),
        allow_redirects=False,
        verify=sb.ca_path,
    )
    assert response.status_code == 400
    assert "AADSTS700016" in response.text
