/** @odoo-module **/
// Copyright 2026 Microsoft CSP for Odoo contributors
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
/**
 * The live progress of Microsoft CSP sync runs, from Odoo's bus.
 *
 * The server sends each step's progress ("csp.sync.run/progress") to its connection's
 * channel and the run's end ("csp.sync.run/ended") to that channel and to whoever started
 * the run. `watch(connectionId, callback)` subscribes a form to a connection while it is
 * open; the end is told once per run in each tab, with a button to open the run.
 */
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";

export const cspSyncService = {
    dependencies: ["bus_service", "notification", "action"],
    start(env, { bus_service, notification, action }) {
        const watchers = new Map(); // connection id -> Set of callbacks
        const told = new Set(); // runs whose end this tab has shown

        function dispatch(payload) {
            for (const callback of watchers.get(payload.connection_id) || []) {
                callback(payload);
            }
        }

        function openRun(runId) {
            return action.doAction({
                type: "ir.actions.act_window",
                res_model: "csp.sync.run",
                res_id: runId,
                views: [[false, "form"]],
                target: "current",
            });
        }

        bus_service.subscribe("csp.sync.run/progress", dispatch);
        bus_service.subscribe("csp.sync.run/ended", (payload) => {
            dispatch(payload);
            if (told.has(payload.run_id)) {
                return;
            }
            told.add(payload.run_id);
            const close = notification.add(payload.message, {
                title: payload.title,
                type: payload.type,
                sticky: payload.type !== "success",
                autocloseDelay: 15000,
                buttons: [
                    {
                        name: _t("Open the run"),
                        primary: true,
                        onClick: () => {
                            close();
                            openRun(payload.run_id);
                        },
                    },
                ],
            });
        });
        bus_service.start();

        return {
            /**
             * Call `callback(payload)` for each progress or end of a run of the connection
             * `connectionId` until the returned function is called.
             */
            watch(connectionId, callback) {
                let callbacks = watchers.get(connectionId);
                if (!callbacks) {
                    callbacks = new Set();
                    watchers.set(connectionId, callbacks);
                    bus_service.addChannel(`csp.connection_${connectionId}`);
                }
                callbacks.add(callback);
                return () => {
                    callbacks.delete(callback);
                    if (!callbacks.size && watchers.get(connectionId) === callbacks) {
                        watchers.delete(connectionId);
                        bus_service.deleteChannel(`csp.connection_${connectionId}`);
                    }
                };
            },
        };
    },
};

registry.category("services").add("csp_sync", cspSyncService);
