/** @odoo-module **/
// Copyright 2026 Microsoft CSP for Odoo contributors
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
/**
 * `widget="csp_sync_progress"` on a run's `progress` (the run form) or a connection's
 * `run_progress` (the connection form, with `options="{'banner': true}"`: the banner
 * shown while a sync runs). It follows the connection's runs through the bus and reloads
 * the form as they go (never over what the user is typing), so nobody needs to reload.
 */
import { Component, useEffect, useState } from "@odoo/owl";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

export class CspSyncProgressField extends Component {
    static template = "csp_connector.SyncProgressField";
    static props = {
        ...standardFieldProps,
        banner: { type: Boolean, optional: true },
    };

    setup() {
        this.cspSync = useService("csp_sync");
        this.state = useState({ payload: null });
        this.reloading = false;
        this.reloadAgain = false;
        useEffect(
            (connectionId) => {
                if (!connectionId) {
                    return;
                }
                return this.cspSync.watch(connectionId, (payload) => this.onProgress(payload));
            },
            () => [this.connectionId]
        );
    }

    get isRun() {
        return this.props.record.resModel === "csp.sync.run";
    }

    get connectionId() {
        const record = this.props.record;
        if (this.isRun) {
            const connection = record.data.connection_id;
            return connection ? connection[0] : false;
        }
        return record.isNew ? false : record.resId;
    }

    get running() {
        const payload = this.state.payload;
        if (payload) {
            return payload.state === "running";
        }
        const data = this.props.record.data;
        return this.isRun ? data.state === "running" : data.run_state === "running";
    }

    get text() {
        const payload = this.state.payload;
        return payload ? payload.text : this.props.record.data[this.props.name] || "";
    }

    onProgress(payload) {
        if (this.isRun && payload.run_id !== this.props.record.resId) {
            return;
        }
        this.state.payload = payload;
        this.reload();
    }

    /** The form read again (counters, lines, state), one reload at a time. */
    async reload() {
        if (this.reloading) {
            this.reloadAgain = true;
            return;
        }
        this.reloading = true;
        try {
            do {
                this.reloadAgain = false;
                const record = this.props.record;
                if (record.dirty || record.isNew) {
                    return; // never over what the user is typing: the text alone follows
                }
                await record.load();
                this.state.payload = null; // the form's own values are as fresh
            } while (this.reloadAgain);
        } finally {
            this.reloading = false;
        }
    }
}

export const cspSyncProgressField = {
    component: CspSyncProgressField,
    supportedTypes: ["char"],
    isEmpty: () => false,
    extractProps: ({ options }) => ({ banner: Boolean(options.banner) }),
};

registry.category("fields").add("csp_sync_progress", cspSyncProgressField);
