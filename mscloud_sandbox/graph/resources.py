"""The Graph objects the sandbox serves from its world (users, groups, Intune managed
devices): their OData type, the properties read from the world's dataclasses, the
properties Graph has that the sandbox does not model (selectable, served empty), the
default properties and the filterable ones.
"""

from dataclasses import fields

from ..world import Device, Group, User
from .odata import Resource

USER_DEFAULT = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
# Graph properties the sandbox does not model: selectable, served empty.
USER_UNMODELLED = {
    "usageLocation": None,
    "preferredLanguage": None,
    "mailNickname": None,
    "employeeType": None,
    "state": None,
    "faxNumber": None,
    "ageGroup": None,
    "onPremisesSyncEnabled": None,
    "onPremisesImmutableId": None,
    "onPremisesLastSyncDateTime": None,
    "lastPasswordChangeDateTime": None,
    "passwordPolicies": None,
    "otherMails": [],
    "proxyAddresses": [],
    "imAddresses": [],
    "assignedPlans": [],
}
GROUP_UNMODELLED = {
    "mail": None,
    "mailNickname": None,
    "createdDateTime": None,
    "visibility": None,
    "membershipRule": None,
    "classification": None,
    "onPremisesSyncEnabled": None,
    "proxyAddresses": [],
}
DEVICE_UNMODELLED = {
    "managedDeviceName": None,
    "userDisplayName": None,
    "deviceEnrollmentType": None,
    "deviceRegistrationState": None,
    "isEncrypted": None,
    "jailBroken": None,
    "imei": None,
    "wiFiMacAddress": None,
    "totalStorageSpaceInBytes": None,
    "freeStorageSpaceInBytes": None,
}


def _field_names(cls, *hidden):
    return frozenset(f.name for f in fields(cls) if f.name not in hidden)


USERS = Resource(
    "User",
    "microsoft.graph.user",
    _field_names(User, "is_service_account"),
    USER_UNMODELLED,
    USER_DEFAULT,
    frozenset(
        {"id", "userPrincipalName", "mail", "accountEnabled", "userType", "displayName"}
        | {"givenName", "surname", "employeeId", "department", "jobTitle", "companyName"}
    ),
)
GROUPS = Resource(
    "Group",
    "microsoft.graph.group",
    _field_names(Group, "members"),
    GROUP_UNMODELLED,
    ("id", "displayName", "description", "mailEnabled", "securityEnabled", "groupTypes"),
    frozenset({"id", "displayName", "mailEnabled", "securityEnabled"}),
)
DEVICES = Resource(
    "ManagedDevice",
    "microsoft.graph.managedDevice",
    _field_names(Device),
    DEVICE_UNMODELLED,
    tuple(f.name for f in fields(Device)),
    frozenset(
        {"id", "operatingSystem", "managementAgent", "complianceState", "userId"}
        | {"userPrincipalName", "deviceName", "managedDeviceOwnerType", "azureADDeviceId"}
    ),
)
