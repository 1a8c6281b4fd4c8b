# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Whether the code runs inside Odoo's test run (the one check the models share)."""

import threading


def under_test():
    """True in a thread running Odoo's tests (Odoo sets ``testing`` on it): nothing may
    commit there, and what would write with a cursor of its own uses the test's."""
    return getattr(threading.current_thread(), "testing", False)
