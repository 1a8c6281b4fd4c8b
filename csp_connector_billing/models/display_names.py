# Copyright 2026 Microsoft CSP for Odoo contributors
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What the billing records are called wherever they show (titles, links, breadcrumbs):
what they are about, never "model,id"."""

from odoo import api, models


class CspBillingReconciliationLine(models.Model):
    _inherit = "csp.billing.reconciliation.line"

    @api.depends("subscription_id", "microsoft_subscription_id", "charge_type", "month")
    def _compute_display_name(self):
        charges = dict(self._fields["charge_type"]._description_selection(self.env))
        for line in self:
            what = line.subscription_id.display_name or line.microsoft_subscription_id or ""
            parts = [what, charges.get(line.charge_type), line.month and f"{line.month:%Y-%m}"]
            line.display_name = ", ".join(part for part in parts if part)


class CspPriceChange(models.Model):
    _inherit = "csp.price.change"

    @api.depends("subscription_id", "effective_date")
    def _compute_display_name(self):
        for change in self:
            change.display_name = self.env._(
                "%(subscription)s: price from %(day)s",
                subscription=change.subscription_id.display_name or "",
                day=f"{change.effective_date:%d %b %Y}" if change.effective_date else "",
            )


class CspAzureUsage(models.Model):
    _inherit = "csp.azure.usage"

    @api.depends("meter_name", "meter_category", "subscription_name", "period_start")
    def _compute_display_name(self):
        for usage in self:
            parts = [
                usage.meter_name or usage.meter_category,
                usage.subscription_name,
                usage.period_start and f"{usage.period_start:%B %Y}",
            ]
            usage.display_name = ", ".join(part for part in parts if part)
