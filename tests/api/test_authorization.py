"""Authentication, object-level and function-level authorisation, mass assignment — checked
over every route the app has, so a new route that escapes a guarantee fails here."""

from __future__ import annotations

import collections
import uuid
from typing import Any

import pytest
from httpx import AsyncClient

from prorata.config import Settings
from prorata.http import policy
from prorata.http.tenancy import Role
from prorata.orgs.service import NewOrg
from tests.conftest import settings_with
from tests.fund_support import FundApi
from tests.support import bearer


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests call every route several times in a minute: the rate limit is not what they
    are about (its headers still are, and it is tested in test_limits)."""
    return settings_with(settings, rate_limit_api="100000/minute")


# The only routes that answer without authentication (besides /openapi.json and /docs).
PUBLIC = {("GET", "/api/v1/system/health"), ("GET", "/api/v1/system/ready")}
MUTATING = {"post", "put", "patch", "delete"}


async def _operations(client: AsyncClient) -> list[tuple[str, str, dict[str, Any]]]:
    spec = (await client.get("/api/v1/openapi.json")).json()
    return [
        (method.upper(), path, operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    ]


def _params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


async def test_every_route_but_the_allowlist_requires_authentication(client: AsyncClient) -> None:
    operations = await _operations(client)
    assert len(operations) >= 10
    for method, path, _ in operations:
        concrete = path.format(**{name: uuid.uuid4() for name in _params(path)})
        for prefix_path in (concrete, concrete.replace("/api/v1/", "/api/", 1)):
            response = await client.request(method, prefix_path)
            if (method, path) in PUBLIC:
                assert response.status_code in {200, 503}, (method, prefix_path)
            else:
                assert response.status_code == 401, (method, prefix_path)
                assert response.headers["content-type"] == "application/problem+json"


async def test_a_malformed_body_does_not_skip_the_guard(
    client: AsyncClient, role_keys: dict[Role, str]
) -> None:
    """FastAPI parses a JSON body before any dependency: a body that does not parse must still
    meet authentication (401), the role check (403) and the rate limit (RateLimit fields)."""
    malformed = b'{"name": '
    json_type = {"content-type": "application/json"}
    checked = 0
    for method, path, operation in await _operations(client):
        if "application/json" not in operation.get("requestBody", {}).get("content", {}):
            continue
        concrete = path.format(**{name: uuid.uuid4() for name in _params(path)})
        anonymous = await client.request(method, concrete, content=malformed, headers=json_type)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        assert anonymous.headers["content-type"] == "application/problem+json"
        route_policy = policy.ROUTES[(method, path.removeprefix("/api/v1"))]
        for role, api_key in role_keys.items():
            response = await client.request(
                method,
                concrete,
                content=malformed,
                headers={**json_type, **bearer(api_key)},
            )
            expected = 422 if route_policy.allows(role) else 403
            assert response.status_code == expected, (role, method, path, response.text)
            assert "ratelimit" in response.headers, (role, method, path)
        checked += 1
    assert checked >= 10


async def test_the_policy_table_covers_exactly_the_routes(client: AsyncClient) -> None:
    declared = {(m, p.removeprefix("/api/v1")) for m, p, _ in await _operations(client)}
    assert declared == set(policy.ROUTES)


async def _a_user(client: AsyncClient, org: NewOrg) -> str:
    response = await client.post(
        "/api/v1/users",
        json={"email": f"u{uuid.uuid4().hex[:6]}@a.example", "role": "viewer"},
        headers=bearer(org.api_key),
    )
    assert response.status_code == 201
    return str(response.json()["id"])


async def _objects_of(client: AsyncClient, org: NewOrg) -> dict[str, str]:
    """One object of every kind a path parameter can name, all in `org`, consistent with
    each other (the deal and the call belong to the fund the investor committed to)."""
    api = FundApi(client, org.api_key)
    fund_id = await api.fund()
    [investor_id] = await api.investors_with(fund_id, ["1000.00"])
    deal_id = await api.deal(fund_id)
    await api.request(
        "PUT",
        f"/funds/{fund_id}/deals/{deal_id}/allocations/{investor_id}",
        json={"amount": "5.00"},
    )
    webhook = await api.request("POST", "/webhooks", json=BODIES[WEBHOOKS], expect=201)
    issued = await api.call_and_issue(fund_id, [{"purpose": "fund_expenses", "amount": "20.00"}])
    paid = await api.pay(fund_id, issued["id"], investor_id, "1.00")
    [delivery] = (await api.request("GET", f"/webhooks/{webhook['id']}/deliveries"))["items"]
    distribution = await api.distribute(fund_id, "5.00", "2026-06-30")
    realisation = await api.request(
        "POST",
        f"/funds/{fund_id}/deals/{deal_id}/realisations",
        json={"date": "2026-06-30", "proceeds": "0.00", "cost_realised": "0.00"},
        money=True,
        expect=201,
    )
    call = await api.draft(fund_id, [{"purpose": "management_fee", "amount": "10.00"}])
    key = await api.request("POST", "/api-keys", json={"name": "k"}, expect=201)
    imported = await api.request(
        "POST", f"/funds/{fund_id}/imports", expect=202, **_upload(f"{uuid.uuid4()}@a.example")
    )
    report = await api.request(
        "POST", f"/funds/{fund_id}/reports", json=BODIES[REPORTS], expect=202
    )
    invitation = await api.request(
        "POST",
        "/invitations",
        json={"email": f"{uuid.uuid4()}@a.example", "role": "viewer"},
        expect=201,
    )
    contact = await api.request(
        "POST",
        f"/investors/{investor_id}/contacts",
        json={"name": "Treasury", "email": f"{uuid.uuid4()}@a.example"},
        expect=201,
    )
    await api.request("PUT", f"/investors/{investor_id}/bank-account", json=BODIES[BANK])
    [bank_change] = await api.request("GET", f"/investors/{investor_id}/bank-account/changes")
    later = await api.investor("Later closer")
    await api.request(
        "POST",
        f"/funds/{fund_id}/commitments",
        json={"investor_id": later, "amount": "1000.00", "committed_on": "2026-01-05"},
        expect=201,
    )
    closing = await api.request(
        "POST", f"/funds/{fund_id}/closings", json=BODIES[CLOSINGS], expect=201
    )
    mapping = await api.request("POST", "/import-mappings", json=BODIES[MAPPINGS], expect=201)
    income = await api.request(
        "POST", f"/funds/{fund_id}/fee-income", json=BODIES[FEE_INCOME], expect=201, money=True
    )
    fee_call = await api.request(
        "POST",
        f"/funds/{fund_id}/management-fees/calls",
        json=BODIES[FEE_CALLS],
        expect=201,
        money=True,
    )
    return {
        "record_id": str(income["id"]),
        "fee_call_id": str(fee_call["id"]),
        "closing_id": str(closing["id"]),
        "mapping_id": str(mapping["id"]),
        "change_id": str(bank_change["id"]),
        "contact_id": str(contact["id"]),
        "invitation_id": str(invitation["id"]),
        "user_id": await _a_user(client, org),
        "key_id": str(key["id"]),
        "fund_id": fund_id,
        "investor_id": investor_id,
        "deal_id": deal_id,
        "call_id": str(call["id"]),
        "distribution_id": str(distribution["id"]),
        "realisation_id": str(realisation["id"]),
        "import_id": str(imported["id"]),
        "job_id": str(report["id"]),
        "document_id": str(report["document_id"]),
        "webhook_id": str(webhook["id"]),
        "delivery_id": str(delivery["id"]),
        "payment_id": str(paid["payment"]["id"]),
    }


def _upload(email: str) -> dict[str, Any]:
    """A valid upload (a one-investor CSV), as request arguments."""
    rows = f"name,email,kind,country\nIntruder,{email},entity,US\n".encode()
    return {"params": {"kind": "investors"}, "files": {"file": ("rows.csv", rows, "text/csv")}}


REPORTS = ("POST", "/api/v1/funds/{fund_id}/reports")
WEBHOOKS = ("POST", "/api/v1/webhooks")
BANK = ("PUT", "/api/v1/investors/{investor_id}/bank-account")
CLOSINGS = ("POST", "/api/v1/funds/{fund_id}/closings")
MAPPINGS = ("POST", "/api/v1/import-mappings")
FEE_INCOME = ("POST", "/api/v1/funds/{fund_id}/fee-income")
FEE_CALLS = ("POST", "/api/v1/funds/{fund_id}/management-fees/calls")
CANCELLED = {"reason": "recorded by mistake"}

# A valid body per route with one, so a refusal comes from the lookup, not from validation.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    REPORTS: {"kind": "allocations", "as_of": "2026-06-30"},
    CLOSINGS: {"closing_date": "2026-01-30"},
    MAPPINGS: {"kind": "investors", "name": "CRM export", "columns": {"Investor Name": "name"}},
    ("PUT", "/api/v1/import-mappings/{mapping_id}"): {
        "kind": "investors",
        "name": "Renamed",
        "columns": {"Full name": "name"},
    },
    WEBHOOKS: {"url": "https://hooks.example.com/prorata", "events": ["call.issued"]},
    BANK: {
        "bank_name": "Intruder Bank",
        "account_name": "Intruder",
        "account_number": "DE89370400440532013000",
    },
    ("PATCH", "/api/v1/users/{user_id}"): {"name": "Renamed"},
    ("POST", "/api/v1/users/{user_id}/api-keys"): {"name": "service"},
    ("POST", "/api/v1/funds/{fund_id}/capital-calls/{call_id}/notices/schedule"): {
        "send_at": "2027-01-04T09:00:00Z"
    },
    ("POST", "/api/v1/funds/{fund_id}/distributions/{distribution_id}/notices/schedule"): {
        "send_at": "2027-01-04T09:00:00Z"
    },
    ("PATCH", "/api/v1/org"): {"name": "Renamed"},
    ("POST", "/api/v1/invitations"): {"email": "invitee@b.example", "role": "viewer"},
    ("PATCH", "/api/v1/funds/{fund_id}"): {"name": "Renamed"},
    ("POST", "/api/v1/funds/{fund_id}/commitments"): {
        "investor_id": "{investor_id}",
        "amount": "1.00",
        "committed_on": "2026-01-02",
    },
    ("PATCH", "/api/v1/funds/{fund_id}/commitments/{investor_id}"): {"carry_share": "0.10"},
    ("PATCH", "/api/v1/investors/{investor_id}"): {"name": "Renamed"},
    ("POST", "/api/v1/investors/{investor_id}/contacts"): {
        "name": "Intruder",
        "email": "intruder@b.example",
    },
    ("PATCH", "/api/v1/investors/{investor_id}/contacts/{contact_id}"): {"name": "Renamed"},
    ("POST", "/api/v1/funds/{fund_id}/deals"): {"name": "Intruder"},
    ("PATCH", "/api/v1/funds/{fund_id}/deals/{deal_id}"): {"name": "Renamed"},
    ("PUT", "/api/v1/funds/{fund_id}/deals/{deal_id}/allocations/{investor_id}"): {
        "amount": "9.00"
    },
    ("POST", "/api/v1/funds/{fund_id}/deals/{deal_id}/allocations/prorata"): {"amount": "9.00"},
    ("POST", "/api/v1/funds/{fund_id}/deals/{deal_id}/realisations"): {
        "date": "2026-07-01",
        "proceeds": "0.00",
        "cost_realised": "0.00",
    },
    ("POST", "/api/v1/funds/{fund_id}/capital-calls"): {
        "notice_date": "2026-03-02",
        "items": [{"purpose": "management_fee", "amount": "1.00"}],
    },
    ("POST", "/api/v1/funds/{fund_id}/valuations"): {"as_of": "2026-06-30", "nav": "1.00"},
    FEE_INCOME: {"date": "2026-02-15", "kind": "transaction", "amount": "1.00"},
    ("POST", "/api/v1/funds/{fund_id}/fee-income/{record_id}/cancel"): CANCELLED,
    ("POST", "/api/v1/funds/{fund_id}/fee-waivers/{record_id}/cancel"): CANCELLED,
    FEE_CALLS: {
        "period_start": "2026-04-01",
        "period_end": "2026-06-30",
        "notice_date": "2026-06-30",
    },
    ("POST", "/api/v1/funds/{fund_id}/management-fees/calls/{fee_call_id}/cancel"): CANCELLED,
    ("POST", "/api/v1/funds/{fund_id}/fee-waivers"): {
        "period_start": "2026-01-01",
        "period_end": "2026-03-31",
        "amount": "1.00",
    },
    ("POST", "/api/v1/funds/{fund_id}/distributions"): {
        "date": "2026-07-01",
        "amount": "1.00",
        "kind": "gain",
    },
    ("POST", "/api/v1/funds/{fund_id}/capital-calls/{call_id}/payments"): {
        "investor_id": "{investor_id}",
        "amount": "1.00",
        "received_on": "2026-03-20",
    },
    (
        "POST",
        "/api/v1/funds/{fund_id}/capital-calls/{call_id}/payments/{payment_id}/reverse",
    ): {"reversed_on": "2026-03-25", "reason": "bounced"},
    ("POST", "/api/v1/funds/{fund_id}/capital-calls/{call_id}/close"): {"closed_on": "2026-04-30"},
    ("POST", "/api/v1/funds/{fund_id}/capital-calls/{call_id}/lines/{investor_id}/default"): {
        "declared_on": "2026-04-30"
    },
    ("POST", "/api/v1/funds/{fund_id}/capital-calls/{call_id}/shortfall"): {
        "notice_date": "2026-06-01"
    },
    ("POST", "/api/v1/funds/{fund_id}/clawback"): {"as_of": "2026-12-31"},
    ("POST", "/api/v1/funds/{fund_id}/clawback/repayments"): {
        "date": "2026-12-31",
        "amount": "10.00",
    },
    ("POST", "/api/v1/funds/{fund_id}/escrow/releases"): {"date": "2026-12-31"},
    ("POST", "/api/v1/funds/{fund_id}/investors/{investor_id}/credit/refund"): {
        "amount": "1.00",
        "refunded_on": "2026-04-01",
    },
}


# Required query parameters, so a refusal comes from the lookup, not from validation.
QUERIES: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/funds/{fund_id}/management-fees"): "?from=2026-01-01&to=2026-03-31",
}


# Routes whose body is a file upload rather than JSON.
UPLOADS = {("POST", "/api/v1/funds/{fund_id}/imports")}


def _body(method: str, path: str, ids: dict[str, str]) -> dict[str, Any]:
    """The request arguments of a valid call: a JSON body, a file upload, or nothing."""
    if (method, path) in UPLOADS:
        return _upload("intruder@b.example")
    body = BODIES.get((method, path))
    if body is None:
        return {}
    return {"json": {k: v.format_map(ids) if isinstance(v, str) else v for k, v in body.items()}}


READABLE = [
    "/users?limit=500",
    "/api-keys?limit=500",
    "/funds?limit=500",
    "/investors?limit=500",
    "/allocations?limit=500",
    "/documents?limit=500",
    "/webhooks?limit=500",
]


async def _snapshot(client: AsyncClient, org: NewOrg, ids: dict[str, str]) -> list[Any]:
    fund = ids["fund_id"]
    paths = [
        *READABLE,
        f"/funds/{fund}/commitments",
        f"/funds/{fund}/deals",
        f"/funds/{fund}/capital-calls/{ids['call_id']}",
        f"/imports/{ids['import_id']}",
    ]
    return [
        (await client.get(f"/api/v1{path}", headers=bearer(org.api_key))).json() for path in paths
    ]


async def test_another_orgs_object_ids_are_404_on_every_route_and_verb(
    client: AsyncClient, org: NewOrg, other_org: NewOrg
) -> None:
    """OWASP API1: generated from the OpenAPI document."""
    ids = await _objects_of(client, org)
    await _objects_of(client, other_org)  # org B has objects of its own: ids still must not mix
    before = await _snapshot(client, org, ids)
    checked = 0
    for method, path, _ in await _operations(client):
        names = _params(path)
        if not names:
            continue
        missing = [name for name in names if name not in ids]
        assert not missing, f"{method} {path}: add {missing} to _objects_of in this test"
        response = await client.request(
            method,
            path.format(**ids) + QUERIES.get((method, path), ""),
            **_body(method, path, ids),
            headers={**bearer(other_org.api_key), "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 404, f"{method} {path} as org B: {response.text}"
        assert response.headers["content-type"] == "application/problem+json"
        assert await _snapshot(client, org, ids) == before, f"{method} {path} changed org A"
        checked += 1
    assert checked >= 20


async def test_every_role_below_a_routes_least_role_gets_403(
    client: AsyncClient, role_keys: dict[Role, str], org: NewOrg
) -> None:
    """OWASP API5: walks the policy table, role × route."""
    ids = collections.defaultdict(lambda: str(uuid.uuid4()), user_id=await _a_user(client, org))
    checked = 0
    for (method, path), route_policy in policy.ROUTES.items():
        if route_policy.public:
            continue
        concrete = path.format_map(ids)
        for role, api_key in role_keys.items():
            if route_policy.allows(role):
                continue
            response = await client.request(
                method,
                f"/api/v1{concrete}",
                **_body(method, f"/api/v1{path}", ids),
                headers=bearer(api_key),
            )
            assert response.status_code == 403, f"{role} on {method} {path}"
            checked += 1
    assert checked >= 10


async def test_roles_at_or_above_the_least_role_pass_the_guard(
    client: AsyncClient, role_keys: dict[Role, str]
) -> None:
    for role, api_key in role_keys.items():
        expected = 200 if policy.ROUTES[("GET", "/users")].allows(role) else 403
        assert (await client.get("/api/v1/users", headers=bearer(api_key))).status_code == expected
        assert (await client.get("/api/v1/me", headers=bearer(api_key))).json()["role"] == role


async def test_request_models_forbid_unknown_and_server_owned_fields(client: AsyncClient) -> None:
    """OWASP API3: every request body refuses fields it does not declare, and none declares
    a field the server owns."""
    spec = (await client.get("/api/v1/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    server_owned = {"id", "org_id", "created_at", "revoked_at", "api_key", "prefix", "key_hash"}
    bodies = 0
    for method, path, operation in await _operations(client):
        content = operation.get("requestBody", {}).get("content", {})
        for media in content.values():
            # JSON bodies are models ($ref); a file upload's form is described inline.
            ref = media["schema"].get("$ref")
            schema = schemas[ref.rsplit("/", 1)[-1]] if ref else media["schema"]
            if schema == {"type": "string", "format": "binary"}:
                continue  # a raw file as the body (the logo): no fields to assign
            name = ref or f"{method} {path} form"
            assert schema.get("additionalProperties") is False, f"{method} {path}: {name}"
            assert not server_owned & set(schema.get("properties", {})), f"{name}"
            bodies += 1
    assert bodies >= 3


@pytest.mark.parametrize("field", ["org_id", "id", "created_at", "unexpected"])
async def test_mass_assignment_is_refused(client: AsyncClient, org: NewOrg, field: str) -> None:
    body = {"email": "mass@a.example", "role": "viewer", field: str(uuid.uuid4())}
    response = await client.post("/api/v1/users", json=body, headers=bearer(org.api_key))
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][-1] == field


async def test_nobody_grants_a_role_above_their_own(
    client: AsyncClient, role_keys: dict[Role, str], org: NewOrg
) -> None:
    admin = bearer(role_keys[Role.admin])
    response = await client.post(
        "/api/v1/users", json={"email": "boss@a.example", "role": "owner"}, headers=admin
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "an admin cannot grant the role owner"
    me = (await client.get("/api/v1/me", headers=bearer(org.api_key))).json()
    demote_owner = await client.patch(
        f"/api/v1/users/{me['user']['id']}", json={"role": "viewer"}, headers=admin
    )
    assert demote_owner.status_code == 403
    assert demote_owner.json()["detail"] == "an admin cannot change an owner"


async def test_an_admin_revokes_keys_of_members_it_manages_but_not_an_owners(
    client: AsyncClient, role_keys: dict[Role, str]
) -> None:
    async def new_key(role: Role) -> str:
        created = await client.post(
            "/api/v1/api-keys", json={"name": f"{role}"}, headers=bearer(role_keys[role])
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    admin = bearer(role_keys[Role.admin])
    owners = await new_key(Role.owner)
    refused = await client.delete(f"/api/v1/api-keys/{owners}", headers=admin)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    managers = await new_key(Role.manager)
    assert (await client.delete(f"/api/v1/api-keys/{managers}", headers=admin)).status_code == 204
    # The owner revokes anyone's, a manager only its own.
    admins = await new_key(Role.admin)
    manager = bearer(role_keys[Role.manager])
    assert (await client.delete(f"/api/v1/api-keys/{admins}", headers=manager)).status_code == 404
    owner = bearer(role_keys[Role.owner])
    assert (await client.delete(f"/api/v1/api-keys/{admins}", headers=owner)).status_code == 204
    assert (await client.delete(f"/api/v1/api-keys/{owners}", headers=owner)).status_code == 204


async def test_the_last_owner_cannot_be_removed(client: AsyncClient, org: NewOrg) -> None:
    response = await client.delete(f"/api/v1/users/{org.user_id}", headers=bearer(org.api_key))
    assert response.status_code == 409
    assert (await client.get("/api/v1/me", headers=bearer(org.api_key))).status_code == 200


async def test_a_revoked_key_no_longer_authenticates(client: AsyncClient, org: NewOrg) -> None:
    created = await client.post(
        "/api/v1/api-keys", json={"name": "temp"}, headers=bearer(org.api_key)
    )
    new_key = created.json()["api_key"]
    assert (await client.get("/api/v1/me", headers=bearer(new_key))).status_code == 200
    revoked = await client.delete(
        f"/api/v1/api-keys/{created.json()['id']}", headers=bearer(org.api_key)
    )
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/me", headers=bearer(new_key))).status_code == 401
    listed = (await client.get("/api/v1/api-keys", headers=bearer(org.api_key))).json()
    assert "api_key" not in listed["items"][0]
    assert MUTATING


async def test_patch_user_clears_a_nullable_name_and_refuses_a_null_role(
    client: AsyncClient, org: NewOrg
) -> None:
    owner = bearer(org.api_key)
    created = await client.post(
        "/api/v1/users",
        json={"email": "named@a.example", "name": "Bob", "role": "viewer"},
        headers=owner,
    )
    path = f"/api/v1/users/{created.json()['id']}"
    cleared = await client.patch(path, json={"name": None}, headers=owner)
    assert (cleared.status_code, cleared.json()["name"]) == (200, None)
    refused = await client.patch(path, json={"role": None}, headers=owner)
    assert refused.status_code == 422
    assert refused.json()["type"] == "urn:prorata:problem:rule-violation"
    assert (await client.get(path, headers=owner)).json()["role"] == "viewer"


async def test_a_deleted_users_key_no_longer_authenticates(
    client: AsyncClient, role_keys: dict[Role, str]
) -> None:
    viewer = bearer(role_keys[Role.viewer])
    me = (await client.get("/api/v1/me", headers=viewer)).json()
    owner = bearer(role_keys[Role.owner])
    deleted = await client.delete(f"/api/v1/users/{me['user']['id']}", headers=owner)
    assert deleted.status_code == 204
    refused = await client.get("/api/v1/funds", headers=viewer)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
