import json

from odoo.addons.csp_connector.microsoft import redact

SECRET = "s3cr3t~Value.With-Chars"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ4In0.c2lnbmF0dXJl"


def test_json_bodies_lose_tokens_but_keep_the_rest():
    body = json.dumps(
        {
            "access_token": JWT,
            "refresh_token": "0.AAAA-refresh",
            "id_token": JWT,
            "expires_in": 3599,
            "scope": "https://graph.microsoft.com/.default",
        }
    )
    out = redact.redact_text(body)
    assert JWT not in out and "0.AAAA-refresh" not in out
    parsed = json.loads(out)
    assert parsed["expires_in"] == 3599
    assert parsed["scope"] == "https://graph.microsoft.com/.default"
    assert parsed["access_token"] == redact.MASK


def test_form_bodies_lose_secret_code_and_verifier():
    body = f"client_id=abc&client_secret={SECRET}&code=OAQABAAIA&code_verifier=xyz&grant_type=x"
    out = redact.redact_text(body)
    for value in (SECRET, "OAQABAAIA", "code_verifier=xyz"):
        assert value not in out
    assert "client_id=abc" in out and "grant_type=x" in out


def test_bearer_headers_and_stray_jwts_are_masked():
    text = f"Authorization: Bearer {JWT} and later {JWT}"
    out = redact.redact_text(text)
    assert JWT not in out
    assert "Bearer ***" in out


def test_urls_keep_ids_and_lose_codes_and_sas_signatures():
    url = (
        "https://login.example/tenant/callback?code=SECRETCODE&state=abc"
        "&session_state=s1&sig=SASSIG&$top=999"
    )
    out = redact.redact_url(url)
    assert "SECRETCODE" not in out and "SASSIG" not in out and "s1" not in out
    assert "state=abc" in out and "$top=999" in out


def test_long_bodies_are_truncated_after_redaction():
    body = json.dumps({"access_token": JWT, "value": ["x" * 100] * 1000})
    out = redact.redact_text(body, limit=1000)
    assert len(out) < 1100 and "truncated" in out
    assert JWT not in out


def test_huge_bodies_are_cut_but_a_secret_across_the_limit_is_still_masked():
    head = '{"value": "' + "x" * 960 + '", '  # the token's value starts before the limit
    body = head + json.dumps({"refresh_token": "R" * 600})[1:-1] + ', "rest": "' + "y" * 9000
    out = redact.redact_text(body, limit=1000)
    assert "RRRRR" not in out
    assert out.endswith(f"[truncated, {len(body) - 1000} more characters]")
    assert out.startswith(head)
