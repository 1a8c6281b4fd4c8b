# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The rules hold on the server, whatever a client sends over RPC (readme: Security model)."""

import html
import re
from datetime import timedelta
from urllib.parse import quote

from odoo import fields
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tests.common import JsonRpcException

from ..models.csp_guard import code_env
from .code_only import assert_code_only_fields_refused, models_guarded_by
from .common import CspSandboxHttpCase, query_of

ACCESS_ERROR = "odoo.exceptions.AccessError"
VALIDATION_ERROR = "odoo.exceptions.ValidationError"


@tagged("post_install", "-at_install")
class TestSecurity(CspSandboxHttpCase):
    sandbox_tenants = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        admin = cls.env.ref("base.user_admin")
        cls.authorize(cls, cls.connection.with_user(admin))
        cls.discover(cls, cls.connection.with_user(admin))
        first = cls.sandbox.state()["special"]["two_tenant_company"][0]
        cls.tenant = cls.connection.tenant_ids.filtered(lambda t: t.tenant_id == first)
        cls.domain = cls.tenant.verified_domains.split()[0]
        cls.admin = admin
        cls.customer = cls.env["res.partner"].create({"name": "Ashford & Pike", "is_company": True})
        cls.viewer = new_test_user(
            cls.env, login="csp_viewer", groups="csp_connector.group_csp_user"
        )
        cls.integrator = cls.env.ref("csp_connector.user_csp_integrator")

    # -- helpers ---------------------------------------------------------------------

    def rpc(self, model, method, *args, **kwargs):
        return self.make_jsonrpc_request(
            f"/web/dataset/call_kw/{model}/{method}",
            {"model": model, "method": method, "args": list(args), "kwargs": kwargs},
        )

    def _with_dependencies(self, names):
        """`names` and every module they depend on, transitively."""
        modules, seen = self.env["ir.module.module"], set()
        while names:
            seen |= names
            found = modules.search([("name", "in", list(names))]).dependencies_id
            names = set(found.mapped("name")) - seen
        return seen

    def _core_modules(self):
        return self._with_dependencies({"csp_connector"})

    def _feature_modules(self):
        """The installed add-ons built on the connector and what they depend on."""
        dependencies = self.env["ir.module.module.dependency"]
        add_ons, names = set(), {"csp_connector"}
        while names:
            found = dependencies.search([("name", "in", list(names))]).module_id
            names = set(found.filtered(lambda m: m.state == "installed").mapped("name")) - add_ons
            add_ons |= names
        return self._with_dependencies(add_ons) if add_ons else set()

    def assertRpcRefused(self, error, model, method, *args, **kwargs):
        with self.assertRaises(JsonRpcException) as caught:
            self.rpc(model, method, *args, **kwargs)
        self.assertEqual(caught.exception.args[0], error, f"{model}.{method}{args}")

    def add_azure_user(self, name, mail):
        first, last = name.lower().split()
        body = {
            "userPrincipalName": f"{first}.{last}@{self.domain}",
            "displayName": name,
            "mail": mail,
            "accountEnabled": True,
        }
        return self.sandbox.control("POST", f"tenants/{self.tenant.tenant_id}/users", body)

    def make_due(self):
        """The connection's last run started a day ago: the integrator is due."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE csp_sync_run SET started = started - interval '1 day' WHERE connection_id = %s",
            [self.connection.id],
        )
        self.env["csp.sync.run"].invalidate_model()
        self.connection.run_ids.modified(["started"])  # the stored next sync follows
        self.env.flush_all()

    def run_cron(self, cron):
        """What Odoo's cron worker does with a due job (ir.cron._process_job)."""
        job = self.env(user=cron.user_id)["ir.cron"].browse(cron.id)
        job, _progress = job._add_progress()
        with self.assertNoLogs("odoo.addons.base.models.ir_cron", "ERROR"):
            job._callback(cron.cron_name, cron.ir_actions_server_id.id)

    def logs(self):
        return self.env["csp.request.log"].search([("connection_id", "=", self.connection.id)])

    # -- the takeover ------------------------------------------------------------------

    def manager_configures_over_rpc(self):
        """The attacker's part: a CSP manager (not an administrator), over JSON-RPC."""
        admin_partner = self.admin.partner_id
        company_partner = self.env.company.partner_id
        self.authenticate("csp_mgr", "csp_mgr")
        # the manager maps the tenant to the administrator's contact, or to the
        # database's own company (whose contacts are the staff): refused on the server
        for partner in (admin_partner, company_partner):
            self.assertRpcRefused(
                VALIDATION_ERROR, "csp.tenant", "write", [self.tenant.id],
                {"partner_id": partner.id},
            )  # fmt: skip
        self.assertRpcRefused(
            VALIDATION_ERROR, "csp.site.mapping", "create",
            {"connection_id": self.connection.id, "kind": "site",
             "customer_id": company_partner.id, "site_id": company_partner.id},
        )  # fmt: skip
        # ... nor can a binding be forged to point an Azure user at a contact
        self.assertRpcRefused(
            ACCESS_ERROR, "csp.user.binding", "create",
            {"connection_id": self.connection.id, "csp_tenant_id": self.tenant.id,
             "microsoft_id": "forged", "partner_id": admin_partner.id},
        )  # fmt: skip
        # what the manager may do: a real customer, matching by e-mail, portal access
        self.rpc("csp.tenant", "write", [self.tenant.id], {"partner_id": self.customer.id})
        self.rpc(
            "csp.connection", "write", [self.connection.id],
            {"user_match_field": "email", "integrator_enabled": True, "sync_users": True,
             "sync_tenants": False},
        )  # fmt: skip
        self.rpc(
            "csp.site.mapping", "create",
            {"connection_id": self.connection.id, "kind": "site", "grant_portal": True,
             "customer_id": self.customer.id, "site_id": self.customer.id},
        )  # fmt: skip

    def test_a_manager_cannot_take_over_an_internal_user(self):
        admin_partner = self.admin.partner_id
        self.manager_configures_over_rpc()

        # Odoo users' contacts a sync could still reach: the administrator's contact
        # left under the customer (by hand, or before this fix), a customer's employee
        # with portal access, and a binding pointing at the administrator from before
        self.env.cr.execute(
            "UPDATE res_partner SET parent_id = %s, commercial_partner_id = %s WHERE id = %s",
            [self.customer.id, self.customer.id, admin_partner.id],
        )
        self.env["res.partner"].invalidate_model()
        admin_partner.email = f"boss@{self.domain}"
        portal_contact = self.env["res.partner"].create(
            {"name": "Pat Portal", "parent_id": self.customer.id, "email": f"pat@{self.domain}"}
        )
        portal_user = new_test_user(
            self.env, login="pat_portal", partner_id=portal_contact.id,
            groups="base.group_portal", email=f"pat@{self.domain}",
        )  # fmt: skip
        attacker = self.add_azure_user("Mallory Boss", f"boss@{self.domain}")
        self.add_azure_user("Pat Other", f"pat@{self.domain}")
        bound = self.add_azure_user("Eve Bound", f"eve@{self.domain}")
        self.env.cr.execute(
            "INSERT INTO csp_user_binding (connection_id, company_id, csp_tenant_id, microsoft_id,"
            " partner_id) VALUES (%s, %s, %s, %s, %s)",
            [self.connection.id, self.connection.company_id.id, self.tenant.id, bound["id"],
             admin_partner.id],
        )  # fmt: skip
        joiner = self.add_azure_user("Jo Joiner", f"jo@{self.domain}")
        before = admin_partner.read(["name", "email", "parent_id", "active"])[0]
        admin_login = self.admin.login

        # the scheduled sync, through Odoo's cron runner, as the cron's own user (the
        # discovery of setUpClass is made a day old: the connection is due)
        self.make_due()
        cron = self.env.ref("csp_connector.ir_cron_csp_integrator")
        self.assertEqual(cron.user_id, self.integrator)
        self.run_cron(cron)

        run = self.env["csp.sync.run"].search([("connection_id", "=", self.connection.id)])[:1]
        self.assertEqual(run.create_uid, self.integrator, "not the superuser")
        line = run.line_ids.filtered(lambda x: x.csp_tenant_id == self.tenant and x.step == "users")
        self.assertEqual(line.state, "done", line.message)
        self.assertEqual(line.skipped_protected, 3)
        self.assertGreaterEqual(line.skipped, 3)
        self.assertEqual(run.skipped_protected, 3)
        self.env.invalidate_all()
        self.assertEqual(admin_partner.read(["name", "email", "parent_id", "active"])[0], before)
        self.assertEqual(self.admin.login, admin_login)
        bindings = self.env["csp.user.binding"].search([("csp_tenant_id", "=", self.tenant.id)])
        by_object = {b.microsoft_id: b.partner_id for b in bindings}
        self.assertNotIn(attacker["id"], by_object, "never bound to the administrator")
        self.assertNotIn(portal_contact, bindings.partner_id)
        self.assertEqual(by_object[bound["id"]], admin_partner, "left as it was, unused")
        # the sync did its work for everybody else, and portal access only went to the
        # contact it created (the employee already had a user: no second one)
        newcomer = by_object[joiner["id"]]
        self.assertEqual((newcomer.name, newcomer.email), ("Jo Joiner", f"jo@{self.domain}"))
        self.assertTrue(newcomer.user_ids.has_group("base.group_portal"))
        self.assertEqual(
            self.env["res.users"].search_count([("partner_id", "=", portal_contact.id)]), 1
        )
        self.assertEqual(portal_user.partner_id.email, f"pat@{self.domain}")
        # a second run ("Run manually" on the job) still leaves them alone
        self.make_due()
        cron.with_user(self.admin).method_direct_trigger()
        second = self.env["csp.sync.run"].search([("connection_id", "=", self.connection.id)])[:1]
        self.assertNotEqual(second, run)
        self.assertEqual(second.create_uid, self.integrator)
        self.env.invalidate_all()
        self.assertEqual(admin_partner.read(["name", "email", "parent_id", "active"])[0], before)

    def test_a_sync_never_writes_a_protected_contact(self):
        """The last line of defence: code running a sync cannot write such a contact,
        even if a future sync path forgot to skip it."""
        partners = code_env(self.env["res.partner"])  # even as the superuser
        with self.assertRaises(AccessError):
            partners.browse(self.admin.partner_id.id).write({"email": "x@y.z"})
        with self.assertRaises(AccessError):
            partners.browse(self.env.company.partner_id.id).write({"name": "X"})
        partners.browse(self.customer.id).write({"phone": "+1 555 0199"})  # a customer: fine
        # outside a sync, Odoo's own rules apply as before
        self.admin.partner_id.with_user(self.admin).write({"phone": "+1 555 0100"})

    def test_the_integrator_has_the_managers_rights_and_no_more(self):
        user = self.integrator
        self.assertFalse(user.active, "nobody signs in as it")
        self.assertFalse(user.share)
        self.assertTrue(user.has_group("csp_connector.group_csp_manager"))
        self.assertTrue(user.has_group("base.group_partner_manager"))
        for group in ("base.group_system", "base.group_erp_manager", "base.group_no_one"):
            self.assertFalse(user.has_group(group), group)
        # the connector's groups and contact creation; base.group_no_one comes with every
        # internal user (Odoo's base.group_user implies it) and only acts in a signed-in
        # debug session, which the integrator never has
        expected = {
            "csp_connector.group_csp_manager", "csp_connector.group_csp_user",
            "base.group_partner_manager", "base.group_user", "base.group_no_one",
        }  # fmt: skip
        held = set(user.groups_id.get_external_id().values())
        self.assertLessEqual(expected, held)
        # beyond them, only what an installed feature add-on's step writes: a group of a
        # module installed for an add-on of the connector, none of the core's own modules
        # (each add-on's tests name its groups)
        for xmlid in held - expected:
            module = xmlid.split(".")[0]
            self.assertNotIn(module, self._core_modules(), xmlid)
            self.assertIn(module, self._feature_modules(), xmlid)
        with self.assertRaises(AccessError):
            self.env["res.users"].with_user(user).create({"name": "X", "login": "x"})
        # it works in each company that has a connection
        other = self.env["res.company"].create({"name": "Other MSP"})
        self.assertNotIn(other, user.company_ids)
        connection = self.env["csp.connection"].create(
            {"name": "Other MSP partner", "company_id": other.id}
        )
        self.assertIn(other, user.company_ids)
        self.assertIn(connection, self.env["csp.connection"].with_user(user).search([]))

    def test_suggestions_come_from_the_connections_company_only(self):
        """The integrator sees the customers of every company with a connection: a
        tenant is suggested a customer of its own connection's company, or a shared one,
        never another company's."""
        other = self.env["res.company"].create({"name": "Other MSP"})
        self.env["csp.connection"].create({"name": "Other MSP partner", "company_id": other.id})
        theirs = self.env["res.partner"].create(
            {"name": self.tenant.name, "is_company": True, "company_id": other.id}
        )
        tenants = self.connection.with_user(self.integrator).tenant_ids
        self.assertIn(theirs, self.env["res.partner"].with_user(self.integrator).search([]))
        self.assertEqual(self.tenant.mapping_state, "unmapped")
        tenants._csp_suggest_partners()
        self.assertFalse(self.tenant.suggested_partner_id)
        # the same company, shared between the companies: suggested
        theirs.company_id = False
        tenants._csp_suggest_partners()
        self.assertEqual(self.tenant.suggested_partner_id, theirs)

    # -- read-only fields, over RPC --------------------------------------------------------

    def test_read_only_fields_and_the_customer_rule_hold_over_rpc(self):
        self.authenticate("csp_mgr", "csp_mgr")
        forged = {"context": {"csp_code_write": True}}  # a client cannot forge the mark
        for values in (
            {"consent_state": "granted"},
            {"users_delta_link": f"{self.connection.graph_endpoint}/v1.0/users/delta?x=1"},
            {"groups_delta_link": False},
            {"last_error": False},
            {"name": "Renamed"},
            {"tenant_id": "00000000-0000-0000-0000-000000000000"},
        ):
            self.assertRpcRefused(ACCESS_ERROR, "csp.tenant", "write", [self.tenant.id], values)
            self.assertRpcRefused(
                ACCESS_ERROR, "csp.tenant", "write", [self.tenant.id], values, **forged
            )
        for values in (
            {"state": "authorized"},
            {"authorized_upn": "mallory@example.com"},
            {"last_error": "fake"},
        ):
            self.assertRpcRefused(
                ACCESS_ERROR, "csp.connection", "write", [self.connection.id], values
            )
        self.assertRpcRefused(
            ACCESS_ERROR, "csp.tenant", "create",
            {"connection_id": self.connection.id, "tenant_id": "t", "name": "Fake"},
        )  # fmt: skip
        self.assertRpcRefused(
            ACCESS_ERROR, "csp.sync.run", "create",
            {"connection_id": self.connection.id, "trigger": "manual", "state": "done"},
        )  # fmt: skip
        # a customer that is not a company, as the form's domain says
        person = self.env["res.partner"].create({"name": "Just a person"})
        self.assertRpcRefused(
            VALIDATION_ERROR, "csp.tenant", "write", [self.tenant.id], {"partner_id": person.id}
        )
        self.assertRpcRefused(
            VALIDATION_ERROR, "csp.site.mapping", "create",
            {"connection_id": self.connection.id, "kind": "site", "customer_id": person.id,
             "site_id": person.id},
        )  # fmt: skip
        # another company's customer: the integrator works for both companies
        elsewhere = self.env["res.company"].create({"name": "Other MSP"})
        foreign = self.env["res.partner"].create(
            {"name": "Their customer", "is_company": True, "company_id": elsewhere.id}
        )
        self.assertRpcRefused(
            VALIDATION_ERROR, "csp.tenant", "write", [self.tenant.id], {"partner_id": foreign.id}
        )
        # a contact field outside the form's choice: another model's, or one kept to some
        # groups in the code (auth_signup's signup_type: every user of the tenant would
        # then fail to import)
        for model, name in (("res.users", "login"), ("res.partner", "signup_type")):
            field = self.env["ir.model.fields"]._get(model, name)
            self.assertRpcRefused(
                VALIDATION_ERROR, "csp.field.mapping", "create",
                {"connection_id": self.connection.id, "azure_field": "mail",
                 "field_id": field.id},
            )  # fmt: skip
        self.env.invalidate_all()
        self.assertEqual(self.tenant.consent_state, "granted")  # as discovery left it
        self.assertFalse(self.tenant.partner_id)
        self.assertEqual(self.connection.state, "authorized")
        # what the form allows still works
        self.rpc("csp.tenant", "write", [self.tenant.id], {"partner_id": self.customer.id})
        self.assertEqual(self.tenant.partner_id, self.customer)

    def code_only_records(self):
        """{model: one record} for each model the core puts on the code-only guard with
        fields listed (one that starts listing some needs its record here)."""
        run = self.connection.run_ids[:1]
        Code = code_env(self.env["res.partner"]).env
        binding = {"connection_id": self.connection.id, "csp_tenant_id": self.tenant.id}
        user = Code["csp.user.binding"].create(
            {**binding, "microsoft_id": "code-only-user", "partner_id": self.customer.id}
        )
        sku = Code["csp.subscribed.sku"].create(
            {**binding, "microsoft_id": "code-only-sku", "sku_id": "code-only"}
        )
        subscription = Code["csp.subscription"].create(
            {**binding, "microsoft_id": "code-only-subscription"}
        )
        return {
            "csp.connection": self.connection,
            "csp.tenant": self.tenant,
            "csp.sync.run": run,
            "csp.sync.run.line": run.line_ids[:1],
            "csp.user.binding": user,
            "csp.subscribed.sku": sku,
            "csp.licence.assignment": Code["csp.licence.assignment"].create(
                {"subscribed_sku_id": sku.id, "user_binding_id": user.id}
            ),
            "csp.subscription": subscription,
            "csp.portal.request": Code["csp.portal.request"].create(
                {"subscription_id": subscription.id, "new_quantity": 2}
            ),
        }

    def test_every_code_only_field_is_refused_over_rpc_for_a_manager(self):
        """The one list (_csp_code_only_fields(), which add-ons extend): each field on
        it, the add-ons' included, is refused to a CSP manager who may write the record,
        even with the code's context key sent by the client."""
        records = self.code_only_records()
        self.assertEqual(set(records), models_guarded_by(self.env, "csp_connector"))
        self.authenticate("csp_mgr", "csp_mgr")
        refused = assert_code_only_fields_refused(self, records, self.manager)
        self.assertGreater(refused, 100)

    def test_a_delta_link_must_lead_to_the_connections_graph(self):
        tenant = self.tenant._csp_code()
        with self.assertRaises(ValidationError):
            tenant.write({"users_delta_link": "https://graph.evil.example/v1.0/users/delta?t=1"})
        with self.assertRaises(ValidationError):
            tenant.write({"groups_delta_link": "http://127.0.0.1/v1.0/groups/delta?t=1"})
        link = f"{self.connection.graph_endpoint}/v1.0/users/delta?$deltatoken=abc"
        tenant.write({"users_delta_link": link})
        self.assertEqual(self.tenant.users_delta_link, link)

    # -- read-only users never reach Microsoft ----------------------------------------------

    def test_a_csp_user_reaches_microsoft_through_no_button(self):
        self.tenant.partner_id = self.customer
        self.env["csp.request.log"].search([]).unlink()
        runs = self.env["csp.sync.run"].search_count([])
        self.authenticate("csp_viewer", "csp_viewer")
        for model, method, record in (
            ("csp.tenant", "action_test_access", self.tenant),
            ("csp.tenant", "action_latest_users", self.tenant),
            ("csp.tenant", "action_reset_users", self.tenant),
            ("csp.connection", "action_sync_now", self.connection),
            ("csp.connection", "action_discover_tenants", self.connection),
            ("csp.connection", "action_latest_users", self.connection),
            ("csp.connection", "action_suggest_mappings", self.connection),
            ("csp.connection", "action_csp_setup_sso", self.connection),
        ):
            self.assertRpcRefused(ACCESS_ERROR, model, method, [record.id])
            self.assertFalse(self.logs(), f"{method}: no request was made")
        self.assertEqual(self.env["csp.sync.run"].search_count([]), runs)
        # the same button works for a manager (and is logged)
        self.tenant.with_user(self.manager).action_test_access()
        self.assertTrue(self.logs())

    # -- injection ---------------------------------------------------------------------------

    def test_gdap_expiry_note_escapes_the_tenants_name(self):
        name = "<img src=x onerror=alert(1)>"
        tenant = self.env["csp.tenant"].create(
            {"connection_id": self.connection.id, "tenant_id": "evil-tenant", "name": name,
             "gdap_status": "active", "gdap_auto_extend": False,
             "gdap_end": fields.Datetime.now() + timedelta(days=3)}
        )  # fmt: skip
        tenant._csp_warn_expiring()
        note = str(tenant.activity_ids.note)
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", note)
        self.assertNotIn("<img", note)

    def test_a_sign_in_error_with_a_newline_is_one_log_line(self):
        forged = "User cancelled\n2026-12-01 00:00:00,000 1 CRITICAL db odoo: admin password reset"
        # Partner Center sign-in (/csp/authcallback)
        self.authenticate("admin", "admin")
        action = self.connection.with_user(self.admin).action_authorize()
        state = query_of(action["url"])["state"]
        url = (
            f"/csp/authcallback?state={quote(state)}&error=access_denied"
            f"&error_description={quote(forged)}"
        )
        with self.assertLogs("odoo.addons.csp_connector", "WARNING") as logs:
            self.url_open(url, allow_redirects=False)
        self.assertOneLine(logs, "User cancelled")
        # single sign-on (/auth_oauth/signin)
        self.connection.action_csp_setup_sso()
        self.logout()
        page = self.url_open("/web/login").text
        provider = self.connection.sudo().sso_provider_ids
        link = next(
            html.unescape(href)
            for href in re.findall(r'href="([^"]+)"', page)
            if html.unescape(href).startswith(provider.auth_endpoint)
        )
        state = query_of(link)["state"]
        with self.assertLogs("odoo.addons.csp_connector", "WARNING") as logs:
            self.url_open(
                f"/auth_oauth/signin?state={quote(state)}&error=access_denied"
                f"&error_description={quote(forged)}",
                allow_redirects=False,
            )
        self.assertOneLine(logs, "User cancelled")

    def assertOneLine(self, logs, expected):
        self.assertEqual(len(logs.records), 1, logs.output)
        message = logs.records[0].getMessage()
        self.assertIn(expected, message)
        self.assertNotIn("\n", message)
        self.assertNotIn("\r", message)
