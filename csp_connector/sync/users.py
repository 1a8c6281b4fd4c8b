"""Which contact each Azure user becomes: site mappings, field mappings, filters.

Plain data in, a plan out; the ORM side (``importers/users.py``) applies it in
batches. The filters and the text rules are the ones devices share (sync/filters.py).
Nothing here reads or writes the database.
"""

import hashlib
import json
from dataclasses import dataclass, field

from .filters import PropertyFilter, text_value

# Graph user properties a mapping or filter may use (Graph's own names).
USER_PROPERTIES = (
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
    "jobTitle",
    "department",
    "officeLocation",
    "mobilePhone",
    "businessPhones",
    "streetAddress",
    "city",
    "postalCode",
    "state",
    "country",
    "employeeId",
    "companyName",
    "onPremisesSamAccountName",
    "userType",
    "accountEnabled",
    "usageLocation",
    "preferredLanguage",
)
# always read: identity, matching, activity, guests, licence check, a name to build
BASE_SELECT = ("id", "userPrincipalName", "mail", "accountEnabled", "userType", "givenName",
               "surname", "assignedLicenses", "displayName")  # fmt: skip

KIND_SITE = "site"  # map to an existing site
KIND_FIELD_SITES = "field_sites"  # customer + one site per distinct value of a field
KIND_SKIP = "skip"  # do not import
KIND_MATCH = "match"  # find the site whose field equals the user's field


def mapping_title(kind, customer="", azure_field="", site_field="", site="", description=""):
    """What a site mapping maps, in words: "Contoso: officeLocation → sites",
    "Contoso: users → Paris", "Contoso: officeLocation → site City", "Do not import";
    its description, when given, follows in brackets."""
    who = customer or "?"
    if kind == KIND_SKIP:
        title = "Do not import"
    elif kind == KIND_FIELD_SITES:
        title = f"{who}: {azure_field or '?'} → sites"
    elif kind == KIND_MATCH:
        title = f"{who}: {azure_field or '?'} → site {site_field or '?'}"
    else:
        title = f"{who}: users → {site or who}"
    return f"{title} ({description})" if description else title


@dataclass(frozen=True)
class ValueMapping:
    odoo_field: str
    value: object
    group_id: str | None = None  # only for members of this Azure group


@dataclass(frozen=True)
class SiteMapping:
    id: int
    sequence: int
    kind: str
    tenant_ids: frozenset = frozenset()  # empty: every tenant of the connection
    customer_id: int | None = None  # the customer (company partner)
    site_id: int | None = None  # KIND_SITE
    azure_field: str | None = None  # KIND_FIELD_SITES, KIND_MATCH
    site_field: str | None = None  # KIND_MATCH: field of the customer's sites
    default_site_id: int | None = None  # KIND_MATCH: when nothing matches (else skip)
    group_ids: frozenset = frozenset()  # user must be in one of them
    filters: tuple[PropertyFilter, ...] = ()  # sync/filters.py
    include_external: bool = False
    values: tuple = ()  # ValueMapping
    tag_ids: tuple = ()
    portal: bool = False

    def accepts(self, tenant_id, user, groups_of_user):
        if self.tenant_ids and tenant_id not in self.tenant_ids:
            return False
        if is_external(user) and not self.include_external:
            return False
        if self.group_ids and not (self.group_ids & groups_of_user):
            return False
        return all(f.matches(user) for f in self.filters)


@dataclass
class Decision:
    """Where one user goes, and with which values."""

    object_id: str
    mapping_id: int | None = None
    parent_id: int | None = None  # site (or customer) partner id
    site_value: str | None = None  # KIND_FIELD_SITES: site to find or create by name
    customer_id: int | None = None
    values: dict = field(default_factory=dict)
    tag_ids: tuple = ()
    portal: bool = False
    skip_reason: str | None = None  # set when the user is not imported


def is_external(user):
    upn = user.get("userPrincipalName") or ""
    return user.get("userType") == "Guest" or "#EXT#" in upn.upper()


def merge_entry(known, entry):
    """What is known of a user after a delta entry: Graph documents that an updated
    user's entry carries "at least the properties that have been updated", so a
    property absent from the entry is unchanged (kept), and one present as null is
    cleared. Annotations (``@odata.type``...) are not properties."""
    merged = dict(known or {})
    merged.update((k, v) for k, v in entry.items() if not k.startswith("@"))
    return merged


def is_partial(entry):
    """Whether a delta entry lacks what any whole user carries: the sign-in name is
    never null, so a new or restored user always comes with it."""
    return "userPrincipalName" not in entry


def built_name(user):
    """A contact's name for any user: display name, else given name and surname, else
    the sign-in name (a guest's e-mail), the e-mail, and last the object id."""
    name = text_value(user.get("displayName"))
    if name:
        return name
    name = " ".join(
        part for part in (text_value(user.get("givenName")), text_value(user.get("surname")))
        if part
    )  # fmt: skip
    if name:
        return name
    upn = text_value(user.get("userPrincipalName"))
    if is_external(user) and user.get("mail"):
        return text_value(user.get("mail"))
    return upn or text_value(user.get("mail")) or text_value(user.get("id"))


def select_for(field_mappings, site_mappings, with_sign_in=False, everything=False):
    """The $select a sync needs: only what mappings and filters read."""
    wanted = set(BASE_SELECT)
    if everything:
        wanted.update(USER_PROPERTIES)
    wanted.update(azure for azure, _odoo in field_mappings)
    for mapping in site_mappings:
        if mapping.azure_field:
            wanted.add(mapping.azure_field)
        wanted.update(f.field for f in mapping.filters)
    if with_sign_in:
        wanted.add("signInActivity")
    return ",".join(sorted(wanted))


def licence_allows(user, rule, sku_ids):
    """rule: none | include (must hold one of sku_ids) | exclude (must hold none).
    Licences not known (not read) decide nothing."""
    if "assignedLicenses" not in user:
        return True
    held = {lic.get("skuId") for lic in user.get("assignedLicenses") or []}
    if rule == "include":
        return bool(held & sku_ids)
    if rule == "exclude":
        return not (held & sku_ids)
    return True


def mapped_values(user, field_mappings, converters=None):
    """{odoo field: value} from the field mappings (Azure property -> contact field).

    A property the user does not carry (not read, or absent from a delta entry) writes
    nothing; an empty name becomes a built one (a contact needs a name)."""
    converters = converters or {}
    values = {}
    for azure, odoo in field_mappings:
        if azure not in user:
            continue
        raw = user.get(azure)
        convert = converters.get(odoo)
        values[odoo] = convert(raw) if convert else (text_value(raw) or False)
    if "name" in values and not values["name"]:
        values["name"] = built_name(user)
    return values


def decide(tenant_id, user, site_mappings, field_mappings, groups_of_user, options,
           converters=None):  # fmt: skip
    """The Decision for one user. ``site_mappings`` must be sorted by sequence."""
    decision = Decision(object_id=user["id"])
    if not licence_allows(user, options.get("licence_rule", "none"),
                          options.get("licence_skus", frozenset())):  # fmt: skip
        decision.skip_reason = "licence"
        return decision
    mapping = next((m for m in site_mappings if m.accepts(tenant_id, user, groups_of_user)), None)
    if mapping is None:
        decision.skip_reason = "no_mapping"
        return decision
    decision.mapping_id = mapping.id
    if mapping.kind == KIND_SKIP:
        decision.skip_reason = "mapping"
        return decision
    decision.customer_id = mapping.customer_id
    if mapping.kind == KIND_SITE:
        decision.parent_id = mapping.site_id or mapping.customer_id
    elif mapping.kind == KIND_FIELD_SITES:
        value = text_value(user.get(mapping.azure_field))
        if value:
            decision.site_value = value
        else:
            decision.parent_id = mapping.customer_id
    elif mapping.kind == KIND_MATCH:
        value = text_value(user.get(mapping.azure_field)).lower()
        sites = options.get("sites_by_value", {}).get(mapping.id, {})
        decision.parent_id = sites.get(value) or mapping.default_site_id
        if not decision.parent_id:
            decision.skip_reason = "no_site"
            return decision
    values = mapped_values(user, field_mappings, converters)
    if options.get("active_follows_account", True) and "accountEnabled" in user:
        values["active"] = bool(user.get("accountEnabled", True))
    for value_mapping in mapping.values:
        if value_mapping.group_id is None or value_mapping.group_id in groups_of_user:
            values[value_mapping.odoo_field] = value_mapping.value
    decision.values = values
    decision.tag_ids = mapping.tag_ids
    decision.portal = mapping.portal
    return decision


def fingerprint(decision):
    """A short hash of everything a decision would write, to skip unchanged users."""
    payload = json.dumps(
        [decision.parent_id, decision.site_value, decision.values, sorted(decision.tag_ids)],
        sort_keys=True,
        default=str,
    )
    return hashlib.blake2b(payload.encode(), digest_size=12).hexdigest()
