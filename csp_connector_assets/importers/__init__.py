# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""ORM-aware orchestration of the device import (not models), as the core's
importers/: the device import on the core's binding routine (devices.py). Models call
it; it decides with the plain rules of sync/devices.py.
"""
