# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The Partner Center sign-in and admin consent, through the real controllers."""

from odoo.tests import tagged

from .common import CspSandboxHttpCase, query_of


@tagged("post_install", "-at_install")
class TestAuthorize(CspSandboxHttpCase):
    def setUp(self):
        super().setUp()
        self.authenticate("admin", "admin")
        # the flow is bound to the user who starts it: the browser's user, admin
        self.admin = self.env.ref("base.user_admin")
        self.connection = self.connection.with_user(self.admin)

    def _start(self):
        action = self.connection.action_authorize()
        self.assertIn("code_challenge=", action["url"])
        return self.sandbox.browse(action["url"])  # Microsoft's redirect to Odoo

    def _stored(self):
        return self.connection.sudo().read(["token_cache", "state"])[0]

    def test_sign_in_stores_tokens_and_a_replay_is_refused(self):
        callback = self._start()
        self.assertTrue(callback.startswith(self.connection.redirect_uri))
        response = self.url_open(callback, allow_redirects=False)
        self.assertEqual(response.status_code, 303, response.text)
        self.assertIn(f"csp_connection_action/{self.connection.id}", response.headers["Location"])
        stored = self._stored()
        self.assertEqual(stored["state"], "authorized")
        self.assertIn("RefreshToken", stored["token_cache"])
        self.assertEqual(self.connection.authorized_upn, self.sandbox.info["partner_admin_upn"])
        # the code redemption is in the connection's request log, without its secrets
        redeemed = self.env["csp.request.log"].search(
            [("connection_id", "=", self.connection.id), ("method", "=", "POST"),
             ("url", "like", "/oauth2/v2.0/token")]
        )  # fmt: skip
        self.assertEqual(redeemed.mapped("outcome"), ["success"])
        self.assertNotIn(self.sandbox.info["partner_center_app"]["client_secret"],
                         redeemed.request_body + redeemed.response_body)  # fmt: skip
        self.assertNotIn("eyJ", redeemed.response_body)

        # the same answer again (a replay) is refused and changes nothing
        self.connection.sudo().token_cache = "kept"
        response = self.url_open(callback, allow_redirects=False)
        self.assertEqual(response.status_code, 403)
        self.assertEqual(self._stored()["token_cache"], "kept")

    def test_a_tampered_state_stores_nothing(self):
        callback = self._start()
        params = query_of(callback)
        record_id, nonce, signature = params["state"].split(".")
        for forged in (
            f"{record_id}.{nonce}.{'0' * len(signature)}",  # bad signature
            f"{record_id}.othernonce.{signature}",  # nonce swapped
            "garbage",
        ):
            url = callback.replace(params["state"], forged)
            response = self.url_open(url, allow_redirects=False)
            self.assertEqual(response.status_code, 403, forged)
            stored = self._stored()
            self.assertFalse(stored["token_cache"])
            self.assertEqual(stored["state"], "not_authorized")
        # the genuine answer still works afterwards
        self.assertEqual(self.url_open(callback, allow_redirects=False).status_code, 303)
        self.assertEqual(self._stored()["state"], "authorized")

    def test_microsoft_refusal_is_explained_on_the_connection(self):
        callback = self._start()
        params = query_of(callback)
        url = (
            f"{self.connection.redirect_uri}?error=invalid_request&state={params['state']}"
            "&error_description=AADSTS50011%3A+The+redirect+URI+does+not+match"
        )
        self.assertEqual(self.url_open(url, allow_redirects=False).status_code, 303)
        self.assertEqual(self.connection.state, "error")
        self.assertIn("redirect URI", self.connection.last_error)
        self.assertIn("How to fix it", self.connection.last_error)

    def test_only_system_administrators_may_complete_a_sign_in(self):
        callback = self._start()
        self.authenticate("csp_mgr", "csp_mgr")
        self.assertEqual(self.url_open(callback, allow_redirects=False).status_code, 403)
        self.assertFalse(self._stored()["token_cache"])

    def test_admin_consent_round_trip(self):
        no_consent = self.special("no_consent")[0]
        blocked = self.special("consent_blocked")
        self.authorize()
        self.discover()
        tenant = self.connection.tenant_ids.filtered(lambda t: t.tenant_id == no_consent)
        tenant = tenant.with_user(self.admin)
        self.assertEqual(tenant.consent_state, "missing")
        self.assertIn("Grant admin consent", tenant.last_error)

        action = tenant.action_grant_consent()
        self.assertIn(f"/{no_consent}/v2.0/adminconsent", action["url"])
        callback = self.sandbox.browse(action["url"])
        self.assertTrue(callback.startswith(self.connection.consent_redirect_uri))
        self.assertEqual(self.url_open(callback, allow_redirects=False).status_code, 303)
        self.assertEqual(tenant.consent_state, "granted")
        # Odoo can now read the tenant; a replayed answer is refused
        tenant.action_test_access()
        self.assertFalse(tenant.last_error)
        self.assertEqual(self.url_open(callback, allow_redirects=False).status_code, 403)

        blocked_tenant = self.connection.tenant_ids.filtered(lambda t: t.tenant_id == blocked)
        blocked_tenant = blocked_tenant.with_user(self.admin)
        callback = self.sandbox.browse(blocked_tenant.action_grant_consent()["url"])
        self.assertIn("error=access_denied", callback)
        self.url_open(callback, allow_redirects=False)
        self.assertEqual(blocked_tenant.consent_state, "error")
        self.assertIn("GDAP relationship", blocked_tenant.last_error)
