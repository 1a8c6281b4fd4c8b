"""Tokens through MSAL over MicrosoftHttp: code flow with PKCE, silent refresh, errors."""

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from test_http import Recorder, make_http

from odoo.addons.csp_connector.microsoft import auth, errors

REDIRECT = "http://localhost:8069/csp/authcallback"


def browser_answer(sb, flow):
    """What the browser brings back to the redirect URI (the sandbox auto-approves)."""
    response = requests.get(flow["auth_uri"], allow_redirects=False, verify=sb.ca_path)
    assert response.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def pc_app(http, sb, cache=None):
    app = sb.world.partner_center_app
    return auth.confidential_app(
        http, app.client_id, app.client_secret, sb.world.partner_tenant_id, cache
    )


def test_code_flow_stores_a_cache_that_refreshes_silently(sandbox):
    http = make_http(sandbox, Recorder())
    cache = auth.load_cache(None)
    app = pc_app(http, sandbox, cache)
    flow = auth.start_code_flow(app, REDIRECT, state="state-123")
    assert "code_challenge=" in flow["auth_uri"] and "state=state-123" in flow["auth_uri"]
    result = auth.finish_code_flow(app, flow, browser_answer(sandbox, flow))
    assert result["id_token_claims"]["preferred_username"] == sandbox.world.partner_admin_upn
    serialized = cache.serialize()

    # a later run: a new app from the stored cache; MSAL sees a valid access token
    cache2 = auth.load_cache(serialized)
    cached = auth.silent_token(pc_app(http, sandbox, cache2))
    assert cached["access_token"] == result["access_token"]
    assert not cache2.has_state_changed
    # once refreshed (MSAL does it by itself when the token nears expiry)
    sandbox.clock.advance(2 * 3600)
    first = auth.silent_token(pc_app(http, sandbox, cache2), force_refresh=True)
    assert first["access_token"] != result["access_token"]
    assert cache2.has_state_changed  # the rotated refresh token must be saved again


def test_a_tampered_state_is_refused(sandbox):
    http = make_http(sandbox, Recorder())
    app = pc_app(http, sandbox, auth.load_cache(None))
    flow = auth.start_code_flow(app, REDIRECT, state="good")
    answer = browser_answer(sandbox, flow)
    answer["state"] = "forged"
    with pytest.raises(errors.AuthError):
        auth.finish_code_flow(app, flow, answer)


def test_refresh_after_90_idle_days_is_explained(sandbox):
    http = make_http(sandbox, Recorder())
    cache = auth.load_cache(None)
    app = pc_app(http, sandbox, cache)
    flow = auth.start_code_flow(app, REDIRECT, state="s")
    auth.finish_code_flow(app, flow, browser_answer(sandbox, flow))
    sandbox.clock.advance(91 * 86400)
    with pytest.raises(errors.AuthError) as caught:
        auth.silent_token(
            pc_app(http, sandbox, auth.load_cache(cache.serialize())), force_refresh=True
        )
    assert caught.value.aadsts == 700082
    assert "Authorize" in caught.value.user_message()


def test_customer_without_consent_gets_7000229(sandbox):
    http = make_http(sandbox, Recorder())
    tenant_id = sandbox.world.special["no_consent"][0]
    gdap = sandbox.world.gdap_app
    app = auth.confidential_app(http, gdap.client_id, gdap.client_secret, tenant_id)
    with pytest.raises(errors.AuthError) as caught:
        auth.app_token(app, tenant=tenant_id)
    assert caught.value.aadsts == 7000229
    assert caught.value.tenant == tenant_id


def test_wrong_secret_is_7000215(sandbox):
    http = make_http(sandbox, Recorder())
    gdap = sandbox.world.gdap_app
    app = auth.confidential_app(
        http, gdap.client_id, "the-secret-id-not-value", sandbox.world.partner_tenant_id
    )
    with pytest.raises(errors.AuthError) as caught:
        auth.app_token(app)
    assert caught.value.aadsts == 7000215


def test_no_stored_sign_in_is_reported(sandbox):
    http = make_http(sandbox, Recorder())
    with pytest.raises(errors.AuthError) as caught:
        auth.silent_token(pc_app(http, sandbox, auth.load_cache(None)))
    assert caught.value.code == "not_authorized"
