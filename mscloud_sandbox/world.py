"""The sandbox's state: partner, apps, customer tenants and everything inside them.

This module is the contract between the generator (``generate.py``), the services
(``identity.py``, ``partner_center.py``, ``graph/``, ``pricing.py``) and the control
API (``control.py``).  Objects are plain dataclasses holding Microsoft-shaped values;
each tenant keeps a change log so that Graph delta queries can answer "what changed
since sequence N".  Users, groups and devices of a tenant are generated on first
access (``Tenant.ensure_loaded``), so a 10,000-user tenant costs nothing until asked.
"""

import threading
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class App:
    """An app registration in the partner tenant."""

    client_id: str
    client_secret: str
    display_name: str
    multi_tenant: bool
    # None: any https/http redirect on 127.0.0.1 or localhost is accepted.
    redirect_uris: list | None = None
    secret_expires: datetime | None = None


@dataclass
class User:
    id: str
    userPrincipalName: str
    displayName: str | None = None  # Entra ID allows users without one
    givenName: str | None = None
    surname: str | None = None
    mail: str | None = None
    jobTitle: str | None = None
    department: str | None = None
    officeLocation: str | None = None
    mobilePhone: str | None = None
    businessPhones: list = field(default_factory=list)
    streetAddress: str | None = None
    city: str | None = None
    postalCode: str | None = None
    country: str | None = None
    companyName: str | None = None
    employeeId: str | None = None
    onPremisesSamAccountName: str | None = None
    accountEnabled: bool = True
    userType: str = "Member"  # or "Guest" (UPN contains #EXT#)
    createdDateTime: str | None = None
    # [{"skuId": ..., "disabledPlans": []}]
    assignedLicenses: list = field(default_factory=list)
    # {"lastSignInDateTime": ..., "lastNonInteractiveSignInDateTime": ...}
    signInActivity: dict | None = None
    is_service_account: bool = False  # sandbox-only marker, never served


@dataclass
class Group:
    id: str
    displayName: str
    description: str | None = None
    mailEnabled: bool = False
    securityEnabled: bool = True
    groupTypes: list = field(default_factory=list)
    members: list = field(default_factory=list)  # user ids


@dataclass
class Device:
    """An Intune managedDevice (Graph field names)."""

    id: str
    deviceName: str
    serialNumber: str
    userPrincipalName: str | None
    userId: str | None
    azureADDeviceId: str
    operatingSystem: str  # Windows, iOS, Android, macOS
    osVersion: str
    model: str
    manufacturer: str
    complianceState: str  # compliant, noncompliant, unknown
    lastSyncDateTime: str
    enrolledDateTime: str
    managedDeviceOwnerType: str  # company, personal
    managementAgent: str  # mdm, msSense (Defender), easMdm, configurationManagerClientMdm
    emailAddress: str | None = None


@dataclass
class Subscription:
    """A Partner Center subscription (Partner Center field names)."""

    id: str
    offerId: str  # "CFQ7TTC0LH18:0001" style product:sku
    offerName: str
    friendlyName: str
    skuId: str  # Graph skuId (GUID) of the licence this subscription provides
    quantity: int
    unitType: str
    status: str  # active, suspended, deleted, expired
    autoRenewEnabled: bool
    billingCycle: str  # monthly, annual, triennial
    termDuration: str  # P1M, P1Y, P3Y
    creationDate: str
    effectiveStartDate: str
    commitmentEndDate: str
    productType: dict = field(default_factory=lambda: {"id": "OnlineServicesNCE"})
    promotionId: str | None = None
    # [{"quantity": n, "allowedUntilDateTime": iso}] each addition has its own window
    refundable: list = field(default_factory=list)
    scheduledNextTermInstructions: dict | None = None
    etag: str = "1"


@dataclass
class GdapRelationship:
    id: str
    displayName: str
    status: str  # active, expiring, expired, terminated, approvalPending
    createdDateTime: str
    activatedDateTime: str | None
    endDateTime: str
    duration: str  # ISO 8601, e.g. P730D
    autoExtendDuration: str  # PT0S or P180D
    # [{"roleDefinitionId": ...}]
    roles: list = field(default_factory=list)
    # accessAssignments: [{"id", "status", "securityGroupId", "roles": [...]}]
    access_assignments: list = field(default_factory=list)
    # set for an indirect reseller's relationship (Graph's resellerDelegatedAdminRelationship)
    indirect_provider_tenant_id: str | None = None


@dataclass
class Tenant:
    id: str
    company_name: str
    default_domain: str  # contoso.onmicrosoft.com
    domains: list  # verified domains, e.g. ["contoso.com", "contoso.onmicrosoft.com"]
    country: str  # ISO alpha-2, e.g. "GB"
    reseller: bool  # has a CSP reseller relationship (appears in /v1/customers)
    gdap: GdapRelationship | None
    consented_apps: set  # client ids with admin consent (a service principal) here
    has_p1: bool  # Entra ID P1: signInActivity allowed
    consent_blocked: bool = False  # admin consent is refused (no GDAP admin role, ...)
    # delta entries of updated objects carry only the changed properties, as Graph
    # documents ("at least the updated properties"); True serves whole records instead
    delta_full_records: bool = False
    # members@delta of one group holds at most this many members per entry: a larger
    # group comes back in several entries, on several pages (0: never split)
    delta_members_per_entry: int = 100
    subscriptions: list = field(default_factory=list)  # Subscription
    # generation parameters, used by ensure_loaded()
    n_users: int = 0
    n_groups: int = 0
    n_devices: int = 0
    loader: object = None  # callable(tenant) filling users/groups/devices
    _loaded: bool = False
    users: dict = field(default_factory=dict)  # id -> User (insertion order kept)
    groups: dict = field(default_factory=dict)  # id -> Group
    devices: dict = field(default_factory=dict)  # id -> Device
    # devices have no change log (Intune has no delta): counts their changes instead
    device_changes: int = 0
    # soft-deleted users (Entra ID's deleted items), restorable: id -> User
    deleted_users: dict = field(default_factory=dict)
    # change log: (seq, kind, object_id, removed, properties) with kind "user"/"group";
    # removed: False, "changed" (soft delete) or "deleted" (gone for good);
    # properties: the names that changed, None for a whole new (or restored) object
    changes: list = field(default_factory=list)
    seq: int = 0

    def ensure_loaded(self):
        if not self._loaded:
            self._loaded = True
            if self.loader is not None:
                self.loader(self)

    def record_change(self, kind, object_id, removed=False, properties=None):
        self.seq += 1
        if removed is True:
            removed = "deleted"
        props = None if properties is None else frozenset(properties)
        self.changes.append((self.seq, kind, object_id, removed, props))

    def changed_since(self, kind, seq):
        """Object ids of `kind` changed after `seq`: {id: removed}, last state wins
        (removed: False, "changed" or "deleted")."""
        return {oid: removed for oid, (removed, _props) in self.changes_since(kind, seq).items()}

    def changes_since(self, kind, seq):
        """{id: (removed, changed property names or None for the whole object)}."""
        out = {}
        for change_seq, change_kind, object_id, removed, props in self.changes:
            if change_seq <= seq or change_kind != kind:
                continue
            _old_removed, old_props = out.get(object_id, (False, frozenset()))
            if removed or props is None or old_props is None:
                merged = None if not removed else frozenset()
            else:
                merged = old_props | props
            out[object_id] = (removed, merged)
        return out


@dataclass
class AuditRecord:
    partnerId: str
    customerId: str
    customerName: str
    userPrincipalName: str
    resourceType: str
    resourceNewValue: str
    operationType: str
    operationDate: str
    operationStatus: str = "succeeded"


@dataclass
class World:
    seed: int
    partner_tenant_id: str
    partner_name: str
    partner_domain: str
    partner_admin_upn: str  # the user the authorize endpoint signs in by default
    partner_center_app: App
    gdap_app: App
    tenants: dict = field(default_factory=dict)  # id -> Tenant (insertion order kept)
    audit_records: list = field(default_factory=list)
    webhook: dict | None = None  # {"WebhookUrl": ..., "WebhookEvents": [...]}
    # generator's named special cases, e.g. {"expiring_gdap": tenant_id, ...}
    special: dict = field(default_factory=dict)
    # per-service runtime state (delta snapshots, export operations...), keyed by service
    service_state: dict = field(default_factory=dict, repr=False)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def app(self, client_id):
        for app in (self.partner_center_app, self.gdap_app):
            if app.client_id == client_id:
                return app
        return None

    def tenant(self, tenant_id):
        tenant = self.tenants.get(tenant_id)
        if tenant is not None:
            with self.lock:  # two request threads must not both run the loader
                tenant.ensure_loaded()
        return tenant

    def tenant_by_domain(self, domain):
        domain = domain.lower()
        for tenant in self.tenants.values():
            if domain == tenant.default_domain or domain in tenant.domains:
                return tenant
        return None

    # -- mutations (control API and Graph writes go through these) ----------

    def upsert_user(self, tenant, user):
        with self.lock:
            tenant.ensure_loaded()
            tenant.users[user.id] = user
            tenant.deleted_users.pop(user.id, None)
            tenant.record_change("user", user.id)

    def update_user(self, tenant, user_id, **values):
        with self.lock:
            tenant.ensure_loaded()
            user = tenant.users[user_id]
            for key, value in values.items():
                if not hasattr(user, key):
                    raise KeyError(key)
                setattr(user, key, value)
            tenant.record_change("user", user_id, properties=values)
            return user

    def delete_user(self, tenant, user_id, permanent=False):
        """Entra ID's delete: the user goes to deleted items (restorable; delta says
        "changed"), or with `permanent` is gone for good (delta says "deleted"). A
        user already in deleted items can be deleted permanently."""
        with self.lock:
            tenant.ensure_loaded()
            user = tenant.users.pop(user_id, None)
            if user is None:
                tenant.deleted_users.pop(user_id)
                tenant.record_change("user", user_id, removed="deleted")
                return
            for group in tenant.groups.values():
                if user_id in group.members:
                    group.members.remove(user_id)
                    tenant.record_change("group", group.id, properties=("members",))
            if not permanent:
                tenant.deleted_users[user_id] = user
            tenant.record_change("user", user_id, removed="deleted" if permanent else "changed")

    def restore_user(self, tenant, user_id):
        """Back from deleted items: delta serves the whole user again."""
        with self.lock:
            tenant.ensure_loaded()
            user = tenant.deleted_users.pop(user_id)
            tenant.users[user_id] = user
            tenant.record_change("user", user_id)
            return user

    def upsert_group(self, tenant, group):
        with self.lock:
            tenant.ensure_loaded()
            tenant.groups[group.id] = group
            tenant.record_change("group", group.id)

    def set_group_members(self, tenant, group_id, members):
        with self.lock:
            tenant.ensure_loaded()
            tenant.groups[group_id].members = list(members)
            tenant.record_change("group", group_id, properties=("members",))

    def delete_group(self, tenant, group_id):
        with self.lock:
            tenant.ensure_loaded()
            tenant.groups.pop(group_id)
            tenant.record_change("group", group_id, removed="deleted")

    # -- devices, subscriptions and tenant settings (control API, admin consent) --

    def upsert_device(self, tenant, device):
        with self.lock:
            tenant.ensure_loaded()
            tenant.devices[device.id] = device
            tenant.device_changes += 1

    def delete_device(self, tenant, device_id):
        with self.lock:
            tenant.ensure_loaded()
            tenant.devices.pop(device_id)
            tenant.device_changes += 1

    def upsert_subscription(self, tenant, subscription):
        """Add `subscription`, or replace the one with the same id (kept in place)."""
        with self.lock:
            for index, existing in enumerate(tenant.subscriptions):
                if existing.id == subscription.id:
                    tenant.subscriptions[index] = subscription
                    return
            tenant.subscriptions.append(subscription)

    def delete_subscription(self, tenant, subscription_id):
        with self.lock:
            before = len(tenant.subscriptions)
            tenant.subscriptions[:] = [s for s in tenant.subscriptions if s.id != subscription_id]
            if len(tenant.subscriptions) == before:
                raise KeyError(subscription_id)

    def grant_consent(self, tenant, client_ids):
        with self.lock:
            tenant.consented_apps.update(client_ids)

    def revoke_consent(self, tenant, client_ids=None):
        """Remove the apps' consent, or every consent when `client_ids` is None."""
        with self.lock:
            if client_ids is None:
                tenant.consented_apps.clear()
            else:
                tenant.consented_apps.difference_update(client_ids)

    def update_tenant(self, tenant, **values):
        """Set tenant flags (consent_blocked, has_p1, reseller, company_name...)."""
        _set_fields(self.lock, tenant, values)

    def update_gdap(self, tenant, **values):
        """Set fields of the tenant's GDAP relationship (status, endDateTime...)."""
        _set_fields(self.lock, tenant.gdap, values)


def _set_fields(lock, obj, values):
    with lock:
        for key in values:
            if key.startswith("_") or not hasattr(obj, key):
                raise KeyError(key)
        for key, value in values.items():
            setattr(obj, key, value)
