"""Sign-in with Microsoft: id-token signature and claim checks, and the code flow
against the sandbox as identity provider (no Odoo needed)."""

import json
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from test_http import Recorder, make_http

from odoo.addons.csp_connector.microsoft import errors, sso

TEMPLATE = "https://login.example.test/{tenantid}/v2.0"
CLIENT = "11111111-2222-3333-4444-555555555555"
TID = "aaaaaaaa-0000-0000-0000-000000000001"
OTHER_TID = "bbbbbbbb-0000-0000-0000-000000000002"
NOW = 1_800_000_000
REDIRECT = "http://localhost:8069/auth_oauth/signin"


def claims(**overrides):
    values = {
        "aud": CLIENT,
        "iss": f"https://login.example.test/{TID}/v2.0",
        "tid": TID,
        "oid": "user-object-id",
        "nonce": "the-nonce",
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + 3600,
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def check(values, allowed=(TID,), any_tenant=False, now=NOW, nonce="the-nonce"):
    return sso.check_claims(
        values, allowed, any_tenant, TEMPLATE, now, audience=CLIENT, nonce=nonce
    )


# -- claims ---------------------------------------------------------------------------


def test_valid_claims_of_an_allowed_tenant_are_accepted():
    assert check(claims()) is None
    assert check(claims(), allowed=(TID.upper(),)) is None  # GUIDs compare case-insensitively
    assert check(claims(aud=["other", CLIENT])) is None


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (claims(aud="another-app"), sso.AUDIENCE),
        (claims(aud=None), sso.AUDIENCE),
        (claims(tid=None), sso.TENANT_MISSING),
        # a token of the other tenant's issuer: tid and iss must agree
        (claims(iss=f"https://login.example.test/{OTHER_TID}/v2.0"), sso.ISSUER),
        (claims(iss="https://evil.test/" + TID + "/v2.0"), sso.ISSUER),
        (claims(exp=NOW - sso.DEFAULT_LEEWAY - 1), sso.EXPIRED),
        (claims(exp=None), sso.EXPIRED),
        (claims(nbf=NOW + sso.DEFAULT_LEEWAY + 60), sso.NOT_YET_VALID),
        (claims(nonce="replayed"), sso.NONCE),
        (claims(nonce=None), sso.NONCE),
        (claims(oid=None), sso.SUBJECT_MISSING),
    ],
)
def test_invalid_claims_are_refused_with_their_reason(values, reason):
    refusal = check(values)
    assert refusal is not None and refusal.reason == reason


def test_small_clock_skew_is_tolerated():
    assert check(claims(exp=NOW - 30)) is None
    assert check(claims(nbf=NOW + 30)) is None


def test_no_expected_nonce_refuses():
    assert check(claims(), nonce=None).reason == sso.NONCE


def test_tenant_allow_list():
    other = claims(tid=OTHER_TID, iss=f"https://login.example.test/{OTHER_TID}/v2.0")
    refusal = check(other)
    assert refusal.reason == sso.TENANT_NOT_ALLOWED
    assert refusal.tenant_id == OTHER_TID
    assert OTHER_TID in str(refusal)
    assert check(other, allowed=(), any_tenant=True) is None
    assert check(other, allowed=()).reason == sso.TENANT_NOT_ALLOWED


def test_issuer_template_must_be_multi_tenant():
    refusal = sso.check_claims(
        claims(), (TID,), False, f"https://login.example.test/{TID}/v2.0", NOW,
        audience=CLIENT, nonce="the-nonce",
    )  # fmt: skip
    assert refusal.reason == sso.ISSUER


def test_parse_tenant_list():
    text = f" {TID.upper()}\n\n{OTHER_TID}, {TID}\n"
    assert sso.parse_tenant_list(text) == {TID, OTHER_TID}
    assert sso.parse_tenant_list(False) == set()


def test_code_challenge_is_s256():
    # RFC 7636, appendix B
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert sso.code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert sso.new_secret() != sso.new_secret()


# -- signature --------------------------------------------------------------------------


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks_of(*pairs):
    keys = []
    for kid, key in pairs:
        jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
        keys.append(jwk)
    return {"keys": keys}


def sign(values, key, kid="k1", algorithm="RS256"):
    headers = {"kid": kid} if kid else {}
    return jwt.encode(values, key, algorithm=algorithm, headers=headers)


@pytest.fixture(scope="module")
def keys():
    return new_key(), new_key()


def test_a_token_signed_by_the_published_key_is_verified(keys):
    good, _other = keys
    token = sign(claims(), good)
    assert sso.verify_signature(token, jwks_of(("k1", good)))["oid"] == "user-object-id"
    # without kid: accepted only when the JWKS holds one key
    assert sso.verify_signature(sign(claims(), good, kid=None), jwks_of(("k1", good)))
    with pytest.raises(sso.SsoRefused):
        sso.verify_signature(sign(claims(), good, kid=None), jwks_of(("k1", good), ("k2", keys[1])))


def test_a_rotated_key_listed_twice_under_one_kid_still_verifies(keys):
    good, other = keys
    token = sign(claims(), good)
    assert sso.verify_signature(token, jwks_of(("k1", other), ("k1", good)))


@pytest.mark.parametrize("case", ["other_key_same_kid", "unknown_kid", "tampered", "hs256"])
def test_bad_signatures_are_refused(keys, case):
    good, other = keys
    published = jwks_of(("k1", good))
    if case == "other_key_same_kid":  # a forger who copies the kid
        token = sign(claims(), other, kid="k1")
    elif case == "unknown_kid":
        token = sign(claims(), other, kid="forged")
    elif case == "tampered":  # claims changed after signing
        header, _payload, signature = sign(claims(), good).split(".")
        payload = jwt.utils.base64url_encode(json.dumps(claims(tid=OTHER_TID)).encode())
        token = f"{header}.{payload.decode()}.{signature}"
    else:  # an HMAC token under the published kid: algorithm confusion
        secret = "a shared secret long enough for HS256 keys"
        token = jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(sso.SsoRefused) as refused:
        sso.verify_signature(token, published)
    assert refused.value.refusal.reason == sso.SIGNATURE


def test_garbage_is_malformed():
    for token in ("not-a-jwt", "a.b.c"):
        with pytest.raises(sso.SsoRefused) as refused:
            sso.validate_id_token(token, {"keys": []}, **_checks())
        assert refused.value.refusal.reason in (sso.MALFORMED, sso.SIGNATURE)
    with pytest.raises(sso.SsoRefused) as refused:
        sso.validate_id_token(None, {"keys": []}, **_checks())
    assert refused.value.refusal.reason == sso.MALFORMED


def _checks(**overrides):
    values = {
        "allowed_tenants": (TID,),
        "any_tenant": False,
        "expected_issuer_template": TEMPLATE,
        "now": NOW,
        "audience": CLIENT,
        "nonce": "the-nonce",
    }
    values.update(overrides)
    return values


def test_validate_id_token_combines_both(keys):
    good, _other = keys
    token = sign(claims(), good)
    assert sso.validate_id_token(token, jwks_of(("k1", good)), **_checks())["tid"] == TID
    with pytest.raises(sso.SsoRefused) as refused:
        sso.validate_id_token(token, jwks_of(("k1", good)), **_checks(allowed_tenants=()))
    assert refused.value.refusal.reason == sso.TENANT_NOT_ALLOWED


# -- against the sandbox ------------------------------------------------------------------


def customer_user(sb):
    tenant = next(t for t in sb.world.tenants.values() if sb.world.tenant(t.id).users)
    user = next(iter(sb.world.tenant(tenant.id).users.values()))
    return tenant.id, user


def sign_in(sb, http, config, login_hint, nonce="n-1"):
    """The browser part (auto-approved) then the server part: tokens for the GDAP app."""
    app = sb.world.gdap_app
    verifier = sso.new_secret()
    query = urlencode(
        {
            "client_id": app.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": "openid profile email",
            "state": "s",
            "nonce": nonce,
            "code_challenge": sso.code_challenge(verifier),
            "code_challenge_method": "S256",
            "login_hint": login_hint,
        }
    )
    answer = requests.get(
        f"{config['authorization_endpoint']}?{query}",
        allow_redirects=False,
        verify=sb.ca_path,
        timeout=30,
    )
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    return sso.redeem_code(
        http,
        config["token_endpoint"],
        client_id=app.client_id,
        client_secret=app.client_secret,
        code=code,
        verifier=verifier,
        redirect_uri=REDIRECT,
    )


def sandbox_checks(sb, config, tid):
    """What a sign-in of a user of `tid` through the GDAP app (nonce n-1) must pass."""
    return {
        "allowed_tenants": {tid},
        "any_tenant": False,
        "expected_issuer_template": config["issuer"],
        "now": time.time(),
        "audience": sb.world.gdap_app.client_id,
        "nonce": "n-1",
    }


def test_sandbox_code_flow_and_validation(sandbox):
    rec = Recorder()
    http = make_http(sandbox, rec)
    config = sso.discover(http)
    assert config["issuer"] == f"{sandbox.base_url}/{{tenantid}}/v2.0"
    tid, user = customer_user(sandbox)
    tokens = sign_in(sandbox, http, config, user.userPrincipalName)
    jwks = sso.fetch_jwks(http, config["jwks_uri"])
    checks = sandbox_checks(sandbox, config, tid)
    accepted = sso.validate_id_token(tokens["id_token"], jwks, **checks)
    assert (accepted["tid"], accepted["oid"]) == (tid, user.id)
    # the same token for a list without its tenant, or another nonce
    for change, reason in (
        ({"allowed_tenants": {sandbox.world.partner_tenant_id}}, sso.TENANT_NOT_ALLOWED),
        ({"nonce": "n-2"}, sso.NONCE),
        ({"audience": sandbox.world.partner_center_app.client_id}, sso.AUDIENCE),
    ):
        with pytest.raises(sso.SsoRefused) as refused:
            sso.validate_id_token(tokens["id_token"], jwks, **(checks | change))
        assert refused.value.refusal.reason == reason
    # nothing secret reached the request log
    logged = " ".join(e.request_text() + e.response_text() for e in rec.exchanges)
    assert tokens["id_token"] not in logged and sandbox.world.gdap_app.client_secret not in logged


def test_signing_keys_are_kept_and_read_again_after_a_rollover_or_a_day(sandbox):
    sso.forget_signing_keys()
    rec = Recorder()
    http = make_http(sandbox, rec)
    config = sso.discover(http)
    uri = config["jwks_uri"]
    tid, user = customer_user(sandbox)
    checks = sandbox_checks(sandbox, config, tid)

    def sign_in_and_validate(**kwargs):
        id_token = sign_in(sandbox, http, config, user.userPrincipalName)["id_token"]
        keys = sso.signing_keys(http, uri, id_token, **kwargs)
        return sso.validate_id_token(id_token, keys, **checks)["oid"]

    def key_reads():
        return sum(1 for exchange in rec.exchanges if exchange.url == uri)

    assert [sign_in_and_validate(), sign_in_and_validate()] == [user.id, user.id]
    assert key_reads() == 1
    # Microsoft rolls its signing key over: the first token signed with the new key
    # makes the document be read again, and it is accepted
    rotated = requests.post(
        f"{sandbox.urls['control']}/signing-keys/rotate", verify=sandbox.ca_path, timeout=30
    )
    assert rotated.status_code == 201
    assert sign_in_and_validate() == user.id
    assert key_reads() == 2
    assert sign_in_and_validate() == user.id
    assert key_reads() == 2
    # a day later the kept document is read again, even for a key it holds
    assert sign_in_and_validate(now=time.time() + sso.JWKS_MAX_AGE + 1) == user.id
    assert key_reads() == 3
    sso.forget_signing_keys()


def test_sandbox_token_issued_in_the_past_is_expired(sandbox):
    http = make_http(sandbox, Recorder())
    config = sso.discover(http)
    tid, user = customer_user(sandbox)
    sandbox.clock.advance(-3 * 3600)  # tokens issued now expire two hours ago
    try:
        tokens = sign_in(sandbox, http, config, user.userPrincipalName)
    finally:
        sandbox.clock.advance(3 * 3600)
    jwks = sso.fetch_jwks(http, config["jwks_uri"])
    with pytest.raises(sso.SsoRefused) as refused:
        sso.validate_id_token(
            tokens["id_token"],
            jwks,
            allowed_tenants={tid},
            any_tenant=False,
            expected_issuer_template=config["issuer"],
            now=time.time(),
            audience=sandbox.world.gdap_app.client_id,
            nonce="n-1",
        )
    assert refused.value.refusal.reason == sso.EXPIRED


def test_a_refused_code_is_an_explained_error(sandbox):
    http = make_http(sandbox, Recorder())
    config = sso.discover(http)
    with pytest.raises(errors.MicrosoftError) as failed:
        sso.redeem_code(
            http,
            config["token_endpoint"],
            client_id=sandbox.world.gdap_app.client_id,
            client_secret=sandbox.world.gdap_app.client_secret,
            code="1.Anot-a-code",
            verifier="v",
            redirect_uri=REDIRECT,
        )
    assert failed.value.status == 400
