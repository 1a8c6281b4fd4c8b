# Copyright 2026 Microsoft CSP for Odoo contributors
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl).
"""Intune managed devices -> equipment: the decisions, as plain data (no ORM).

A device (a dict of Graph v1.0 managedDevice properties) and the connection's
settings go in; a ``DevicePlan`` comes out: whether the device is imported, the
equipment values Intune gives, the key that finds existing equipment, the key that
finds its user, its category. Site, status and what to do with devices gone from
Intune are decided here too, from plain values the importer passes in.
"""

import re
from dataclasses import dataclass, field

from odoo.addons.csp_connector.microsoft.dates import odoo_datetime
from odoo.addons.csp_connector.sync.filters import PropertyFilter, text_value

# managedDevice properties read from Graph (v1.0); rules may test any of them
SELECT = (
    "id", "deviceName", "serialNumber", "userPrincipalName", "userId", "emailAddress",
    "userDisplayName", "azureADDeviceId", "operatingSystem", "osVersion", "model",
    "manufacturer", "complianceState", "lastSyncDateTime", "enrolledDateTime",
    "managedDeviceOwnerType", "managementAgent", "deviceEnrollmentType", "imei",
)  # fmt: skip

# serial numbers firmware reports when the maker left it empty: they identify nothing
PLACEHOLDER_SERIALS = frozenset(
    {
        "0", "defaultstring", "tobefilledbyoem", "systemserialnumber", "chassisserialnumber",
        "baseboardserialnumber", "serialnumber", "notapplicable", "notspecified",
        "notavailable", "none", "null", "na", "unknown", "oem", "invalid", "empty",
        "defaultvalue", "123456789", "1234567890", "0123456789", "sn", "xxxxxxxx",
    }
)  # fmt: skip
ZERO_GUID = "00000000-0000-0000-0000-000000000000"
# the management agent of devices that only Microsoft Defender for Endpoint manages
DEFENDER_ONLY_AGENTS = frozenset({"mssense"})
MOBILE_SYSTEMS = ("ios", "ipados", "android", "windows mobile", "windowsphone", "windows phone")
COMPLIANCE_STATES = frozenset(
    {"unknown", "compliant", "noncompliant", "conflict", "error", "inGracePeriod", "configManager"}
)
OWNER_TYPES = frozenset({"unknown", "company", "personal"})

MATCH_SERIAL = "serial"
MATCH_ENTRA = "entra"
CATEGORY_SINGLE = "single"
CATEGORY_FIELD = "field"
CATEGORY_RULES = "rules"
SITE_ALL = "all"
SITE_NEW = "new"
SITE_NEVER = "never"

SKIP_DEFENDER = "defender"
SKIP_UNMATCHED = "unmatched"
SKIP_NO_ID = "no_id"


# a condition on a device field: the filter of the user import's site mappings (the
# core's sync/filters.py: same operators, same text rules)
Condition = PropertyFilter


@dataclass(frozen=True)
class CategoryRule:
    """All conditions hold -> the category (rules are tried in sequence)."""

    conditions: tuple
    category_id: int

    def holds(self, device):
        return all(condition.matches(device) for condition in self.conditions)


@dataclass(frozen=True)
class Settings:
    match_field: str = MATCH_SERIAL
    user_field: str = "userPrincipalName"
    mobile_user_field: str | None = None
    category_mode: str = CATEGORY_SINGLE
    category_id: int | None = None  # single mode; fallback of the field mode
    category_field: str = "operatingSystem"
    rules: tuple = ()
    unmatched: str = "fallback"  # or "exclude"
    fallback_category_id: int | None = None
    exclude_defender: bool = True


@dataclass
class DevicePlan:
    microsoft_id: str
    skip: str | None = None
    match_key: str | None = None
    user_key: str | None = None
    mobile: bool = False
    user_sent: bool = True  # False: the user property was not sent (keep the current)
    new_name: str = ""  # the name of new equipment when the device sent no deviceName
    # ("id", category id) | ("name", category name) | None
    category: tuple | None = None
    values: dict = field(default_factory=dict)


def clean_serial(value):
    """The serial number, or None when it is empty or a firmware placeholder."""
    text = text_value(value)
    key = re.sub(r"[^a-z0-9]", "", text.lower())
    if not key or key in PLACEHOLDER_SERIALS or len(set(key)) == 1:
        return None
    return text


def clean_entra_id(value):
    text = text_value(value).lower()
    return None if not text or text == ZERO_GUID else text


def match_key(device, match_field):
    """What finds existing equipment for the device (None: it matches nothing)."""
    if match_field == MATCH_ENTRA:
        return clean_entra_id(device.get("azureADDeviceId"))
    serial = clean_serial(device.get("serialNumber"))
    return serial.upper() if serial else None


def is_mobile(device):
    system = text_value(device.get("operatingSystem")).lower()
    return system.startswith(MOBILE_SYSTEMS)


def is_defender_only(device):
    return text_value(device.get("managementAgent")).lower() in DEFENDER_ONLY_AGENTS


def user_key(device, user_field, mobile_user_field=None):
    """The value that finds the device's user, lower-cased (None: no user)."""
    name = mobile_user_field if mobile_user_field and is_mobile(device) else user_field
    text = text_value(device.get(name)).lower()
    return text or None


def category_for(device, settings):
    """("id", id), ("name", value) or None (no category); SKIP_UNMATCHED to exclude."""
    mode = settings.category_mode
    if mode == CATEGORY_FIELD:
        value = text_value(device.get(settings.category_field))
        if value:
            return ("name", value)
        return ("id", settings.category_id) if settings.category_id else None
    if mode == CATEGORY_RULES:
        for rule in settings.rules:
            if rule.holds(device):
                return ("id", rule.category_id)
        if settings.unmatched == "exclude":
            return SKIP_UNMATCHED
        return ("id", settings.fallback_category_id) if settings.fallback_category_id else None
    return ("id", settings.category_id) if settings.category_id else None


def intune_datetime(value):
    """A Graph date as a naive UTC datetime string for Odoo (parsed as every Microsoft
    date is, microsoft/dates.py); Intune's "never" (0001-01-01) and anything
    unreadable are None."""
    parsed = odoo_datetime(text_value(value) or None)
    return parsed.strftime("%Y-%m-%d %H:%M:%S") if parsed else None


# equipment field <- (managedDevice property, how its value is read)
_EQUIPMENT_FIELDS = {
    "serial_no": ("serialNumber", lambda v: clean_serial(v) or False),
    "csp_serial_number": ("serialNumber", lambda v: text_value(v) or False),
    "model": ("model", lambda v: text_value(v) or False),
    "csp_manufacturer": ("manufacturer", lambda v: text_value(v) or False),
    "csp_os": ("operatingSystem", lambda v: text_value(v) or False),
    "csp_os_version": ("osVersion", lambda v: text_value(v) or False),
    "csp_compliance": (
        "complianceState",
        lambda v: text_value(v) if text_value(v) in COMPLIANCE_STATES else "unknown",
    ),
    "csp_last_sync": ("lastSyncDateTime", lambda v: intune_datetime(v) or False),
    "csp_enrolled": ("enrolledDateTime", lambda v: intune_datetime(v) or False),
    "csp_ownership": (
        "managedDeviceOwnerType",
        lambda v: text_value(v) if text_value(v) in OWNER_TYPES else "unknown",
    ),
    "csp_management_agent": ("managementAgent", lambda v: text_value(v) or False),
    "csp_entra_device_id": ("azureADDeviceId", lambda v: clean_entra_id(v) or False),
}


def equipment_values(device):
    """The equipment fields Intune fills (Odoo field names), from the properties the
    device carries: a property Graph did not send leaves its field as it is (null,
    sent empty, clears it). ``name`` is there when deviceName was sent (or no better
    name exists: see new_equipment_name)."""
    values = {
        name: read(device[prop])
        for name, (prop, read) in _EQUIPMENT_FIELDS.items()
        if prop in device
    }
    values["csp_intune_id"] = text_value(device.get("id"))
    if "deviceName" in device:
        values["name"] = text_value(device.get("deviceName")) or new_equipment_name(device)
    return values


def new_equipment_name(device):
    """The name of new equipment whose device has no name: its serial or Intune id."""
    return clean_serial(device.get("serialNumber")) or text_value(device.get("id"))


def plan(device, settings):
    """What to do with one device."""
    microsoft_id = text_value(device.get("id"))
    result = DevicePlan(microsoft_id=microsoft_id)
    if not microsoft_id:
        result.skip = SKIP_NO_ID
        return result
    if settings.exclude_defender and is_defender_only(device):
        result.skip = SKIP_DEFENDER
        return result
    category = category_for(device, settings)
    if category == SKIP_UNMATCHED:
        result.skip = SKIP_UNMATCHED
        return result
    result.category = category
    result.mobile = is_mobile(device)
    result.match_key = match_key(device, settings.match_field)
    result.user_key = user_key(device, settings.user_field, settings.mobile_user_field)
    user_property = (
        settings.mobile_user_field
        if settings.mobile_user_field and result.mobile
        else settings.user_field
    )
    result.user_sent = user_property in device
    result.values = equipment_values(device)
    result.new_name = new_equipment_name(device)
    return result


def site_for(mode, is_new, linked, user_site, default_site, current_site):
    """The equipment's site: the linked user's site (for every device, for new ones
    only, or never); the default site for a device without a user. Existing
    equipment keeps its site where the mode does not move it (a site someone set by
    hand stays), and gets one only when it has none."""
    wanted = (user_site or default_site) if linked else default_site
    if is_new or mode == SITE_ALL:
        if mode == SITE_NEVER and is_new:
            return default_site
        return wanted
    return current_site or (default_site if mode == SITE_NEVER else wanted)


def status_for(is_new, was_removed, current, new_status, before_removal):
    """The equipment's status: new devices get `new_status`; a device that comes back
    gets the status it had before it disappeared; the others keep theirs."""
    if is_new:
        return new_status
    if was_removed:
        return before_removal or new_status
    return current


def disappeared(live, seen, complete):
    """Microsoft ids of live bindings no longer in Intune. Nothing unless the read
    was complete (every page read, each a valid page)."""
    if not complete:
        return []
    return sorted(set(live) - set(seen))
