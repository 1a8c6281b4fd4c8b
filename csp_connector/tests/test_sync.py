# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Discovery, mapping, per-tenant isolation, throttling and idempotence of the sync."""

import json

from odoo import sql_db
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import CspSandboxCase


@tagged("post_install", "-at_install")
class TestSync(CspSandboxCase):
    sandbox_tenants = 8

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # small pages, so that every list spans several pages
        cls.env["ir.config_parameter"].sudo().set_param("csp_connector.page_size", "2")
        cls.admin = cls.env.ref("base.user_admin")
        cls.connection = cls.connection.with_user(cls.admin)
        cls.tenants_state = {t["id"]: t for t in cls.sandbox.tenants()}

    def setUp(self):
        super().setUp()
        self.addCleanup(self.sandbox.control, "DELETE", "faults")

    def _logs(self):
        return self.env["csp.request.log"].search([("connection_id", "=", self.connection.id)])

    def test_gdap_and_dap_discovery_over_several_pages(self):
        self.authorize()
        run = self.discover()
        tenants = self.connection.tenant_ids
        expected = {tid for tid, t in self.tenants_state.items() if t["reseller"] or t["gdap"]}
        self.assertEqual(set(tenants.mapped("tenant_id")), expected)
        kinds = {t.tenant_id: t.relationship for t in tenants}
        self.assertEqual(kinds[self.special("gdap_only")[0]], "gdap")
        self.assertEqual(kinds[self.special("reseller_only")[0]], "reseller")
        self.assertIn("both", kinds.values())
        logs = self._logs()
        self.assertGreaterEqual(len(logs.filtered(lambda r: "/v1/customers" in r.url)), 3)
        self.assertGreaterEqual(
            len(logs.filtered(lambda r: "delegatedAdminRelationships" in r.url)), 3
        )
        self.assertEqual(run.created, len(expected))

    def test_gdap_only_discovery(self):
        self.connection.relationship_mode = "gdap_only"
        self.discover()  # no Partner Center sign-in needed
        expected = {tid for tid, t in self.tenants_state.items() if t["gdap"]}
        self.assertEqual(set(self.connection.tenant_ids.mapped("tenant_id")), expected)
        self.assertFalse(self._logs().filtered(lambda r: r.service == "partnercenter"))

    def test_expiring_gdap_gets_an_activity_for_managers(self):
        self.authorize()
        self.discover()
        tenant = self.connection.tenant_ids.filtered(
            lambda t: t.tenant_id == self.special("expiring_gdap")
        )
        self.assertTrue(tenant.gdap_expiring)
        self.assertEqual(self.env["csp.tenant"].search([("gdap_expiring", "=", True)]), tenant)
        activity = tenant.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertTrue(activity.user_id.has_group("csp_connector.group_csp_manager"))
        # a second discovery does not pile up activities
        self.discover()
        self.assertEqual(len(tenant.activity_ids), 1)

    def test_mappings_are_suggested_then_confirmed(self):
        self.authorize()
        self.discover()  # also reads each tenant's domains
        first, second = self.special("two_tenant_company")
        by_name = self.env["res.partner"].create(
            {"name": self.tenants_state[first]["company_name"].upper() + " LTD", "is_company": True}
        )
        tenant_other = self.connection.tenant_ids.filtered(
            lambda t: t.tenant_id not in (first, second) and t.consent_state == "granted"
        )[:1]
        verified = next(
            d for d in tenant_other.verified_domains.split() if not d.endswith(".onmicrosoft.com")
        )
        domain_company = self.env["res.partner"].create(
            {"name": "Someone Else Entirely", "is_company": True}
        )
        self.env["res.partner"].create(
            {
                "name": "Contact",
                "parent_id": domain_company.id,
                "email": f"it@{verified}",
            }
        )
        self.connection.action_suggest_mappings()
        tenants = self.connection.tenant_ids
        suggested = {t.tenant_id: t.suggested_partner_id for t in tenants if t.suggested_partner_id}
        self.assertEqual(suggested[first], by_name)
        self.assertEqual(suggested[tenant_other.tenant_id], domain_company)
        self.assertFalse(tenants.filtered("partner_id"), "suggestions are never applied silently")
        tenants.filtered(lambda t: t.tenant_id == first).action_confirm_suggestion()
        mapped = tenants.filtered(lambda t: t.tenant_id == first)
        self.assertEqual((mapped.partner_id, mapped.mapping_state), (by_name, "mapped"))
        # the customer's second tenant maps to the same company
        tenants.filtered(lambda t: t.tenant_id == second).partner_id = by_name
        self.assertEqual(len(by_name.search([("id", "=", by_name.id)])), 1)
        self.assertEqual(len(tenants.filtered(lambda t: t.partner_id == by_name)), 2)

    def test_new_tenants_become_customers_and_join_the_sso_allow_list(self):
        existing = self.env["res.partner"].create(
            {"name": "Tidewell Labs Limited", "is_company": True}
        )
        self.connection.write({"create_customers": True, "auto_sso_allowlist": True})
        self.authorize()
        self.discover()
        tenants = self.connection.tenant_ids
        tidewell = tenants.filtered(lambda t: t.name == "Tidewell Labs")
        # a tenant matching an existing company waits for confirmation, no duplicate
        self.assertEqual(tidewell.suggested_partner_id, existing)
        self.assertFalse(tidewell.partner_id)
        self.assertEqual(self.env["res.partner"].search_count([("name", "ilike", "tidewell")]), 1)
        others = tenants - tidewell
        self.assertTrue(all(t.partner_id.is_company for t in others))
        self.assertEqual(others.mapped("partner_id.name"), others.mapped("name"))
        allowed = self.connection.sudo().sso_allowed_tenant_ids.split()
        self.assertEqual(sorted(allowed), sorted(tenants.mapped("tenant_id")))
        # rediscovery adds nothing twice
        self.discover()
        self.assertEqual(len(self.connection.sudo().sso_allowed_tenant_ids.split()), len(allowed))

    def test_one_failing_tenant_never_stops_the_others(self):
        self.authorize()
        run = self.connection._csp_sync(trigger="manual", modules=["tenants"])
        self.assertEqual(run.state, "partial")
        no_consent = self.special("no_consent")[0]
        failing = run.line_ids.filtered(lambda line: line.state == "error")
        failing_ids = set(failing.csp_tenant_id.mapped("tenant_id"))
        self.assertIn(no_consent, failing_ids)
        line = failing.filtered(lambda line: line.csp_tenant_id.tenant_id == no_consent)
        self.assertIn("AADSTS7000229", line.message)
        self.assertIn("Grant admin consent", line.message)
        tenant = line.csp_tenant_id
        self.assertEqual(tenant.consent_state, "missing")
        self.assertIn("Grant admin consent", tenant.last_error)
        self.assertIn("AADSTS7000229", tenant.message_ids[:1].body)
        # every tenant with consent was checked successfully
        consented = self.connection.tenant_ids.filtered(lambda t: t.tenant_id not in failing_ids)
        self.assertTrue(consented)
        self.assertEqual(set(consented.mapped("consent_state")), {"granted"})
        self.assertEqual(
            len(run.line_ids.filtered(lambda line: line.csp_tenant_id)),
            len(self.connection.tenant_ids),
        )
        with self.assertRaisesRegex(UserError, "Grant admin consent"):
            tenant.action_test_access()
        reseller_only = self.connection.tenant_ids.filtered(
            lambda t: t.tenant_id == self.special("reseller_only")[0]
        )
        self.assertIn("no GDAP relationship", reseller_only.last_error)

    def test_a_429_storm_is_ridden_out(self):
        self.authorize()
        self.sandbox.fault(
            service="partnercenter", path="/v1/customers", status=429, retry_after=0, times=6
        )
        self.sandbox.fault(
            service="graph", path="delegatedAdminRelationships", status=429, retry_after=0, times=4
        )
        run = self.connection._csp_sync(trigger="manual", modules=["tenants"])
        self.assertNotEqual(run.state, "failed", run.message)
        self.assertTrue(self.connection.tenant_ids)
        self.assertEqual(len(self._logs().filtered(lambda r: r.status == 429)), 10)

    def test_a_rerun_without_change_writes_nothing(self):
        self.authorize()
        first = self.connection._csp_sync(trigger="manual", modules=["tenants"])
        self.env["csp.tenant"].flush_model()
        self.env.cr.execute(
            "UPDATE csp_tenant SET write_date = '2000-01-01' WHERE connection_id = %s",
            [self.connection.id],
        )
        self.env.cr.execute(
            "UPDATE csp_connection SET write_date = '2000-01-01' WHERE id = %s",
            [self.connection.id],
        )
        self.env.invalidate_all()
        second = self.connection._csp_sync(trigger="manual", modules=["tenants"])
        self.env.flush_all()
        self.env.cr.execute(
            "SELECT count(*) FROM csp_tenant WHERE connection_id = %s "
            "AND write_date <> '2000-01-01'",
            [self.connection.id],
        )
        self.assertEqual(self.env.cr.fetchone()[0], 0)
        self.env.cr.execute(
            "SELECT write_date FROM csp_connection WHERE id = %s", [self.connection.id]
        )
        self.assertEqual(str(self.env.cr.fetchone()[0]), "2000-01-01 00:00:00")
        self.assertEqual((second.created, second.updated, second.deactivated), (0, 0, 0))
        self.assertEqual(second.skipped, first.skipped + first.created + first.updated)

    def test_interrupted_run_resumes_without_duplicates(self):
        self.authorize()
        # tenant discovery alone (the steps of installed add-ons switched off too)
        others = {s.code for s in self.connection._csp_sync_steps()} - {"tenants"}
        switches = {f"sync_{c}": False for c in others if f"sync_{c}" in self.connection._fields}
        self.connection.write({"integrator_enabled": True, **switches})
        run = self.connection._csp_sync(trigger="cron", batch=2)
        self.assertEqual(run.state, "running")
        handled = run.line_ids.filtered("csp_tenant_id")
        self.assertEqual(len(handled), 2)
        # the next cron call resumes the same run, handling each tenant once
        self.env["csp.connection"]._cron_run_integrator(batch=100)
        self.assertIn(run.state, ("done", "partial"))
        per_tenant = run.line_ids.filtered("csp_tenant_id").mapped("csp_tenant_id")
        self.assertEqual(len(per_tenant), len(run.line_ids.filtered("csp_tenant_id")))
        self.assertEqual(per_tenant, self.connection.tenant_ids)
        # discovery again (as after a crash mid-discovery) creates no duplicate
        self.discover()
        ids = self.connection.tenant_ids.mapped("tenant_id")
        self.assertEqual(len(ids), len(set(ids)))

    def test_two_workers_never_sync_one_connection(self):
        self.authorize()
        with sql_db.db_connect(self.env.cr.dbname).cursor() as other:
            other.execute("SELECT pg_advisory_lock(%s, %s)", (0x0C5B, self.connection.id))
            with self.assertRaisesRegex(UserError, "already running"):
                self.connection._csp_sync(trigger="manual")
            self.assertFalse(self.connection._csp_sync(trigger="cron"))
            other.execute("SELECT pg_advisory_unlock(%s, %s)", (0x0C5B, self.connection.id))
        self.assertTrue(self.connection._csp_sync(trigger="manual", modules=["tenants"]))

    def test_secrets_and_tokens_stay_with_system_administrators(self):
        self.manager.groups_id += self.env.ref("base.group_allow_export")
        self.authorize()
        self.discover()
        manager_view = self.connection.with_user(self.manager)
        for field in ("pc_client_secret", "gdap_client_secret", "token_cache", "auth_flow"):
            with self.assertRaises(AccessError):
                manager_view.read([field])
            with self.assertRaises(AccessError):
                manager_view.search_read([("id", "=", self.connection.id)], [field])
            with self.assertRaises(AccessError):
                manager_view.export_data([field])
            self.assertNotIn(field, manager_view.fields_get())
            self.assertFalse(self.connection._fields[field].exportable)
        # the write-only inputs never give a secret back
        self.assertFalse(manager_view.pc_client_secret_input)
        self.assertTrue(manager_view.pc_client_secret_set)
        # no request log holds a secret or a token
        cache = json.loads(self.connection.sudo().token_cache)
        tokens = [
            item["secret"]
            for kind in ("AccessToken", "RefreshToken", "IdToken")
            for item in cache.get(kind, {}).values()
        ]
        secrets = [
            *tokens,
            self.sandbox.info["partner_center_app"]["client_secret"],
            self.sandbox.info["gdap_app"]["client_secret"],
        ]
        logs = self._logs()
        self.assertTrue(logs.filtered(lambda r: "oauth2/v2.0/token" in r.url))
        for log in logs:
            text = f"{log.url}\n{log.request_body}\n{log.response_body}\n{log.error}"
            for secret in secrets:
                self.assertNotIn(secret, text)

    def test_only_system_administrators_change_endpoints(self):
        manager_view = self.connection.with_user(self.manager)
        manager_view.name = "Renamed by a manager"
        with self.assertRaises(AccessError):
            manager_view.graph_endpoint = "https://attacker.example.com"
        with self.assertRaises(AccessError):
            manager_view.action_authorize()

    def test_secret_replaced_from_the_form_and_noted(self):
        self.connection.with_user(self.manager).gdap_client_secret_input = "  new-value  "
        self.assertEqual(self.connection.sudo().gdap_client_secret, "new-value")
        self.assertIn("GDAP app secret was replaced", self.connection.message_ids[:1].body)
        self.assertNotIn("new-value", self.connection.message_ids[:1].body)

    def test_expired_sign_in_puts_the_connection_in_error(self):
        self.authorize()
        self.sandbox.fault(service="login", path="/oauth2/v2.0/token", aadsts=700082)
        # the cached access token is still valid for MSAL: make it stale, as after an hour
        cache = json.loads(self.connection.sudo().token_cache)
        for item in cache["AccessToken"].values():
            item["expires_on"] = item["extended_expires_on"] = "1"
        self.connection.sudo().token_cache = json.dumps(cache)
        run = self.connection._csp_sync(trigger="manual", modules=["tenants"])
        # discovery fails alone: the known tenants' steps still ran
        self.assertEqual(run.state, "partial")
        discovery = run.line_ids.filtered(lambda line: not line.csp_tenant_id)
        self.assertEqual(discovery.state, "error")
        self.assertIn("Authorize", discovery.message)
        self.assertEqual(self.connection.state, "error")
        self.assertIn("Authorize", self.connection.last_error)
        self.assertIn("AADSTS700082", self.connection.message_ids[:1].body)
