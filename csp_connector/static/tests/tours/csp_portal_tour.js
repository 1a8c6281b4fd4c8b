/** @odoo-module **/
// The customer portal walked as a customer's licence administrator: the portal home's
// card, subscriptions, a seat quote, licences, users and statements (test_portal.py).
import {registry} from "@web/core/registry";

registry.category("web_tour.tours").add("csp_portal_tour", {
    url: "/my/microsoft",
    steps: () => [
        {
            content: "The Microsoft 365 page opens on the customer's overview",
            trigger: ".o_csp_portal h3:contains('Microsoft 365')",
        },
        {
            content: "Open the subscriptions",
            trigger: "a.csp_subscriptions_link",
            run: "click",
        },
        {
            content: "Open the first subscription",
            trigger: "tr.csp_subscription_row a",
            run: "click",
        },
        {
            content: "Ask what one more seat would cost",
            trigger: "input#csp_seats",
            run: "edit 99",
        },
        {
            trigger: ".csp_quote_form button[type='submit']",
            run: "click",
        },
        {
            content: "The price or the reason is shown before anything is sent",
            trigger: ".csp_quote, .csp_quote_refused",
        },
        {
            content: "Back to the overview through the breadcrumbs",
            trigger: ".o_portal_submenu a[href='/my/microsoft']",
            run: "click",
        },
        {
            trigger: "a.csp_licences_link",
            run: "click",
        },
        {
            content: "Licences with their seats",
            trigger: "tr.csp_licence_row",
        },
        {
            trigger: ".o_portal_submenu a[href='/my/microsoft']",
            run: "click",
        },
        {
            trigger: "a.csp_users_link",
            run: "click",
        },
        {
            content: "The customer's users and their licences",
            trigger: "tr.csp_user_row",
        },
        {
            trigger: ".o_portal_submenu a[href='/my/microsoft']",
            run: "click",
        },
        {
            trigger: "a.csp_statements_link",
            run: "click",
        },
        {
            content: "The monthly statements page",
            trigger: "h3:contains('Monthly licence statements')",
        },
    ],
});
