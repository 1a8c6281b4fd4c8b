# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""The customer portal's Microsoft pages (/my/microsoft). Thin: every search runs as the
portal user, so the record rules (security/csp_portal_security.xml) decide what is
shown; the models check and carry out seat requests."""

from werkzeug.exceptions import NotFound

from odoo import http
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.http import request

from odoo.addons.portal.controllers.portal import CustomerPortal
from odoo.addons.portal.controllers.portal import pager as portal_pager

PAGE = 20


class CspCustomerPortal(CustomerPortal):
    def _prepare_home_portal_values(self, counters):
        values = super()._prepare_home_portal_values(counters)
        env = request.env
        if "csp_subscription_count" in counters:
            values["csp_subscription_count"] = (
                env["csp.subscription"].search_count([])
                if env["csp.subscription"].has_access("read")
                else 0
            )
        if "csp_licence_count" in counters:
            values["csp_licence_count"] = (
                env["csp.licence.assignment"].search_count([])
                if env["csp.licence.assignment"].has_access("read")
                else 0
            )
        return values

    def _csp_values(self, page_name, **extra):
        values = self._prepare_portal_layout_values()
        partner = request.env.user.partner_id
        values.update(
            page_name=page_name,
            csp_admin=partner.csp_licence_admin,
            csp_last_read=partner._csp_portal_last_read(),
            **extra,
        )
        return values

    def _csp_check_portal(self):
        if not request.env["csp.licence.assignment"].has_access("read"):
            raise NotFound()

    # -- overview ------------------------------------------------------------------------

    @http.route(["/my/microsoft"], type="http", auth="user", website=True)
    def csp_portal_home(self, **kw):
        self._csp_check_portal()
        env = request.env
        mine = env["csp.licence.assignment"].search(
            [("partner_id", "=", env.user.partner_id.id)], order="product_name"
        )
        values = self._csp_values(
            "csp_home",
            my_licences=mine,
            subscription_count=env["csp.subscription"].search_count([]),
            licence_count=env["csp.subscribed.sku"].search_count([]),
            user_count=env["csp.user.binding"].search_count([]),
            requests=env["csp.portal.request"].search([], limit=5),
        )
        return request.render("csp_connector.portal_my_microsoft", values)

    # -- subscriptions -----------------------------------------------------------------

    @http.route(
        ["/my/microsoft/subscriptions", "/my/microsoft/subscriptions/page/<int:page>"],
        type="http", auth="user", website=True,
    )  # fmt: skip
    def csp_portal_subscriptions(self, page=1, sortby=None, search=None, search_in="name", **kw):
        self._csp_check_portal()
        Subscription = request.env["csp.subscription"]
        sortings = {
            "name": {"label": request.env._("Name"), "order": "friendly_name"},
            "renewal": {"label": request.env._("Renewal date"), "order": "commitment_end_date"},
            "seats": {"label": request.env._("Seats"), "order": "quantity desc"},
        }
        sortby = sortby if sortby in sortings else "name"
        domain = []
        if search:
            domain = ["|", ("friendly_name", "ilike", search), ("offer_name", "ilike", search)]
        total = Subscription.search_count(domain)
        pager = portal_pager(
            url="/my/microsoft/subscriptions", total=total, page=page, step=PAGE,
            url_args={"sortby": sortby, "search": search or ""},
        )  # fmt: skip
        subscriptions = Subscription.search(
            domain, order=sortings[sortby]["order"], limit=PAGE, offset=pager["offset"]
        )
        values = self._csp_values(
            "csp_subscriptions",
            subscriptions=subscriptions,
            pager=pager,
            default_url="/my/microsoft/subscriptions",
            searchbar_sortings=sortings,
            sortby=sortby,
            searchbar_inputs={"name": {"input": "name", "label": request.env._("Name")}},
            search_in=search_in,
            search=search or "",
        )
        return request.render("csp_connector.portal_my_microsoft_subscriptions", values)

    def _csp_subscription(self, subscription_id):
        subscription = request.env["csp.subscription"].browse(subscription_id)
        try:
            subscription.check_access("read")
            subscription.exists().ensure_one()
        except (AccessError, MissingError, ValueError):
            raise NotFound() from None
        return subscription

    @http.route(
        ["/my/microsoft/subscriptions/<int:subscription_id>"],
        type="http", auth="user", website=True,
    )  # fmt: skip
    def csp_portal_subscription(self, subscription_id, seats=None, error=None, sent=None, **kw):
        subscription = self._csp_subscription(subscription_id)
        quote = None
        if seats and request.env.user.partner_id.csp_licence_admin:
            try:
                quote = subscription._csp_portal_quote(int(seats))
            except ValueError:
                error = request.env._("Give the number of seats as a whole number.")
        values = self._csp_values(
            "csp_subscription",
            subscription=subscription,
            quote=quote,
            error=error,
            sent=sent,
            requests=request.env["csp.portal.request"].search(
                [("subscription_id", "=", subscription.id)]
            ),
        )
        return request.render("csp_connector.portal_my_microsoft_subscription", values)

    @http.route(
        ["/my/microsoft/subscriptions/<int:subscription_id>/request"],
        type="http", auth="user", website=True, methods=["POST"],
    )  # fmt: skip
    def csp_portal_request(self, subscription_id, seats=None, **kw):
        subscription = self._csp_subscription(subscription_id)
        url = f"/my/microsoft/subscriptions/{subscription.id}"
        try:
            request.env["csp.portal.request"]._csp_portal_send(subscription, int(seats or 0))
        except ValueError:
            message = request.env._("Give the number of seats as a whole number.")
            return request.redirect(f"{url}?{http.url_encode({'error': message})}")
        except (UserError, AccessError) as exc:
            return request.redirect(f"{url}?{http.url_encode({'error': str(exc)})}")
        return request.redirect(f"{url}?sent=1")

    # -- licences and users ---------------------------------------------------------------

    @http.route(["/my/microsoft/licences"], type="http", auth="user", website=True)
    def csp_portal_licences(self, **kw):
        self._csp_check_portal()
        skus = request.env["csp.subscribed.sku"].search([], order="product_name")
        values = self._csp_values("csp_licences", skus=skus)
        return request.render("csp_connector.portal_my_microsoft_licences", values)

    @http.route(
        ["/my/microsoft/users", "/my/microsoft/users/page/<int:page>"],
        type="http", auth="user", website=True,
    )  # fmt: skip
    def csp_portal_users(self, page=1, sortby=None, search=None, search_in="name", **kw):
        self._csp_check_portal()
        Binding = request.env["csp.user.binding"]
        sortings = {
            "name": {"label": request.env._("Name"), "order": "upn"},
            "licensed": {"label": request.env._("Licensed first"), "order": "licensed desc, upn"},
        }
        sortby = sortby if sortby in sortings else "name"
        domain = []
        if search:
            domain = ["|", ("upn", "ilike", search), ("partner_id.name", "ilike", search)]
        total = Binding.search_count(domain)
        pager = portal_pager(
            url="/my/microsoft/users", total=total, page=page, step=PAGE,
            url_args={"sortby": sortby, "search": search or ""},
        )  # fmt: skip
        users = Binding.search(
            domain, order=sortings[sortby]["order"], limit=PAGE, offset=pager["offset"]
        )
        assignments = request.env["csp.licence.assignment"].search(
            [("user_binding_id", "in", users.ids)]
        )
        licences = {}
        for assignment in assignments:
            licences.setdefault(assignment.user_binding_id.id, []).append(assignment.product_name)
        values = self._csp_values(
            "csp_users",
            users=users,
            licences=licences,
            pager=pager,
            default_url="/my/microsoft/users",
            searchbar_sortings=sortings,
            sortby=sortby,
            searchbar_inputs={"name": {"input": "name", "label": request.env._("Name")}},
            search_in=search_in,
            search=search or "",
        )
        return request.render("csp_connector.portal_my_microsoft_users", values)

    # -- monthly licence statements --------------------------------------------------------

    @http.route(["/my/microsoft/statements"], type="http", auth="user", website=True)
    def csp_portal_statements(self, **kw):
        self._csp_check_portal()
        statements = request.env["csp.licence.statement"].search([])
        values = self._csp_values("csp_statements", statements=statements)
        return request.render("csp_connector.portal_my_microsoft_statements", values)

    @http.route(
        ["/my/microsoft/statements/<int:statement_id>/pdf"], type="http", auth="user",
    )  # fmt: skip
    def csp_portal_statement_pdf(self, statement_id, **kw):
        statement = request.env["csp.licence.statement"].browse(statement_id)
        try:
            statement.check_access("read")
            statement.exists().ensure_one()
        except (AccessError, MissingError, ValueError):
            raise NotFound() from None
        attachment = statement.sudo().attachment_id
        if not attachment:
            raise NotFound()
        return request.make_response(
            attachment.raw,
            headers=[
                ("Content-Type", "application/pdf"),
                ("Content-Disposition", http.content_disposition(attachment.name)),
            ],
        )
