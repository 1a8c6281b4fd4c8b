# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The integrator's step hook: a step declared outside the core is listed, run per
tenant and recorded; a step that did not run leaves no line."""

from odoo_test_helper import FakeModelLoader

from odoo import fields
from odoo.tests import TransactionCase, tagged

from ..models.csp_guard import code_env
from .common import CspSandboxCase


@tagged("post_install", "-at_install")
class TestSyncSteps(CspSandboxCase):
    sandbox_tenants = 4

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.loader = FakeModelLoader(cls.env, cls.__module__)
        cls.loader.backup_registry()
        from .step_probe import (  # noqa: PLC0415 - loaded once the registry is saved
            CspConnectionProbe,
            CspProbeDomain,
            CspTenantProbe,
        )

        cls.loader.update_registry((CspConnectionProbe, CspTenantProbe, CspProbeDomain))
        cls.addClassCleanup(cls.loader.restore_registry)
        cls.connection = cls.env["csp.connection"].browse(cls.connection.id)
        cls.authorize(cls)
        cls.discover(cls)
        cls.tenants = cls.connection.tenant_ids.filtered(lambda t: t.consent_state == "granted")

    def lines(self, run, code):
        return run.line_ids.filtered(lambda line: line.step == code)

    def test_installed_step_is_listed_for_sync_now_and_the_schedule(self):
        codes = self.connection._csp_step_codes()
        self.assertEqual(codes, ["tenants", "users", "licences", "probe"])
        self.connection.sync_probe = False
        self.assertEqual(self.connection._csp_step_codes(), ["tenants", "users", "licences"])
        # "Sync now" queues a run of the switched-on steps only
        self.connection.sync_users = False
        self.connection.sync_licences = False
        self.connection.sync_probe = True
        run = self.connection.action_sync_now()
        self.assertEqual(self.env["csp.sync.run"].browse(run["res_id"]).steps, "tenants,probe")

    def test_external_step_runs_per_tenant_and_is_recorded(self):
        refused = self.tenants[0]
        run = self.connection.with_context(probe_refuse=refused.name)._csp_sync(
            trigger="manual", modules=["probe"]
        )
        lines = self.lines(run, "probe")
        imported = self.connection.tenant_ids.filtered(lambda t: not t.do_not_import)
        self.assertEqual(lines.csp_tenant_id, imported)
        failed = lines.filtered(lambda line: line.state == "error")
        self.assertEqual(failed.csp_tenant_id, refused)
        self.assertIn("The probe refuses", failed.message)
        self.assertEqual(refused.last_error_step, "probe")
        self.assertIn("The probe refuses", refused.last_error)
        self.assertEqual(run.state, "partial")
        # the others read Graph and were written; the run adds their counters up
        for tenant in self.tenants - refused:
            line = lines.filtered(lambda li, t=tenant: li.csp_tenant_id == t)
            self.assertEqual(line.state, "done")
            self.assertEqual(line.updated, 1)
            self.assertGreater(tenant.probe_domains, 0)
            self.assertEqual(line.message, f"{tenant.probe_domains} domains")
        self.assertEqual(run.updated, len(lines.filtered("updated")))
        self.assertEqual(run.error_count, 1)
        # once it works again, the tenant's error of that step is cleared
        again = self.connection._csp_sync(trigger="manual", modules=["probe"])
        self.assertEqual(self.lines(again, "probe").mapped("state"), ["done"] * len(imported))
        self.assertFalse(refused.last_error)
        self.assertEqual(again.updated, 1)  # only the refused tenant had anything to write

    def test_no_line_for_a_step_that_did_not_run(self):
        ignored = self.connection.tenant_ids[-1]
        ignored.do_not_import = True
        # "gone": a step whose add-on was uninstalled after the run was queued
        run = self.connection._csp_sync(trigger="manual", modules=["probe", "gone"])
        self.assertEqual(run.state, "done")
        self.assertEqual(set(run.line_ids.mapped("step")), {"probe"})
        self.assertNotIn(ignored, run.line_ids.csp_tenant_id)
        self.connection.sync_probe = False
        run = self.connection._csp_sync(trigger="manual")
        self.assertNotIn("probe", run.line_ids.mapped("step"))
        self.assertIn("users", run.line_ids.mapped("step"))

    def test_run_lines_list_group_and_filter_by_the_installed_steps(self):
        run = self.connection._csp_sync(trigger="manual", modules=["tenants", "probe"])
        Line = self.env["csp.sync.run.line"].with_user(self.manager)
        selection = Line.fields_get(["step"])["step"]["selection"]
        codes = [code for code, _label in selection]
        self.assertIn(("probe", "Probe"), selection, "declared by _csp_sync_steps alone")
        self.assertEqual(len(codes), len(set(codes)), "a step declared twice is listed once")
        core = [code for code in codes if code in ("tenants", "users", "licences", "probe")]
        self.assertEqual(core, ["tenants", "users", "licences", "probe"], "in the steps' order")
        domain = [("run_id", "=", run.id)]
        groups = Line.web_read_group(domain, ["step"], ["step"])["groups"]
        counts = {group["step"]: group["step_count"] for group in groups}
        probes = len(self.lines(run, "probe"))
        self.assertGreater(probes, 0)
        self.assertEqual(counts["probe"], probes)
        self.assertEqual(sum(counts.values()), len(run.line_ids))
        self.assertEqual(Line.search_count([*domain, ("step", "=", "probe")]), probes)
        self.assertEqual(Line.search([*domain, ("step", "=", "probe")]), self.lines(run, "probe"))

    def probe(self, **context):
        run = self.connection.with_context(probe_bind=True, **context)._csp_sync(
            trigger="manual", modules=["probe"]
        )
        line = run.line_ids.filtered(lambda li: li.csp_tenant_id == self.tenant)
        self.assertEqual(line.state, "done", line.message)
        return line

    def test_binding_base_creates_updates_and_archives_through_the_importer(self):
        self.tenant = self.tenants[0]
        Binding = self.env["csp.probe.domain"].with_context(active_test=False)
        line = self.probe()
        bindings = Binding.search([("csp_tenant_id", "=", self.tenant.id)])
        self.assertGreaterEqual(len(bindings), 2, "the sandbox gives each tenant 2+ domains")
        self.assertEqual(line.created, len(bindings))
        self.assertEqual(bindings.mapped("name"), bindings.partner_id.mapped("name"))
        self.assertEqual(bindings.connection_id, self.connection)
        # the same answer again: nothing written
        stamps = bindings.mapped("write_date") + bindings.partner_id.mapped("write_date")
        self.env.flush_all()
        self.env.cr.execute("UPDATE csp_probe_domain SET write_date = '2000-01-01'")
        self.env.cr.execute(
            "UPDATE res_partner SET write_date = '2000-01-01' WHERE id IN %s",
            [tuple(bindings.partner_id.ids)],
        )
        self.env.invalidate_all()
        line = self.probe()
        self.assertEqual((line.created, line.updated, line.skipped), (0, 0, len(bindings)))
        self.assertEqual(
            set(bindings.mapped("write_date") + bindings.partner_id.mapped("write_date")),
            {fields.Datetime.to_datetime("2000-01-01")},
        )
        self.assertTrue(stamps)
        # a changed value: the bound contacts are updated, once
        line = self.probe(probe_suffix=" (renamed)")
        self.assertEqual(line.updated, len(bindings))
        self.assertTrue(all(p.name.endswith(" (renamed)") for p in bindings.partner_id))
        # a read that was cut short archives nothing it did not reach
        line = self.probe(probe_suffix=" (renamed)", probe_drop=1, probe_cut=True)
        self.assertEqual(line.deactivated, 0)
        self.assertFalse(any(bindings.mapped("removed")))
        # a complete read without the first domain archives it (and its contact)
        line = self.probe(probe_suffix=" (renamed)", probe_drop=1)
        self.assertEqual(line.deactivated, 1)
        gone = bindings.filtered("removed")
        self.assertEqual(len(gone), 1)
        self.assertTrue(gone.removed_date)
        self.assertFalse(gone.partner_id.active)
        self.assertTrue(gone.exists(), "archived, never deleted")
        # back in Microsoft: restored, its contact active again
        line = self.probe(probe_suffix=" (renamed)")
        self.assertEqual(line.updated, 1)
        self.assertFalse(gone.removed)
        self.assertTrue(gone.partner_id.active)


@tagged("post_install", "-at_install")
class TestUninstalledStep(TransactionCase):
    """A step whose add-on is uninstalled takes its run lines with it (none is left
    whose step the selection no longer lists): the registry loaded again without the
    probe step, as after an uninstall, deletes the probe's lines and keeps the others."""

    def test_the_lines_of_a_step_no_longer_installed_are_deleted(self):
        loader = FakeModelLoader(self.env, self.__module__)
        loader.backup_registry()
        from .step_probe import CspConnectionProbe  # noqa: PLC0415 - after the backup

        try:
            loader.update_registry((CspConnectionProbe,))
            connection = self.env["csp.connection"].create(
                {"name": "Uninstall test", "partner_tenant_id": "x"}
            )
            run = code_env(self.env["csp.sync.run"]).create(
                {"connection_id": connection.id, "trigger": "manual", "steps": "users,probe"}
            )
            Line = code_env(self.env["csp.sync.run.line"])
            probe = Line.create({"run_id": run.id, "step": "probe", "state": "done"})
            users = Line.create({"run_id": run.id, "step": "users", "state": "done"})
            self.assertEqual(probe.step, "probe")
        finally:
            loader.restore_registry()  # the probe's "add-on" is gone
        # what Odoo calls on every model once the registry is loaded again
        self.env["csp.sync.run.line"]._register_hook()
        self.assertNotIn("probe", dict(self.env["csp.sync.run.line"]._csp_step_selection()))
        self.assertFalse(probe.exists(), "no line of a step that is no longer installed")
        self.assertTrue(users.exists())
        # loaded again with the same steps: nothing more is deleted
        self.env["csp.sync.run.line"]._csp_drop_uninstalled_steps()
        self.assertTrue(users.exists())
