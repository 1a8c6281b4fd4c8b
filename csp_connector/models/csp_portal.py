# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The customer portal (/my/microsoft): who is the customer's licence administrator,
what a portal user may read of the imported records, and a seat request's quote.

Which records a portal user reaches is decided by record rules
(security/csp_portal_security.xml), never by the pages; which fields, by
``_csp_portal_fields`` below (no Microsoft id, no internal field over RPC either)."""

from datetime import UTC, datetime

from odoo import api, fields, models
from odoo.exceptions import AccessError

from ..sync import portal as portal_rules
from ..sync import subscriptions as quantity_rules


class CspPortalFields(models.AbstractModel):
    """Portal (share) users read over RPC only the fields the portal shows."""

    _name = "csp.portal.fields"
    _description = "Microsoft CSP fields a portal user may read"

    @api.model
    def _csp_portal_fields(self):
        return {"id", "display_name", "partner_id"}

    def _read_format(self, fnames, load="_classic_read"):
        """What every read over RPC returns through (read, search_read, web_read): for
        a portal user, only the fields the portal shows (the others are left out, as if
        they did not exist). Python code reading attributes is not concerned."""
        if not self.env.su and self.env.user.share:
            allowed = self._csp_portal_fields()
            fnames = [name for name in fnames if name in allowed]
        return super()._read_format(fnames, load=load)


class CspSubscription(models.Model):
    _name = "csp.subscription"
    _inherit = ["csp.subscription", "csp.portal.fields"]

    @api.model
    def _csp_portal_fields(self):
        return super()._csp_portal_fields() | {
            "friendly_name", "offer_name", "quantity", "status", "billing_cycle",
            "term_duration", "start_date", "commitment_end_date", "auto_renew",
            "refundable_quantity", "refundable_until", "pending_quantity",
            "subscribed_sku_id", "write_date",
        }  # fmt: skip

    @api.model
    def _csp_settle_pending(self, tenant):
        """A seat request Partner Center only accepted (202) is done once a read shows
        the quantity, or refused when Partner Center dropped it."""
        result = super()._csp_settle_pending(tenant)
        self.env["csp.portal.request"]._csp_settle(tenant)
        return result

    def _csp_portal_term(self):
        """The term and billing in the customer's words ("1 year, billed monthly")."""
        self.ensure_one()
        term = portal_rules.term_words(self.term_duration)
        cycle = portal_rules.cycle_words(self.billing_cycle)
        return ", ".join(part for part in (term, cycle) if part != "-") or "-"

    def _csp_portal_quote(self, new_quantity):
        """What the portal shows before a seat request is sent: whether it may be sent
        (else why, and from when), and its price. The core knows no price: the billing
        add-on fills ``prorata`` (this period's pro-rata) and ``recurring`` (the new
        amount per period) when it can. Read as the portal user (the record rules say
        whether this subscription is theirs)."""
        self.ensure_one()
        self.check_access("read")
        now = datetime.now(UTC)
        decision = portal_rules.check_request(
            self.quantity, new_quantity, quantity_rules.windows_from(self.refundable_details),
            now, self.status, self.commitment_end_date or None,
        )  # fmt: skip
        return {
            "allowed": decision.allowed,
            "reason": decision.reason,
            "possible_from": decision.possible_from,
            "old_quantity": self.quantity,
            "new_quantity": new_quantity,
            "prorata": None,
            "recurring": None,
            "currency": None,
            "price_note": "",
        }


class CspSubscribedSku(models.Model):
    _name = "csp.subscribed.sku"
    _inherit = ["csp.subscribed.sku", "csp.portal.fields"]

    @api.model
    def _csp_portal_fields(self):
        return super()._csp_portal_fields() | {
            "product_name", "enabled_units", "consumed_units", "unassigned_units",
            "subscription_ids", "write_date",
        }  # fmt: skip


class CspLicenceAssignment(models.Model):
    _name = "csp.licence.assignment"
    _inherit = ["csp.licence.assignment", "csp.portal.fields"]

    @api.model
    def _csp_portal_fields(self):
        return super()._csp_portal_fields() | {
            "product_name", "customer_id", "subscribed_sku_id", "user_binding_id", "active",
        }  # fmt: skip


class CspUserBinding(models.Model):
    _name = "csp.user.binding"
    _inherit = ["csp.user.binding", "csp.portal.fields"]

    @api.model
    def _csp_portal_fields(self):
        return super()._csp_portal_fields() | {"upn", "mail", "account_enabled", "licensed"}


class CspConnection(models.Model):
    _inherit = "csp.connection"

    portal_responsible_id = fields.Many2one(
        "res.users", string="Portal Requests To", domain=[("share", "=", False)],
        help="Who approves the seat requests customers send from the portal (an activity "
        "on each request). Empty: the first Microsoft CSP manager.",
    )  # fmt: skip

    def _csp_portal_responsible(self):
        self.ensure_one()
        if self.portal_responsible_id.active:
            return self.portal_responsible_id
        managers = self.env.ref("csp_connector.group_csp_manager").users.filtered(
            lambda u: not u.share and u.active and u.id != self.env.ref("base.user_root").id
        )
        return managers.sorted("id")[:1]


class ResPartner(models.Model):
    _inherit = "res.partner"

    csp_licence_admin = fields.Boolean(
        string="Microsoft Licence Administrator",
        help="This contact's portal user sees all of the customer's Microsoft subscriptions, "
        "licences, users and devices on the portal and may request seat changes. Other "
        "portal users of the customer see only their own licences and devices.",
    )  # fmt: skip

    def _csp_check_licence_admin_right(self):
        if not self.env.su and not self.env.user.has_group("csp_connector.group_csp_manager"):
            raise AccessError(
                self.env._(
                    "Only a Microsoft CSP manager may make a contact the customer's "
                    "licence administrator."
                )
            )

    def write(self, vals):
        if "csp_licence_admin" not in vals:
            return super().write(vals)
        self._csp_check_licence_admin_right()
        if set(vals) == {"csp_licence_admin"} and not self.env.su:
            # a CSP setting: a CSP manager sets it without the right to edit contacts
            self.check_access("read")
            result = super(ResPartner, self.sudo()).write(vals)
        else:
            result = super().write(vals)
        self.env.registry.clear_cache()  # the portal's record rules read the flag
        return result

    @api.model_create_multi
    def create(self, vals_list):
        if any(vals.get("csp_licence_admin") for vals in vals_list):
            self._csp_check_licence_admin_right()
        return super().create(vals_list)

    def _csp_portal_last_read(self):
        """When Microsoft was last read for this customer (its tenants' last good run).
        Only the date; the tenants themselves stay out of the portal's reach."""
        self.ensure_one()
        tenants = (
            self.env["csp.tenant"]
            .sudo()
            .search([("partner_id", "=", self.commercial_partner_id.id)])
        )
        dates = [tenant.last_sync for tenant in tenants if tenant.last_sync]
        return max(dates) if dates else False
