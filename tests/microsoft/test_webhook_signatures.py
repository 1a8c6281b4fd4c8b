"""Partner Center webhook verification: only a signed event from the expected signer."""

import base64
import json
import pathlib
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import requests
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from odoo.addons.csp_connector.microsoft import webhooks

from mscloud_sandbox import webhooks as sandbox_webhooks

HOST = "3psostorageacct.blob.core.windows.net"
URL = f"https://{HOST}/cert/pcnotifications.microsoft.com.cer"
CUSTOMER = "aaaaaaaa-0000-4000-8000-000000000001"


class Signer:
    def __init__(self, ca, organisation="Microsoft Corporation",
                 hostname="pcnotifications.microsoft.com", **kwargs):  # fmt: skip
        leaf = ca.issue_cert(
            hostname, organization_name=organisation, key_type=trustme.KeyType.RSA, **kwargs
        )
        self.key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
        self.chain = b"".join(blob.bytes() for blob in leaf.cert_chain_pems)
        self.leaf_only = leaf.cert_chain_pems[0].bytes()

    def sign(self, body):
        raw = self.key.sign(body, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode()


@pytest.fixture(scope="module")
def root():
    return trustme.CA(organization_name="Test Root")


@pytest.fixture(scope="module")
def signer(root):
    return Signer(root)


def event(changed=None, name="subscription-updated"):
    changed = changed or datetime.now(UTC)
    return json.dumps({
        "EventName": name,
        "ResourceUri": f"https://api.partnercenter.microsoft.com/v1/customers/{CUSTOMER}"
                       "/subscriptions/SUB-1",
        "ResourceName": "subscription",
        "AuditUri": None,
        "ResourceChangeUtcDate": changed.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }).encode()  # fmt: skip


def headers(signature, url=URL, algorithm="rsa-sha256"):
    return {"Authorization": f"Signature {signature}", "X-MS-Certificate-Url": url,
            "X-MS-Signature-Algorithm": algorithm}  # fmt: skip


def check(body, hdrs, served, roots, **kwargs):
    fetched = []

    def fetch(url):
        fetched.append(url)
        return served

    kwargs.setdefault("allowed_hosts", [HOST])
    result = webhooks.verify(body, hdrs, roots=roots, fetch_certificate=fetch, **kwargs)
    return result, fetched


def test_a_signed_event_is_accepted(root, signer):
    body = event()
    found, fetched = check(body, headers(signer.sign(body)), signer.chain, [_cert(root)])
    assert fetched == [URL]
    assert found.name == "subscription-updated"
    assert (found.customer_id, found.subscription_id) == (CUSTOMER, "sub-1")
    assert len(found.digest) == 64
    # x-ms-signature works too; the algorithm's case does not matter
    other = {"x-ms-signature": signer.sign(body), "x-ms-certificate-url": URL,
             "x-ms-signature-algorithm": "RSA-SHA256"}  # fmt: skip
    assert check(body, other, signer.leaf_only, [_cert(root)])[0].digest == found.digest


def test_a_chain_through_an_intermediate(root):
    intermediate = root.create_child_ca()
    signer = Signer(intermediate)
    body = event()
    found, _ = check(body, headers(signer.sign(body)), signer.chain, [_cert(root)])
    assert found.name == "subscription-updated"
    # the leaf alone cannot be chained: the intermediate is missing
    with pytest.raises(webhooks.WebhookRefused, match="does not chain"):
        check(body, headers(signer.sign(body)), signer.leaf_only, [_cert(root)])


def _cert(ca):
    return x509.load_pem_x509_certificate(ca.cert_pem.bytes())


def refused(body, hdrs, served, roots, match, status=401, **kwargs):
    with pytest.raises(webhooks.WebhookRefused, match=match) as info:
        check(body, hdrs, served, roots, **kwargs)
    assert info.value.status == status
    return info.value


def test_a_changed_body_is_refused(root, signer):
    body = event()
    signature = signer.sign(body)
    refused(body.replace(b"SUB-1", b"SUB-2"), headers(signature), signer.chain, [_cert(root)],
            "does not match")  # fmt: skip
    # one byte of whitespace is enough: the signature covers the exact bytes
    refused(body + b" ", headers(signature), signer.chain, [_cert(root)], "does not match")


def test_an_untrusted_certificate_is_refused(root):
    stranger = Signer(trustme.CA(organization_name="Microsoft Corporation"))
    body = event()
    refused(body, headers(stranger.sign(body)), stranger.chain, [_cert(root)], "does not chain")


def test_another_organisation_is_refused(root):
    foreign = Signer(root, organisation="Contoso Hosting")
    body = event()
    error = refused(body, headers(foreign.sign(body)), foreign.chain, [_cert(root)],
                    "belongs to Contoso Hosting")  # fmt: skip
    assert "Microsoft Corporation" in error.reason


def test_a_foreign_certificate_host_is_never_fetched(root, signer):
    body = event()
    for url in (
        "https://evil.example.com/cert.cer",
        f"http://{HOST}/cert.cer",  # not https
        f"https://{HOST}.evil.example.com/cert.cer",
        f"https://evil.example.com/{HOST}/cert.cer",
    ):
        with pytest.raises(webhooks.WebhookRefused, match="not one allowed"):
            webhooks.verify(body, headers(signer.sign(body), url=url), allowed_hosts=[HOST],
                            roots=[_cert(root)], fetch_certificate=pytest.fail)  # fmt: skip


def test_expired_signing_certificate_is_refused(root):
    old = Signer(root, not_before=datetime(2020, 1, 1), not_after=datetime(2021, 1, 1))
    body = event()
    refused(body, headers(old.sign(body)), old.chain, [_cert(root)], "expired")


def test_oversized_malformed_and_stale_bodies(root, signer):
    big = b'{"EventName": "test-created", "x": "' + b"a" * webhooks.MAX_BODY + b'"}'
    refused(big, headers(signer.sign(big)), signer.chain, [_cert(root)], "larger", status=413)
    for bad in (b"not json", b"[1, 2]", b'{"ResourceUri": "x"}', b"\xff\xfe"):
        refused(bad, headers(signer.sign(bad)), signer.chain, [_cert(root)], "body", status=400)
    stale = event(changed=datetime.now(UTC) - timedelta(days=8))
    refused(stale, headers(signer.sign(stale)), signer.chain, [_cert(root)], "older")
    ahead = event(changed=datetime.now(UTC) + timedelta(days=2))
    refused(ahead, headers(signer.sign(ahead)), signer.chain, [_cert(root)], "future")
    for stamp in (None, "", "yesterday"):
        undated = json.dumps({"EventName": "subscription-updated",
                              "ResourceChangeUtcDate": stamp}).encode()  # fmt: skip
        refused(undated, headers(signer.sign(undated)), signer.chain, [_cert(root)],
                "ResourceChangeUtcDate", status=400)  # fmt: skip


def test_the_documented_date_shape_and_a_late_delivery_are_accepted(root, signer):
    # Partner Center's published example: 7 fractional digits and an offset
    late = datetime.now(UTC) - timedelta(hours=47)
    stamp = late.strftime("%Y-%m-%dT%H:%M:%S.%f") + "3+00:00"
    body = json.dumps({"EventName": "subscription-updated", "ResourceUri": "",
                       "ResourceName": "subscription", "AuditUri": None,
                       "ResourceChangeUtcDate": stamp}).encode()  # fmt: skip
    found, _ = check(body, headers(signer.sign(body)), signer.chain, [_cert(root)])
    assert found.changed_at == late


def test_missing_or_wrong_headers(root, signer):
    body = event()
    sig = signer.sign(body)
    roots = [_cert(root)]
    refused(body, {"X-MS-Certificate-Url": URL, "X-MS-Signature-Algorithm": "rsa-sha256"},
            signer.chain, roots, "no signature")  # fmt: skip
    refused(body, {**headers(sig), "Authorization": f"Bearer {sig}"}, signer.chain, roots,
            "not a 'Signature'")  # fmt: skip
    refused(body, headers(sig, algorithm="rsa-sha1"), signer.chain, roots, "algorithm")
    refused(body, headers("%%%"), signer.chain, roots, "base64")
    refused(body, headers(sig), b"garbage", roots, "No certificate")


def test_the_sandboxs_own_deliveries_verify(sandbox):
    """What the sandbox sends (its served certificate, its signature) passes."""
    resource = f"{sandbox.urls['partner_center']}/v1/customers/{CUSTOMER}"
    body = sandbox_webhooks.event_body(sandbox, "subscription-updated", resource)
    hdrs = headers(
        sandbox_webhooks.sign(sandbox, body), url=sandbox_webhooks.certificate_url(sandbox)
    )
    roots = webhooks.load_certificates(pathlib.Path(sandbox.ca_path).read_bytes())

    def fetch(url):
        return requests.get(url, verify=sandbox.ca_path, timeout=10).content

    place = urlsplit(sandbox_webhooks.certificate_url(sandbox)).netloc  # 127.0.0.1:<port>
    found = webhooks.verify(body, hdrs, allowed_hosts=[place], roots=roots,
                            fetch_certificate=fetch, names=["mscloud-sandbox.invalid"])  # fmt: skip
    assert found.customer_id == CUSTOMER and found.subscription_id is None


# -- the certificate URL: one parser decides, and only what it rebuilt is fetched --------


@pytest.mark.parametrize(
    "url",
    [
        # urllib reads the host after the "@", requests' connection goes before the "\\"
        f"https://127.0.0.1:8553\\@{HOST}/cert/x.cer",
        f"https://127.0.0.1:8553\\\\@{HOST}/cert/x.cer",
        f"https://user@{HOST}/cert/x.cer",
        f"https://user:pass@{HOST}/cert/x.cer",
        f"https://{HOST}:8443/cert/x.cer",  # a port the entry does not allow
        f"https://{HOST}:0/cert/x.cer",
        f"https://{HOST}:99999/cert/x.cer",
        f"https://{HOST} /cert/x.cer",
        f"https://{HOST}/cert/x .cer",
        f"https://{HOST}/cert/\tx.cer",
        f"https://{HOST}/cert/é.cer",
        f"https://{HOST}.\x00evil.example.com/x.cer",
        f"HTTPS://{HOST}@evil.example.com/x.cer",
        f"https://[::1]/{HOST}/x.cer",
        "https://evil.example.com/cert.cer",
        f"http://{HOST}/cert.cer",
        f"//{HOST}/cert.cer",
        "",
    ],
)
def test_a_certificate_url_another_parser_could_read_otherwise_is_refused(root, signer, url):
    body = event()
    with pytest.raises(webhooks.WebhookRefused, match="not one allowed") as info:
        webhooks.verify(body, headers(signer.sign(body), url=url), allowed_hosts=[HOST],
                        roots=[_cert(root)], fetch_certificate=pytest.fail)  # fmt: skip
    assert "\n" not in info.value.reason and "\x00" not in info.value.reason


def test_only_the_rebuilt_certificate_url_is_fetched(root, signer):
    body = event()
    loose = f"https://{HOST.upper()}:443/cert/pcnotifications.microsoft.com.cer#part"
    found, fetched = check(body, headers(signer.sign(body), url=loose), signer.chain,
                           [_cert(root)])  # fmt: skip
    assert fetched == [URL]
    assert found.name == "subscription-updated"
    assert webhooks.certificate_url(f"https://{HOST}/c/a%20b.cer?sv=1&sig=x%2By", [HOST]) == (
        f"https://{HOST}/c/a%20b.cer?sv=1&sig=x%2By"
    )


def test_a_host_entry_with_a_port_allows_that_port_only():
    allowed = ["127.0.0.1:8553"]
    assert webhooks.certificate_url("https://127.0.0.1:8553/c.cer", allowed) == (
        "https://127.0.0.1:8553/c.cer"
    )
    for url in ("https://127.0.0.1/c.cer", "https://127.0.0.1:8554/c.cer"):
        with pytest.raises(webhooks.WebhookRefused):
            webhooks.certificate_url(url, allowed)


def test_an_old_event_is_refused_before_any_download(root, signer):
    stale = event(changed=datetime.now(UTC) - timedelta(days=8))
    with pytest.raises(webhooks.WebhookRefused, match="older"):
        webhooks.verify(stale, headers(signer.sign(stale)), allowed_hosts=[HOST],
                        roots=[_cert(root)], fetch_certificate=pytest.fail)  # fmt: skip


# -- the signing certificate: a signer's, named for Microsoft, not only its organisation --


def test_a_microsoft_organisation_certificate_for_another_name_is_refused(root):
    for name in ("evil.example.com", "microsoft.com.evil.example.com", "*.microsoft.com"):
        other = Signer(root, hostname=name)
        body = event()
        error = refused(body, headers(other.sign(body)), other.chain, [_cert(root)], "issued to")
        assert "microsoft.com" in error.reason
    below = Signer(root, hostname="pcnotifications-dispatch.microsoft.com")
    body = event()
    assert check(body, headers(below.sign(body)), below.chain, [_cert(root)])[0]
    # the names are the connection's to choose
    body = event()
    other = Signer(root, hostname="signer.contoso.test")
    found, _ = check(body, headers(other.sign(body)), other.chain, [_cert(root)],
                     names=["contoso.test"])  # fmt: skip
    assert found.name == "subscription-updated"


def test_a_certificate_not_made_for_signing_is_refused(root):
    body = event()
    encipher_only = HandMadeSigner(root, signs=False)
    refused(body, headers(encipher_only.sign(body)), encipher_only.chain, [_cert(root)],
            "not made for signing")  # fmt: skip
    authority = HandMadeSigner(root, authority=True)
    refused(body, headers(authority.sign(body)), authority.chain, [_cert(root)],
            "certificate authority")  # fmt: skip


def test_outside_text_in_a_refusal_stays_on_one_line(root):
    forger = Signer(root, organisation="Microsoft\nCorporation\r\n2026-12-04 ERROR forged")
    body = event()
    error = refused(body, headers(forger.sign(body)), forger.chain, [_cert(root)], "belongs to")
    assert "\n" not in error.reason and "\r" not in error.reason


class HandMadeSigner(Signer):
    """A leaf made by hand (trustme always gives a signer's key usage): ``signs`` False
    leaves digitalSignature out of its key usage, ``authority`` makes it a CA's."""

    def __init__(self, ca, signs=True, authority=False):  # pylint: disable=super-init-not-called
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        issuer_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
        issuer = x509.load_pem_x509_certificate(ca.cert_pem.bytes()).subject
        now = datetime.now(UTC).replace(tzinfo=None)
        name = x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, "pcnotifications.microsoft.com"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Microsoft Corporation"),
        ])  # fmt: skip
        usage = x509.KeyUsage(
            digital_signature=signs, content_commitment=False, key_encipherment=True,
            data_encipherment=False, key_agreement=False, key_cert_sign=authority,
            crl_sign=False, encipher_only=False, decipher_only=False,
        )  # fmt: skip
        cert = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(issuer).public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=authority, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("pcnotifications.microsoft.com")]), critical=False)
            .sign(issuer_key, hashes.SHA256())
        )  # fmt: skip
        self.leaf_only = self.chain = cert.public_bytes(serialization.Encoding.PEM)
