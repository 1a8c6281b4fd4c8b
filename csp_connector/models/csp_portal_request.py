# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""A seat request a customer's licence administrator sends from the portal: an approval
for the MSP, carried out through Partner Center exactly as the back office's *Adjust
quantity* (csp.subscription._csp_set_quantity) with the approver's rights."""

import logging

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from .csp_guard import code_env

_logger = logging.getLogger(__name__)

STATES = [
    ("requested", "Requested"),
    ("approved", "Approved"),
    ("done", "Done"),
    ("refused", "Refused"),
]


class CspPortalRequest(models.Model):
    _name = "csp.portal.request"
    _inherit = ["mail.thread", "mail.activity.mixin", "csp.code.guard"]
    _description = "Microsoft Seat Request"
    _order = "create_date desc, id desc"

    subscription_id = fields.Many2one(
        "csp.subscription", required=True, readonly=True, ondelete="cascade", index=True
    )
    customer_id = fields.Many2one(
        "res.partner", string="Customer", related="subscription_id.partner_id", store=True,
        index=True,
    )  # fmt: skip
    connection_id = fields.Many2one(related="subscription_id.connection_id", store=True)
    company_id = fields.Many2one(related="subscription_id.company_id", store=True, index=True)
    requested_by_id = fields.Many2one("res.users", readonly=True)
    old_quantity = fields.Integer(string="Seats Before", readonly=True)
    new_quantity = fields.Integer(string="Seats Asked", readonly=True)
    quoted_prorata = fields.Float(
        string="Quoted Pro-rata", readonly=True, digits="Product Price",
        help="The pro-rata the customer was shown for this period (empty: no price known).",
    )  # fmt: skip
    quoted_recurring = fields.Float(
        readonly=True, digits="Product Price",
        help="The new amount per period the customer was shown.",
    )  # fmt: skip
    state = fields.Selection(STATES, default="requested", required=True, readonly=True,
                             tracking=True)  # fmt: skip
    refuse_reason = fields.Text(
        string="Reason", help="Why the request was refused: the customer reads it."
    )
    decided_by_id = fields.Many2one("res.users", readonly=True)
    decided_on = fields.Datetime(readonly=True)

    @api.model
    def _csp_code_only_fields(self):
        return super()._csp_code_only_fields() | {
            "subscription_id", "requested_by_id", "old_quantity", "new_quantity",
            "quoted_prorata", "quoted_recurring", "state", "decided_by_id", "decided_on",
        }  # fmt: skip

    @api.depends("subscription_id", "new_quantity")
    def _compute_display_name(self):
        for request in self:
            request.display_name = self.env._(
                "%(subscription)s: %(old)s to %(new)s seats",
                subscription=request.subscription_id.sudo().friendly_name or "",
                old=request.old_quantity,
                new=request.new_quantity,
            )

    # -- from the portal -----------------------------------------------------------------

    @api.model
    def _csp_portal_send(self, subscription, new_quantity):
        """The portal user (self.env.user) asks for ``new_quantity`` seats: refused here
        when they are not the customer's licence administrator, when the subscription is
        not theirs (record rules), or when the rules forbid it now (the quote's reason)."""
        user = self.env.user
        if not user.partner_id.csp_licence_admin and not user.has_group(
            "csp_connector.group_csp_manager"
        ):
            raise AccessError(
                self.env._(
                    "Only the licence administrator of your organisation may request seat "
                    "changes. Ask your IT service provider to make you one."
                )
            )
        subscription = subscription.with_user(user)
        quote = subscription._csp_portal_quote(new_quantity)  # checks read access
        if not quote["allowed"]:
            raise UserError(quote["reason"])
        open_requests = self.sudo().search_count(
            [("subscription_id", "=", subscription.id), ("state", "in", ("requested", "approved"))]
        )
        if open_requests:
            raise UserError(
                self.env._(
                    "A request for this subscription is already waiting for your IT service "
                    "provider; wait for its answer before sending another."
                )
            )
        request = code_env(self.sudo()).create(
            {
                "subscription_id": subscription.id,
                "requested_by_id": user.id,
                "old_quantity": quote["old_quantity"],
                "new_quantity": new_quantity,
                "quoted_prorata": quote["prorata"] or 0.0,
                "quoted_recurring": quote["recurring"] or 0.0,
            }
        )
        request.message_subscribe(partner_ids=user.partner_id.ids)
        responsible = request.connection_id._csp_portal_responsible()
        if responsible:
            request._csp_activity_once(
                self.env._("Seat request to approve"),
                note=Markup("<p>%s</p>")
                % self.env._(
                    "%(who)s asks for %(new)s seats instead of %(old)s. Approve to change "
                    "the quantity in Partner Center, or refuse with a reason.",
                    who=user.name,
                    new=new_quantity,
                    old=quote["old_quantity"],
                ),
                user=responsible,
            )
        _logger.info(
            "CSP portal: seat request %s by user %s (%s -> %s)",
            request.id, user.id, quote["old_quantity"], new_quantity,
        )  # fmt: skip
        return request

    # -- the MSP's decision ----------------------------------------------------------------

    def _csp_check_decider(self):
        if not self.env.user.has_group("csp_connector.group_csp_manager"):
            raise AccessError(
                self.env._("Only a Microsoft CSP manager may approve or refuse seat requests.")
            )
        for request in self:
            if request.state != "requested":
                raise UserError(
                    self.env._(
                        "This request is already %s: only a request waiting for an answer "
                        "can be approved or refused.",
                        dict(STATES)[request.state].lower(),
                    )
                )

    def action_approve(self):
        """Carry the change out in Partner Center with the approver's rights, exactly as
        the back office's Adjust quantity; a refusal there (rules, Partner Center busy)
        leaves the request waiting and says why."""
        self._csp_check_decider()
        for request in self:
            subscription = request.subscription_id.with_user(self.env.user)
            code_env(request).write(
                {"state": "approved", "decided_by_id": self.env.uid,
                 "decided_on": fields.Datetime.now()}
            )  # fmt: skip
            subscription._csp_set_quantity(request.new_quantity)
            if subscription.quantity == request.new_quantity:
                code_env(request).write({"state": "done"})
            request._csp_close_activity()
            request._csp_tell_customer()
        return True

    def action_refuse(self):
        self._csp_check_decider()
        for request in self:
            if not (request.refuse_reason or "").strip():
                raise UserError(
                    self.env._(
                        "Write the reason for refusing in the Reason field first: the "
                        "customer reads it."
                    )
                )
            code_env(request).write(
                {"state": "refused", "decided_by_id": self.env.uid,
                 "decided_on": fields.Datetime.now()}
            )  # fmt: skip
            request._csp_close_activity()
            request._csp_tell_customer()
        return True

    @api.model
    def _csp_settle(self, tenant):
        """Approved requests of ``tenant`` whose change Partner Center was still applying:
        done once its subscription shows the quantity, refused (with the reason) when
        Partner Center dropped the change; the customer is told either way."""
        requests = self.sudo().search(
            [("state", "=", "approved"), ("subscription_id.csp_tenant_id", "=", tenant.id)]
        )
        for request in requests:
            subscription = request.subscription_id
            if subscription.pending_quantity:
                continue  # still applying
            if subscription.quantity == request.new_quantity:
                code_env(request).write({"state": "done"})
            else:
                code_env(request).write(
                    {
                        "state": "refused",
                        "refuse_reason": self.env._(
                            "Microsoft did not apply the change; the subscription still "
                            "has %s seats. Your IT service provider has been told.",
                            subscription.quantity,
                        ),
                    }
                )
            request._csp_tell_customer()

    def _csp_close_activity(self):
        self.activity_ids.sudo().action_feedback(
            feedback=self.env._("%s", dict(STATES)[self.state])
        )

    def _csp_state_words(self):
        """The customer's e-mail about this request's state."""
        self.ensure_one()
        name = self.subscription_id.sudo().friendly_name
        if self.state == "done":
            return self.env._(
                "Your request for %(new)s seats of %(name)s was approved and is done: the "
                "subscription now has %(new)s seats.",
                new=self.new_quantity,
                name=name,
            )
        if self.state == "approved":
            return self.env._(
                "Your request for %(new)s seats of %(name)s was approved; Microsoft is "
                "still applying it.",
                new=self.new_quantity,
                name=name,
            )
        if self.state == "refused":
            return self.env._(
                "Your request for %(new)s seats of %(name)s was refused: %(reason)s",
                new=self.new_quantity,
                name=name,
                reason=self.refuse_reason,
            )
        return self.env._(
            "Your request for %(new)s seats of %(name)s was sent.", new=self.new_quantity,
            name=name,
        )  # fmt: skip

    def _csp_tell_customer(self):
        """An e-mail to who asked (the chatter's comment, sent to them)."""
        self.ensure_one()
        partner = self.requested_by_id.partner_id
        self.sudo().message_post(
            body=Markup("<p>%s</p>") % self._csp_state_words(),
            partner_ids=partner.ids,
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
        )
