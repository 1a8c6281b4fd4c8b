"""Deterministic sandbox worlds: an MSP partner, its apps and its customer tenants.

``build_world(seed)`` always yields the same ids, names and numbers for the same
arguments (``now`` only shifts dates).  Customer tenants, GDAP relationships and
subscriptions are made up front; each tenant's users, groups and devices are made on
first access by :class:`TenantLoader`, from ``random.Random(f"{seed}:{tenant_id}")``,
so the order in which tenants are read never changes what they contain.

Demo credentials (``seed`` is the build seed):

* Partner Center app (single tenant, partner tenant only): client id
  ``uuid5(NAMESPACE, f"partner-center-app:{seed}")``, secret ``PcApp~Sandbox.Secret.{seed}``.
* GDAP app (multi-tenant): client id ``uuid5(NAMESPACE, f"gdap-app:{seed}")``,
  secret ``GdapApp~Sandbox.Secret.{seed}``.
* Partner admin: ``pc.admin@harboursideit.co.uk``.

Special tenants, by index in ``world.tenants`` (also listed in ``world.special``):

* 0 and 1: one company in two tenants (``two_tenant_company``), GB and AU.  Tenant 0's
  main subscription has ``scheduledNextTermInstructions`` (``scheduled_subscription``)
  and it has a monthly subscription bought two days ago that is still refundable
  (``refundable_subscription``).  Tenant 1 has no Entra ID P1 and one suspended
  subscription (``suspended_subscription``).
* 2: GDAP relationship ending 10 days after ``now`` (``expiring_gdap``).
* 3: GDAP only, no reseller relationship (``gdap_only``).
* 4: GDAP active but the GDAP app has no admin consent (``no_consent``), no Entra ID P1.
* 5: reseller only, no GDAP, so consent cannot be granted (``reseller_only``,
  ``consent_blocked``).
* From index 6 on: ``i % 7 == 3`` is GDAP only, ``i % 7 == 4`` has no consent and
  ``i % 3 == 1`` has no Entra ID P1.
* ``big_tenant_users=N`` appends one more tenant with N users (``big``).

Entra ID P1 follows the licences: P1 tenants always own a SKU that includes it.
Every tenant has guests (``#EXT#`` UPNs), a few disabled members, unlicensed service
accounts (``svc-backup``, ``scanner`` ...; ``is_service_account``), Windows, macOS, iOS
and Android devices, some managed by Defender (``managementAgent`` ``msSense``) and
some with no user.
"""

import csv
import functools
import hashlib
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .world import (
    App,
    AuditRecord,
    Device,
    GdapRelationship,
    Group,
    Subscription,
    Tenant,
    User,
    World,
)

NAMESPACE = uuid.UUID("6f1c3a52-8d4e-4b7a-9c1d-2e5f7a9b0c31")
DATA_DIR = Path(__file__).parent / "data"
PARTNER_NAME = "Harbourside IT Solutions"
PARTNER_DOMAIN = "harboursideit.co.uk"
PARTNER_ADMIN_UPN = f"pc.admin@{PARTNER_DOMAIN}"
REFUND_WINDOW = timedelta(hours=168)


@dataclass(frozen=True)
class Sku:
    """One row of ``data/skus.csv``: a licence the sandbox's partner resells."""

    sku_id: str
    sku_part_number: str
    product_name: str
    nce_product_id: str
    nce_sku_id: str
    list_price_usd: float
    category: str  # suite_smb, suite_ent, frontline, addon, free
    entra_p1: bool
    free: bool

    @property
    def offer_id(self):
        return f"{self.nce_product_id}:{self.nce_sku_id}"


@functools.cache
def catalogue():
    """The SKU catalogue, keyed by Graph skuId (file order kept)."""
    with open(DATA_DIR / "skus.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {
        row["sku_id"]: Sku(
            sku_id=row["sku_id"],
            sku_part_number=row["sku_part_number"],
            product_name=row["product_name"],
            nce_product_id=row["nce_product_id"],
            nce_sku_id=row["nce_sku_id"],
            list_price_usd=float(row["list_price_usd"]),
            category=row["category"],
            entra_p1=row["entra_p1"] == "true",
            free=row["free"] == "true",
        )
        for row in rows
    }


@functools.cache
def name_lists():
    """Invented name lists from ``data/names.csv``: {kind: [value, ...]} in file order.

    Kinds: company_prefix, company_trade, given_name, surname.
    """
    out = {}
    with open(DATA_DIR / "names.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            out.setdefault(row["kind"], []).append(row["value"])
    return out


def iso(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# -- names -------------------------------------------------------------------

COMPANY_PAIR = ("Ashford & Pike Logistics", "ashfordpike")
DEPARTMENTS = {
    "Sales": [
        "Account Manager",
        "Sales Executive",
        "Sales Director",
        "Business Development Manager",
    ],
    "Finance": ["Accountant", "Finance Manager", "Payroll Officer", "Credit Controller"],
    "Operations": ["Operations Manager", "Project Coordinator", "Planner", "Quality Lead"],
    "IT": ["IT Manager", "Systems Administrator", "Service Desk Analyst"],
    "HR": ["HR Advisor", "People Partner", "Recruiter"],
    "Marketing": ["Marketing Manager", "Content Designer", "Digital Marketing Executive"],
    "Customer Service": ["Customer Service Advisor", "Team Leader", "Support Specialist"],
    "Warehouse": ["Warehouse Operative", "Shift Supervisor", "Driver"],
    "Management": ["Managing Director", "Chief Operating Officer", "Office Manager"],
}
FRONTLINE_DEPARTMENTS = {"Warehouse", "Customer Service"}
SERVICE_ACCOUNTS = [
    ("svc-backup", "Backup Service"),
    ("scanner", "Office Scanner"),
    ("svc-sync", "Directory Sync Service"),
    ("svc-teams-room", "Boardroom Teams Room"),
    ("svc-alerts", "Monitoring Alerts"),
]
GUEST_DOMAINS = ["gmail.com", "outlook.com", "harboursideit.co.uk", "auditpartners.example"]

COUNTRY_PATTERN = ["GB", "US", "GB", "AU", "US", "CA", "GB", "NZ", "US", "AU"]
COUNTRY = {
    # name, tld, offices (city, street, postcode), desk phone prefix, mobile prefix
    "GB": (
        "United Kingdom",
        "co.uk",
        [
            ("London", "14 Aldgate High Street", "EC3N 1AL"),
            ("Manchester", "3 Piccadilly Place", "M1 3BN"),
            ("Bristol", "22 Temple Quay", "BS1 6EA"),
            ("Leeds", "9 Wellington Place", "LS1 4AP"),
            ("Glasgow", "110 St Vincent Street", "G2 5ER"),
        ],
        "+44 20 7946 0",
        "+44 7700 900",
    ),
    "US": (
        "United States",
        "com",
        [
            ("Seattle", "1200 5th Avenue", "98101"),
            ("Chicago", "233 Wacker Drive", "60606"),
            ("Austin", "500 Congress Avenue", "78701"),
            ("Boston", "75 State Street", "02109"),
            ("Denver", "1700 Lincoln Street", "80203"),
        ],
        "+1 425 555 0",
        "+1 206 555 0",
    ),
    "AU": (
        "Australia",
        "com.au",
        [
            ("Sydney", "200 George Street", "2000"),
            ("Melbourne", "80 Collins Street", "3000"),
            ("Brisbane", "111 Eagle Street", "4000"),
            ("Perth", "240 St Georges Terrace", "6000"),
        ],
        "+61 2 5550 ",
        "+61 491 570 ",
    ),
    "CA": (
        "Canada",
        "ca",
        [
            ("Toronto", "100 King Street West", "M5X 1A9"),
            ("Vancouver", "1055 West Georgia Street", "V6E 3P3"),
            ("Calgary", "855 2 Street SW", "T2P 4J8"),
            ("Ottawa", "50 O'Connor Street", "K1P 6L2"),
        ],
        "+1 416 555 0",
        "+1 604 555 0",
    ),
    "NZ": (
        "New Zealand",
        "co.nz",
        [
            ("Auckland", "188 Quay Street", "1010"),
            ("Wellington", "1 Willis Street", "6011"),
            ("Christchurch", "62 Worcester Boulevard", "8013"),
        ],
        "+64 9 555 ",
        "+64 21 555 ",
    ),
}

# Entra built-in role template ids granted through GDAP.
ROLE_DIRECTORY_READERS = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
ROLE_USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
ROLE_LICENSE_ADMIN = "4d6ac14f-3453-41d0-bef9-a3e0c569773a"
ROLE_CLOUD_APP_ADMIN = "158c047a-c907-4556-b7ef-446551a6b5f7"
ROLE_GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
ROLE_INTUNE_ADMIN = "3a2c62db-5318-420d-8d74-23affee5d9d5"
ROLE_HELPDESK_ADMIN = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
GDAP_ROLES = [
    ROLE_DIRECTORY_READERS, ROLE_USER_ADMIN, ROLE_LICENSE_ADMIN, ROLE_CLOUD_APP_ADMIN,
    ROLE_GLOBAL_READER, ROLE_INTUNE_ADMIN, ROLE_HELPDESK_ADMIN,
]  # fmt: skip


# -- dates -------------------------------------------------------------------


def add_months(when, months):
    """`when` moved by whole months, the day clamped to the target month's length."""
    month_index = when.month - 1 + months
    year, month = when.year + month_index // 12, month_index % 12 + 1
    next_month = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=when.tzinfo)
    last_day = (next_month - timedelta(days=1)).day
    return when.replace(year=year, month=month, day=min(when.day, last_day))


TERM_MONTHS = {"P1M": 1, "P1Y": 12, "P3Y": 36}


def current_term(start, term_duration, now):
    """(term start, commitment end) of the term of a subscription started at `start`
    that contains `now`; the commitment ends the day before the next anniversary."""
    months = TERM_MONTHS[term_duration]
    terms = 0
    while add_months(start, months * (terms + 1)) <= now:
        terms += 1
    term_start = add_months(start, months * terms)
    return term_start, add_months(start, months * (terms + 1)) - timedelta(days=1)


# -- tenants -----------------------------------------------------------------


def _flags(index):
    """The special roles of the tenant at `index` (see the module docstring)."""
    if index < 6:
        return [
            {"pair", "scheduled", "refundable"},
            {"pair", "no_p1", "suspended"},
            {"expiring_gdap"},
            {"gdap_only"},
            {"no_consent", "no_p1"},
            {"reseller_only", "consent_blocked"},
        ][index]
    flags = set()
    if index % 7 == 3:
        flags.add("gdap_only")
    if index % 7 == 4:
        flags.add("no_consent")
    if index % 3 == 1:
        flags.add("no_p1")
    return flags


def _company_names(rng, count):
    """`count` distinct (company name, domain slug) pairs; the first two share a company."""
    prefixes, trades = name_lists()["company_prefix"][:], name_lists()["company_trade"][:]
    rng.shuffle(prefixes)
    rng.shuffle(trades)
    names = [COMPANY_PAIR, (COMPANY_PAIR[0] + " Australia", COMPANY_PAIR[1])]
    for number in range(count - 2):
        lap, position = divmod(number, len(prefixes))
        trade = trades[(position + lap) % len(trades)]
        suffix = f" {lap // len(trades) + 1}" if lap >= len(trades) else ""
        name = f"{prefixes[position]} {trade}{suffix}"
        names.append((name, "".join(ch for ch in name.lower() if ch.isalnum())))
    return names[:count]


def _service_count(n_users):
    return 0 if n_users < 10 else 2 + n_users // 500


def _guest_count(n_users):
    return 0 if n_users < 5 else max(1, round(n_users * 0.04))


def _members_count(n_users):
    return n_users - _service_count(n_users) - _guest_count(n_users)


def _gdap(rng, now, partner_short, company, flags):
    """The tenant's GDAP relationship (None for reseller-only tenants)."""
    if "reseller_only" in flags:
        return None
    if "expiring_gdap" in flags:
        end = now + timedelta(days=10)
        auto_extend = "PT0S"
    else:
        end = now + timedelta(days=rng.randint(60, 700))
        auto_extend = rng.choice(["P180D", "P180D", "PT0S"])
    created = end - timedelta(days=730)
    roles = GDAP_ROLES if "no_consent" not in flags else GDAP_ROLES[:3]
    group_id = str(uuid.uuid5(NAMESPACE, f"{partner_short}:gdap-admins"))
    relationship = GdapRelationship(
        id=f"{_uuid(rng)}-{_uuid(rng)}",
        displayName=f"{partner_short}-{company[:30]}-GDAP".replace(" ", ""),
        status="active",
        createdDateTime=iso(created),
        activatedDateTime=iso(created + timedelta(hours=3)),
        endDateTime=iso(end),
        duration="P730D",
        autoExtendDuration=auto_extend,
        roles=[{"roleDefinitionId": role} for role in roles],
        access_assignments=[
            {
                "id": _uuid(rng),
                "status": "active",
                "securityGroupId": group_id,
                "roles": [{"roleDefinitionId": role} for role in roles],
            }
        ],
    )
    # about one in four came through an indirect provider (Graph's reseller type); chosen
    # from the id, so the random stream (and so the rest of the world) is unchanged
    if int(hashlib.sha256(relationship.id.encode()).hexdigest(), 16) % 4 == 0:
        relationship.indirect_provider_tenant_id = str(
            uuid.uuid5(NAMESPACE, f"{partner_short}:indirect-provider")
        )
    return relationship


def _pick_skus(rng, has_p1, count):
    """Catalogue SKUs for `count` paid subscriptions: a suite first, then add-ons."""
    skus = [s for s in catalogue().values() if not s.free and (has_p1 or not s.entra_p1)]
    suites = [s for s in skus if s.category.startswith("suite") and s.entra_p1 == has_p1]
    picked = [rng.choice(suites)]
    if picked[0].category == "suite_ent" and count > 2 and rng.random() < 0.6:
        picked.append(rng.choice([s for s in skus if s.category == "frontline"]))
    addons = [s for s in skus if s.category == "addon"]
    while len(picked) < count:
        fresh = [s for s in addons if s not in picked]
        picked.append(rng.choice(fresh or picked))
    return picked


def _subscription(rng, now, sku, quantity, start, term, billing):
    term_start, commitment_end = current_term(start, term, now)
    return Subscription(
        id=_uuid(rng),
        offerId=sku.offer_id,
        offerName=sku.product_name,
        friendlyName=sku.product_name,
        skuId=sku.sku_id,
        quantity=quantity,
        unitType="Licenses",
        status="active",
        autoRenewEnabled=rng.random() < 0.85,
        billingCycle=billing,
        termDuration=term,
        creationDate=iso(start),
        effectiveStartDate=iso(term_start),
        commitmentEndDate=iso(commitment_end),
    )


def _subscriptions(rng, now, flags, has_p1, n_members, count):
    """Paid and free subscriptions sized for `n_members` licensable users."""
    subscriptions = []
    for position, sku in enumerate(_pick_skus(rng, has_p1, count)):
        if position == 0:
            quantity = max(1, round(n_members * rng.uniform(0.8, 1.1)))
            term = rng.choice(["P1Y", "P1Y", "P3Y"])
            start = now - timedelta(days=rng.randint(40, 1000))
        else:
            quantity = max(1, round(n_members * rng.uniform(0.05, 0.35)))
            term = rng.choice(["P1M", "P1Y", "P1Y"])
            start = now - timedelta(days=rng.randint(10, 600))
        billing = "monthly" if term == "P1M" else rng.choice(["monthly", "annual"])
        subscriptions.append(_subscription(rng, now, sku, quantity, start, term, billing))
    for sku in rng.sample([s for s in catalogue().values() if s.free], rng.randint(1, 2)):
        start = now - timedelta(days=rng.randint(100, 900))
        free = _subscription(rng, now, sku, 10000, start, "P1M", "none")
        free.autoRenewEnabled = True
        subscriptions.append(free)
    _add_refund_windows(rng, now, subscriptions)
    _apply_flags(rng, now, flags, subscriptions)
    return subscriptions


def _add_refund_windows(rng, now, subscriptions):
    """Recent purchases and seat additions keep a 168-hour refundable window."""
    for subscription in subscriptions:
        created = datetime.fromisoformat(subscription.creationDate)
        if now - created < REFUND_WINDOW:
            until = created + REFUND_WINDOW
            subscription.refundable.append(
                {"quantity": subscription.quantity, "allowedUntilDateTime": iso(until)}
            )
        elif subscription.billingCycle != "none" and rng.random() < 0.15:
            added = min(subscription.quantity, rng.randint(1, 5))
            until = now - timedelta(hours=rng.randint(1, 150)) + REFUND_WINDOW
            subscription.refundable.append({"quantity": added, "allowedUntilDateTime": iso(until)})


def _apply_flags(rng, now, flags, subscriptions):
    main = subscriptions[0]
    if "scheduled" in flags:
        product, sku = main.offerId.split(":")
        main.scheduledNextTermInstructions = {
            "product": {"productId": product, "skuId": sku, "availabilityId": "CFQ7TTC0K5DJ"},
            "quantity": main.quantity + 5,
        }
    if "suspended" in flags:
        paid = [s for s in subscriptions if s.billingCycle != "none"]
        paid[min(1, len(paid) - 1)].status = "suspended"
    if "refundable" in flags:
        start = now - timedelta(days=2)
        extra = _subscription(rng, now, catalogue()[main.skuId], 3, start, "P1M", "monthly")
        extra.refundable.append({"quantity": 3, "allowedUntilDateTime": iso(start + REFUND_WINDOW)})
        subscriptions.insert(1, extra)


def _audit_records(world, tenant, now):
    """Audit entries for the tenant's purchases and seat changes of the last 30 days."""
    for subscription in tenant.subscriptions:
        created = datetime.fromisoformat(subscription.creationDate)
        events = []
        if now - created < timedelta(days=30):
            events.append(("CreateOrder", created, subscription.quantity))
        for window in subscription.refundable:
            changed = datetime.fromisoformat(window["allowedUntilDateTime"]) - REFUND_WINDOW
            if changed != created:
                events.append(("UpdateSubscription", changed, subscription.quantity))
        for operation, when, quantity in events:
            value = {"id": subscription.id, "offerId": subscription.offerId, "quantity": quantity}
            world.audit_records.append(
                AuditRecord(
                    partnerId=world.partner_tenant_id,
                    customerId=tenant.id,
                    customerName=tenant.company_name,
                    userPrincipalName=world.partner_admin_upn,
                    resourceType="Subscription",
                    resourceNewValue=json.dumps(value),
                    operationType=operation,
                    operationDate=iso(when),
                )
            )


def _tenant(rng, world, index, flags, name_slug, n_users, options, now):
    name, slug = name_slug
    country = "AU" if index == 1 else COUNTRY_PATTERN[index % len(COUNTRY_PATTERN)]
    tld = COUNTRY[country][1]
    onmicrosoft = f"{slug}{'au' if index == 1 else ''}.onmicrosoft.com"
    tenant_id = _uuid(rng)
    has_p1 = "no_p1" not in flags
    consented = not flags & {"no_consent", "consent_blocked", "reseller_only"}
    partner_short = world.partner_name.split()[0]
    paid = options["subscriptions"] or rng.randint(2, 5)
    tenant = Tenant(
        id=tenant_id,
        company_name=name,
        default_domain=onmicrosoft,
        domains=[f"{slug}.{tld}", onmicrosoft],
        country=country,
        reseller="gdap_only" not in flags,
        gdap=_gdap(rng, now, partner_short, name, flags),
        consented_apps={world.gdap_app.client_id} if consented else set(),
        has_p1=has_p1,
        consent_blocked="consent_blocked" in flags,
        subscriptions=_subscriptions(rng, now, flags, has_p1, _members_count(n_users), paid),
        n_users=n_users,
        n_groups=options["groups"] if options["groups"] is not None else min(20, n_users // 3),
        n_devices=(options["devices"] if options["devices"] is not None else round(n_users * 0.8)),
    )
    tenant.loader = TenantLoader(world.seed, now)
    return tenant


def _special(world, flagged):
    """world.special from each tenant's flags."""
    ids = {
        flag: [t.id for t, flags in flagged if flag in flags] for _, fl in flagged for flag in fl
    }

    def subscription_where(flag, test):
        for tenant, flags in flagged:
            if flag in flags:
                sub = next(s for s in tenant.subscriptions if test(s))
                return [tenant.id, sub.id]
        return None

    return {
        "two_tenant_company": ids.get("pair", []),
        "expiring_gdap": (ids.get("expiring_gdap") or [None])[0],
        "gdap_only": ids.get("gdap_only", []),
        "no_consent": ids.get("no_consent", []),
        "consent_blocked": (ids.get("consent_blocked") or [None])[0],
        "reseller_only": ids.get("reseller_only", []),
        "no_p1": ids.get("no_p1", []),
        "big": (ids.get("big") or [None])[0],
        "scheduled_subscription": subscription_where(
            "scheduled", lambda s: s.scheduledNextTermInstructions
        ),
        "suspended_subscription": subscription_where(
            "suspended", lambda s: s.status == "suspended"
        ),
        "refundable_subscription": subscription_where(
            "refundable", lambda s: s.refundable and s.termDuration == "P1M"
        ),
    }


def build_world(
    seed=1,
    tenants=25,
    users=50,
    groups=None,
    devices=None,
    subscriptions=None,
    big_tenant_users=0,
    now=None,
):
    """A World with `tenants` customer tenants of `users` users each.

    groups / devices: per tenant (default ``min(20, users // 3)`` and ``users * 0.8``);
    subscriptions: paid subscriptions per tenant (default 2 to 5); big_tenant_users:
    add one more tenant of that many users; now: the moment dates are relative to
    (default: today 00:00 UTC).
    """
    if now is None:
        now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rng = random.Random(seed)
    world = World(
        seed=seed,
        partner_tenant_id=_uuid(rng),
        partner_name=PARTNER_NAME,
        partner_domain=PARTNER_DOMAIN,
        partner_admin_upn=PARTNER_ADMIN_UPN,
        partner_center_app=App(
            client_id=str(uuid.uuid5(NAMESPACE, f"partner-center-app:{seed}")),
            client_secret=f"PcApp~Sandbox.Secret.{seed}",
            display_name=f"{PARTNER_NAME} - Partner Center",
            multi_tenant=False,
            secret_expires=now + timedelta(days=540),
        ),
        gdap_app=App(
            client_id=str(uuid.uuid5(NAMESPACE, f"gdap-app:{seed}")),
            client_secret=f"GdapApp~Sandbox.Secret.{seed}",
            display_name=f"{PARTNER_NAME} - Customer Management",
            multi_tenant=True,
            secret_expires=now + timedelta(days=365),
        ),
    )
    options = {"groups": groups, "devices": devices, "subscriptions": subscriptions}
    count = tenants + (1 if big_tenant_users else 0)
    flagged = []
    for index, name_slug in enumerate(_company_names(rng, count)):
        big = index == tenants
        flags = {"big"} if big else _flags(index)
        n_users = big_tenant_users if big else users
        tenant = _tenant(rng, world, index, flags, name_slug, n_users, options, now)
        world.tenants[tenant.id] = tenant
        flagged.append((tenant, flags))
        _audit_records(world, tenant, now)
    world.audit_records.sort(key=lambda record: record.operationDate)
    world.special = _special(world, flagged)
    return world


# -- lazy tenant contents ----------------------------------------------------


class TenantLoader:
    """Fills a tenant's users, groups and devices the first time it is read."""

    def __init__(self, seed, now):
        self.seed = seed
        self.now = now

    def __call__(self, tenant):
        rng = random.Random(f"{self.seed}:{tenant.id}")
        offices = rng.sample(COUNTRY[tenant.country][2], rng.randint(2, 3))
        users = self._members(rng, tenant, offices)
        self._assign_licences(rng, tenant, users)
        users += self._service_accounts(rng, tenant)
        users += self._guests(rng, tenant)
        for user in users:
            tenant.users[user.id] = user
        for group in _groups(rng, tenant, users, offices):
            tenant.groups[group.id] = group
        for device in _devices(rng, tenant, users, self.now):
            tenant.devices[device.id] = device
        # last, with its own random stream: the rest of the tenant stays as it was
        _strip_names(random.Random(f"{self.seed}:{tenant.id}:nameless"), users)

    def _created(self, rng):
        return iso(self.now - timedelta(days=rng.randint(20, 2500), seconds=rng.randint(0, 86399)))

    def _sign_in(self, rng, tenant, enabled):
        if not tenant.has_p1:
            return None
        roll = rng.random()
        if roll < 0.04:
            return {"lastSignInDateTime": None, "lastNonInteractiveSignInDateTime": None}
        days = rng.randint(45, 400) if roll < 0.12 or not enabled else rng.randint(0, 20)
        last = self.now - timedelta(days=days, minutes=rng.randint(0, 1439))
        non_interactive = last + timedelta(minutes=rng.randint(0, 600))
        return {
            "lastSignInDateTime": iso(last),
            "lastNonInteractiveSignInDateTime": iso(non_interactive),
        }

    def _members(self, rng, tenant, offices):
        country_name, _, _, desk, mobile = COUNTRY[tenant.country]
        domain = tenant.domains[0]
        departments = list(DEPARTMENTS)
        seen = {}
        members = []
        for number in range(_members_count(tenant.n_users)):
            given, surname = (
                rng.choice(name_lists()["given_name"]),
                rng.choice(name_lists()["surname"]),
            )
            local = f"{given}.{surname}".lower().replace("'", "")
            seen[local] = seen.get(local, 0) + 1
            if seen[local] > 1:
                local = f"{local}{seen[local]}"
            department = (
                departments[number % len(departments)] if number < 9 else (rng.choice(departments))
            )
            city, street, postcode = offices[0] if number < 3 else rng.choice(offices)
            enabled = rng.random() > 0.05
            members.append(
                User(
                    id=_uuid(rng),
                    userPrincipalName=f"{local}@{domain}",
                    displayName=f"{given} {surname}",
                    givenName=given,
                    surname=surname,
                    mail=f"{local}@{domain}",
                    jobTitle=rng.choice(DEPARTMENTS[department]),
                    department=department,
                    officeLocation=city,
                    mobilePhone=f"{mobile}{rng.randint(0, 999):03d}"
                    if rng.random() < 0.7
                    else None,
                    businessPhones=[f"{desk}{rng.randint(0, 999):03d}"],
                    streetAddress=street,
                    city=city,
                    postalCode=postcode,
                    country=country_name,
                    companyName=tenant.company_name,
                    employeeId=f"E{10000 + number}",
                    accountEnabled=enabled,
                    createdDateTime=self._created(rng),
                    signInActivity=self._sign_in(rng, tenant, enabled),
                )
            )
        return members

    def _service_accounts(self, rng, tenant):
        accounts = []
        for number in range(_service_count(tenant.n_users)):
            name, display = SERVICE_ACCOUNTS[number % len(SERVICE_ACCOUNTS)]
            if number >= len(SERVICE_ACCOUNTS):
                name = f"{name}{number // len(SERVICE_ACCOUNTS) + 1}"
            upn = f"{name}@{tenant.domains[0]}"
            accounts.append(
                User(
                    id=_uuid(rng),
                    userPrincipalName=upn,
                    displayName=display,
                    mail=upn,
                    companyName=tenant.company_name,
                    createdDateTime=self._created(rng),
                    signInActivity=self._sign_in(rng, tenant, True),
                    is_service_account=True,
                )
            )
        return accounts

    def _guests(self, rng, tenant):
        guests = []
        for _ in range(_guest_count(tenant.n_users)):
            given, surname = (
                rng.choice(name_lists()["given_name"]),
                rng.choice(name_lists()["surname"]),
            )
            mail = f"{given}.{surname}".lower().replace("'", "") + f"@{rng.choice(GUEST_DOMAINS)}"
            guests.append(
                User(
                    id=_uuid(rng),
                    userPrincipalName=f"{mail.replace('@', '_')}#EXT#@{tenant.default_domain}",
                    displayName=f"{given} {surname}",
                    givenName=given,
                    surname=surname,
                    mail=mail,
                    userType="Guest",
                    createdDateTime=self._created(rng),
                    signInActivity=self._sign_in(rng, tenant, True),
                )
            )
        return guests

    def _assign_licences(self, rng, tenant, members):
        """Licences for members, never more than the tenant's subscriptions provide."""
        capacity = {}
        for subscription in tenant.subscriptions:
            if subscription.status not in ("deleted", "expired"):
                capacity[subscription.skuId] = (
                    capacity.get(subscription.skuId, 0) + subscription.quantity
                )
        skus = catalogue()
        suites = [skus[s] for s in capacity if skus[s].category.startswith("suite")]
        frontline = [skus[s] for s in capacity if skus[s].category == "frontline"]
        for user in members:
            wanted = frontline if user.department in FRONTLINE_DEPARTMENTS else []
            for sku in wanted + suites + frontline:
                if capacity[sku.sku_id] > 0:
                    capacity[sku.sku_id] -= 1
                    user.assignedLicenses.append({"skuId": sku.sku_id, "disabledPlans": []})
                    break
        for sku_id, left in capacity.items():
            category = skus[sku_id].category
            if category == "addon":
                wanted = min(len(members), round(left * rng.uniform(0.7, 1.0)))
            elif category == "free":
                wanted = min(left, round(len(members) * rng.uniform(0.2, 0.4)))
            else:
                continue
            for user in rng.sample(members, wanted):
                user.assignedLicenses.append({"skuId": sku_id, "disabledPlans": []})


def _nameless_count(n_users):
    return 0 if n_users < 10 else 3 + n_users // 400


def _strip_names(rng, users):
    """Entra ID has users without a display name or without mail (imported, synced
    from on-premises, created by scripts): a few members per tenant lose them. The
    first three members keep theirs."""
    members = [u for u in users if u.userType == "Member" and not u.is_service_account][3:]
    chosen = rng.sample(members, min(len(members), _nameless_count(len(users))))
    for index, user in enumerate(chosen):
        kind = index % 3
        if kind == 0:  # no display name, given name and surname still there
            user.displayName = None
        elif kind == 1:  # no mailbox
            user.mail = None
        else:  # nothing but the sign-in name
            user.displayName = user.givenName = user.surname = None


GROUP_EXTRAS = [
    ("Leadership Team", "Directors and heads of department", True),
    ("Project Phoenix", "Office move project team", True),
    ("VPN Users", "Allowed to connect to the VPN", False),
    ("Finance Approvers", "Approve purchase orders over the limit", False),
    ("Social Committee", "Events and charity days", True),
    ("MFA Exclusions", "Break-glass accounts excluded from MFA", False),
]


def _groups(rng, tenant, users, offices):
    members = [u for u in users if u.userType == "Member" and not u.is_service_account]
    skus = catalogue()
    licensed = {}
    for user in members:
        for licence in user.assignedLicenses:
            licensed.setdefault(licence["skuId"], []).append(user.id)
    admins = [u.id for u in members if u.department == "IT"]
    plans = [
        ("All Staff", "Everyone in the company", True, [u.id for u in members]),
        ("Device Admins", "Local administrators on managed devices", False, admins),
    ]
    for sku_id, ids in licensed.items():
        if skus[sku_id].category.startswith("suite") or skus[sku_id].category == "frontline":
            plans.append((f"Licensed - {skus[sku_id].sku_part_number}", None, False, ids))
    for department in DEPARTMENTS:
        ids = [u.id for u in members if u.department == department]
        if ids:
            plans.append((department, f"{department} department", False, ids))
    for city, _, _ in offices:
        ids = [u.id for u in members if u.officeLocation == city]
        plans.append((f"{city} Office", f"Staff based in {city}", False, ids))
    for name, description, unified in GROUP_EXTRAS:
        ids = [u.id for u in rng.sample(members, min(len(members), rng.randint(2, 12)))]
        plans.append((name, description, unified, ids))
    number = 1
    while len(plans) < tenant.n_groups:
        ids = [u.id for u in rng.sample(members, min(len(members), rng.randint(2, 8)))]
        plans.append((f"Team {number:02d}", None, True, ids))
        number += 1
    groups = []
    for name, description, unified, ids in plans[: tenant.n_groups]:
        groups.append(
            Group(
                id=_uuid(rng),
                displayName=name,
                description=description,
                mailEnabled=unified,
                securityEnabled=not unified,
                groupTypes=["Unified"] if unified else [],
                members=ids,
            )
        )
    return groups


DEVICE_MODELS = {
    "Windows": [
        ("Dell Inc.", "Latitude 5440"),
        ("LENOVO", "ThinkPad T14 Gen 4"),
        ("HP", "EliteBook 840 G10"),
        ("Microsoft Corporation", "Surface Laptop 5"),
    ],
    "macOS": [("Apple", "MacBook Air (M2, 2022)"), ("Apple", "MacBook Pro (14-inch, 2023)")],
    "iOS": [
        ("Apple", "iPhone 14"),
        ("Apple", "iPhone 15 Pro"),
        ("Apple", "iPad (10th generation)"),
    ],
    "Android": [("samsung", "SM-S911B"), ("Google", "Pixel 7"), ("samsung", "SM-A546B")],
}
OS_VERSIONS = {
    "Windows": ["10.0.22631.4317", "10.0.22621.3880", "10.0.19045.4780", "10.0.26100.2033"],
    "macOS": ["14.6.1", "15.0.1", "13.6.9"],
    "iOS": ["17.6.1", "18.0.1", "17.5.1"],
    "Android": ["14", "13", "15"],
}
OS_WEIGHTS = (["Windows"] * 11) + (["macOS"] * 2) + (["iOS"] * 4) + (["Android"] * 3)
SERIAL_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def _device_agent(rng, system):
    roll = rng.random()
    if system == "Windows":
        if roll < 0.15:
            return "msSense"
        return "configurationManagerClientMdm" if roll < 0.3 else "mdm"
    return "easMdm" if system != "macOS" and roll < 0.05 else "mdm"


def _devices(rng, tenant, users, now):
    owners = [u for u in users if u.userType == "Member" and not u.is_service_account]
    prefix = "".join(word[0] for word in tenant.company_name.split() if word[0].isalpha())[:3]
    devices = []
    for number in range(tenant.n_devices):
        system = rng.choice(OS_WEIGHTS)
        manufacturer, model = rng.choice(DEVICE_MODELS[system])
        owner = rng.choice(owners) if owners and rng.random() > 0.1 else None
        agent = _device_agent(rng, system)
        serial = "".join(
            rng.choice(SERIAL_CHARS) for _ in range(10 if manufacturer == "Apple" else 8)
        )
        if system in ("Windows", "macOS"):
            name = f"{prefix.upper()}-{'LT' if system == 'Windows' else 'MAC'}-{number + 1:04d}"
        else:
            name = f"{owner.givenName if owner else 'Shared'}'s {model.split(' (')[0]}"
        stale = rng.random() < 0.08
        synced = now - timedelta(
            days=rng.randint(40, 120) if stale else 0, hours=rng.randint(0, 47)
        )
        devices.append(
            Device(
                id=_uuid(rng),
                deviceName=name,
                serialNumber=serial,
                userPrincipalName=owner.userPrincipalName if owner else None,
                userId=owner.id if owner else None,
                azureADDeviceId=_uuid(rng),
                operatingSystem=system,
                osVersion=rng.choice(OS_VERSIONS[system]),
                model=model,
                manufacturer=manufacturer,
                complianceState=rng.choice(["compliant"] * 8 + ["noncompliant", "unknown"]),
                lastSyncDateTime=iso(synced),
                enrolledDateTime=iso(synced - timedelta(days=rng.randint(30, 900))),
                managedDeviceOwnerType=(
                    "personal" if system in ("iOS", "Android") and rng.random() < 0.3 else "company"
                ),
                managementAgent=agent,
                emailAddress=owner.mail if owner else None,
            )
        )
    return devices
