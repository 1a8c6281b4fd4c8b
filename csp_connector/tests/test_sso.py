# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Sign-in with Microsoft through Odoo's real login routes, the sandbox as Entra ID."""

import html
import re
from urllib.parse import quote

from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged
from odoo.tests.common import JsonRpcException

from ..microsoft import sso
from .common import CspSandboxHttpCase, SandboxProcess, query_of

PROVIDER_LOGGER = "odoo.addons.csp_connector.models.auth_oauth_provider"


@tagged("post_install", "-at_install")
class TestSso(CspSandboxHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.connection.action_csp_setup_sso()
        cls.provider = cls.connection.sudo().sso_provider_ids
        tenants = cls.sandbox.tenants()
        cls.tenant, cls.other_tenant = tenants[0], tenants[1]
        cls.entra_user = cls._entra_user(cls.tenant, "sso.allowed")
        cls.other_entra_user = cls._entra_user(cls.other_tenant, "sso.other")
        cls.connection.sso_allowed_tenant_ids = f"{cls.partner}\n{cls.tenant['id']}"
        cls.odoo_user = cls._odoo_user("sso_allowed", cls.entra_user)
        cls.other_odoo_user = cls._odoo_user("sso_other", cls.other_entra_user)

    @classmethod
    def _entra_user(cls, tenant, name):
        upn = f"{name}@{tenant['default_domain']}"
        body = {"userPrincipalName": upn, "displayName": name, "mail": upn}
        return cls.sandbox.control("POST", f"tenants/{tenant['id']}/users", body)

    @classmethod
    def _odoo_user(cls, login, entra_user):
        return new_test_user(
            cls.env,
            login=login,
            oauth_provider_id=cls.provider.id,
            oauth_uid=entra_user["id"],
        )

    # -- the browser ------------------------------------------------------------------

    def _login_link(self):
        page = self.url_open("/web/login")
        self.assertEqual(page.status_code, 200)
        links = [
            html.unescape(href)
            for href in re.findall(r'href="([^"]+)"', page.text)
            if html.unescape(href).startswith(self.provider.auth_endpoint)
        ]
        self.assertEqual(len(links), 1, "one Microsoft link on the login page")
        self.assertNotIn(self.sandbox.info["gdap_app"]["client_secret"], page.text)
        return links[0]

    def _sign_in(self, entra_user):
        """Login page, Microsoft (auto-approving) and back: Odoo's answer to the callback."""
        link = self._login_link()
        callback = self.sandbox.browse(
            f"{link}&login_hint={quote(entra_user['userPrincipalName'])}"
        )
        self.assertTrue(callback.startswith(f"{self.base_url()}/auth_oauth/signin?"), callback)
        return callback, self.url_open(callback, allow_redirects=False)

    def _session_uid(self):
        """The uid of the browser's session, None when nobody is logged in."""
        try:
            return self.make_jsonrpc_request("/web/session/get_session_info").get("uid")
        except JsonRpcException as exc:
            self.assertIn("SessionExpired", exc.args[0] if exc.args else str(exc))
            return None

    def assertRefused(self, entra_user, *expected):
        """The sign-in ends on the login page showing `expected`, with a WARNING logged."""
        with self.assertLogs(PROVIDER_LOGGER, "WARNING") as logs:
            _callback, response = self._sign_in(entra_user)
        self.assertEqual(response.status_code, 303, response.text)
        self.assertIn("/web/login?oauth_error=", response.headers["Location"])
        page = self.url_open(response.headers["Location"])
        text = html.unescape(page.text)
        for snippet in expected:
            self.assertIn(snippet, text)
        self.assertFalse(self._session_uid())
        for line in logs.output:  # no token, code or secret in the log
            self.assertNotIn("eyJ", line)
            self.assertNotIn(self.sandbox.info["gdap_app"]["client_secret"], line)
        return text, logs.output

    # -- tests --------------------------------------------------------------------------

    def test_setup_creates_the_provider(self):
        provider = self.provider
        self.assertEqual(len(provider), 1)
        self.assertEqual(provider.flow, "id_token_code")
        self.assertEqual(provider.client_id, self.connection.gdap_client_id)
        self.assertFalse(provider.client_secret, "the secret stays on the connection only")
        self.assertEqual(provider.scope, "openid profile email")
        login = self.sandbox.urls["login"]
        self.assertEqual(provider.auth_endpoint, f"{login}/organizations/oauth2/v2.0/authorize")
        self.assertEqual(provider.token_endpoint, f"{login}/organizations/oauth2/v2.0/token")
        self.assertEqual(provider.jwks_uri, f"{login}/organizations/discovery/v2.0/keys")
        self.assertEqual(provider.csp_issuer_template, f"{login}/{{tenantid}}/v2.0")
        self.assertTrue(self.connection.sso_enabled)
        # again: the same provider is updated, not a second one
        self.connection.with_user(self.manager).action_csp_setup_sso()
        self.assertEqual(self.connection.sudo().sso_provider_ids, provider)
        # a CSP user who is not a manager may not
        viewer = new_test_user(self.env, login="csp_viewer", groups="csp_connector.group_csp_user")
        with self.assertRaises(AccessError):
            self.connection.with_user(viewer).action_csp_setup_sso()

    def test_allowed_tenant_user_signs_in(self):
        link = self._login_link()
        params = query_of(link)
        self.assertEqual(params["response_type"], "code")
        self.assertEqual(params["code_challenge_method"], "S256")
        self.assertTrue(params["nonce"])
        self.assertIn(params["nonce"], params["state"])
        callback, response = self._sign_in(self.entra_user)
        self.assertEqual(response.status_code, 303, response.text)
        self.assertNotIn("oauth_error", response.headers["Location"])
        self.assertEqual(self._session_uid(), self.odoo_user.id)
        # the same answer again is refused: the login link was used
        self.url_open("/web/session/logout")
        with self.assertLogs(PROVIDER_LOGGER, "WARNING"):
            replay = self.url_open(callback, allow_redirects=False)
        self.assertIn("/web/login?oauth_error=", replay.headers["Location"])
        self.assertFalse(self._session_uid())

    def test_signing_keys_are_read_once_and_again_after_a_key_rollover(self):
        sso.forget_signing_keys()
        logs = self.env["csp.request.log"]

        def key_reads():
            return logs.search_count([("url", "=", self.provider.jwks_uri)])

        def sign_in_and_out():
            _callback, response = self._sign_in(self.entra_user)
            self.assertNotIn("oauth_error", response.headers["Location"])
            self.assertEqual(self._session_uid(), self.odoo_user.id)
            self.url_open("/web/session/logout")

        before = key_reads()
        sign_in_and_out()
        sign_in_and_out()
        self.assertEqual(key_reads(), before + 1, "the second sign-in reuses the keys")
        self.sandbox.control("POST", "signing-keys/rotate")
        sign_in_and_out()  # signed with a key Odoo has not seen: read again, accepted
        self.assertEqual(key_reads(), before + 2)
        # the sign-ins are in the connection's request log, without tokens or secret
        redeemed = logs.search([("url", "=", self.provider.token_endpoint)])
        self.assertEqual(len(redeemed), 3)
        logged = " ".join(redeemed.mapped("request_body") + redeemed.mapped("response_body"))
        self.assertNotIn("eyJ", logged)
        self.assertNotIn(self.sandbox.info["gdap_app"]["client_secret"], logged)

    def test_tenant_not_on_the_list_is_refused_until_any_tenant(self):
        tid = self.other_tenant["id"]
        _text, logs = self.assertRefused(self.other_entra_user, tid, "allow-list")
        self.assertIn(tid, logs[0])
        self.assertIn("tenant_not_allowed", logs[0])
        self.connection.sso_any_tenant = True
        _callback, response = self._sign_in(self.other_entra_user)
        self.assertNotIn("oauth_error", response.headers["Location"])
        self.assertEqual(self._session_uid(), self.other_odoo_user.id)

    def test_auto_allow_list_lets_imported_tenants_in(self):
        self.connection.sso_allowed_tenant_ids = self.partner
        self.assertRefused(self.entra_user, self.tenant["id"])
        self.connection.auto_sso_allowlist = True
        self.connection._csp_allow_sso_tenants([self.tenant["id"]])  # as the tenant import does
        _callback, response = self._sign_in(self.entra_user)
        self.assertNotIn("oauth_error", response.headers["Location"])
        self.assertEqual(self._session_uid(), self.odoo_user.id)

    def test_a_microsoft_user_without_odoo_user(self):
        stranger = self._entra_user(self.tenant, "sso.stranger")
        params = self.env["ir.config_parameter"].sudo()
        # sign-up on invitation only: refused
        params.set_param("auth_signup.invitation_scope", "b2b")
        self.assertRefused(stranger, "No Odoo user is linked", stranger["userPrincipalName"])
        # free sign-up (auth_oauth's standard behaviour): a portal user, linked by oid
        params.set_param("auth_signup.invitation_scope", "b2c")
        _callback, response = self._sign_in(stranger)
        self.assertNotIn("oauth_error", response.headers["Location"])
        created = self.env["res.users"].search([("oauth_uid", "=", stranger["id"])])
        self.assertEqual(created.oauth_provider_id, self.provider)
        self.assertTrue(created._is_portal())
        self.assertEqual(self._session_uid(), created.id)

    def test_expired_token_is_refused(self):
        # the sandbox issues tokens three hours in the past: they expired two hours ago
        self.sandbox.control("POST", "clock", {"advance_seconds": -3 * 3600})
        try:
            _text, logs = self.assertRefused(self.entra_user, "expired")
        finally:
            self.sandbox.control("POST", "clock", {"advance_seconds": 3 * 3600})
        self.assertIn("expired", logs[0])

    def test_wrong_audience_is_refused(self):
        # a provider that signs in with another app (here the Partner Center app): the
        # tokens are genuine, but not issued to the connection's GDAP app
        other_app = self.sandbox.info["partner_center_app"]
        self.provider.write(
            {"client_id": other_app["client_id"], "client_secret": other_app["client_secret"]}
        )
        _text, logs = self.assertRefused(self.entra_user, "audience", "not valid")
        self.assertIn("audience", logs[0])

    def test_bad_signature_is_refused(self):
        # a second Entra ID with the same apps and users but its own signing key: its
        # keys do not sign the tokens the first one issues
        impostor = SandboxProcess(tenants=self.sandbox_tenants)
        self.addCleanup(impostor.stop)
        self.provider.jwks_uri = f"{impostor.urls['login']}/organizations/discovery/v2.0/keys"
        self.connection.ca_bundle_path = self._both_cas(impostor)
        _text, logs = self.assertRefused(self.entra_user, "signature", "not valid")
        self.assertIn("signature", logs[0])

    def _both_cas(self, impostor):
        bundle = f"{impostor.workdir.name}/both-ca.pem"
        with open(bundle, "w", encoding="utf-8") as out:
            for path in (self.sandbox.ca_path, impostor.ca_path):
                with open(path, encoding="utf-8") as pem:
                    out.write(pem.read())
        return bundle

    def test_microsoft_error_is_explained(self):
        self.sandbox.fault(service="login", path="/token", aadsts=7000215, times=1)
        try:
            self.assertRefused(self.entra_user, "Microsoft refused the sign-in", "7000215")
        finally:
            self.sandbox.control("DELETE", "faults")
