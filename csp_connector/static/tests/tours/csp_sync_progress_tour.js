/** @odoo-module **/
// Copyright 2026 Microsoft CSP for Odoo contributors
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
/**
 * 'Sync now' from the connection form: the run form follows the run by itself (tenants
 * handled of 3), so does the connection's banner, and a notification says when it ends,
 * with a link to the run; the page is never reloaded (csp_connector/tests/test_live_progress.py runs the sync meanwhile).
 */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("csp_connector_sync_progress", {
    steps: () => [
        {
            content: "The connection form is open (the page is marked: a reload would lose it)",
            trigger: ".o_form_view button[name='action_sync_now']",
            run() {
                window.cspTourNotReloaded = true;
            },
        },
        {
            content: "Start a sync",
            trigger: ".o_form_view button[name='action_sync_now']",
            run: "click",
        },
        {
            content: "The run form shows where the run is",
            trigger: ".o_field_csp_sync_progress:contains('0 of 3 tenants handled')",
        },
        {
            content: "It moves by itself",
            trigger: ".o_field_csp_sync_progress:contains('1 of 3 tenants handled')",
        },
        {
            content: "Back to the connection",
            trigger: ".o_breadcrumb .breadcrumb-item.o_back_button",
            run: "click",
        },
        {
            content: "Its banner says a sync is running, and where it is",
            trigger:
                ".o_field_csp_sync_progress .alert:not(.d-none):contains('A sync is running'):contains('of 3 tenants handled')",
        },
        {
            content: "The end is told, with the run's result",
            trigger: ".o_notification:contains('3 of 3 tenants handled')",
        },
        {
            content: "The banner is gone by itself",
            trigger: ".o_form_view .o_field_csp_sync_progress .alert.d-none:not(:visible)",
        },
        {
            content: "Open the run from the notification",
            trigger: ".o_notification button:contains('Open the run')",
            run: "click",
        },
        {
            content: "The run is done",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains('Done')",
        },
        {
            content: "The page was never reloaded",
            trigger: ".o_form_view .o_form_sheet",
            run() {
                if (!window.cspTourNotReloaded) {
                    throw new Error("The page was reloaded during the sync.");
                }
            },
        },
    ],
});
