"""Routes of the identity domain: the caller, the organisation's users, API keys."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.http import problems
from prorata.http.auth import CurrentPrincipal, TenantSession
from prorata.http.pagination import Page, PageQuery, render
from prorata.http.routing import ApiRoute
from prorata.orgs import logo as org_logo
from prorata.orgs import repository as org_repository
from prorata.orgs import service as org_service
from prorata.orgs.models import ApiKey, Membership, Org, User
from prorata.orgs.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    MemberOut,
    MeOut,
    OrgOut,
    OrgSettings,
    OrgUpdate,
    UserCreate,
    UserOut,
    UserUpdate,
)
from prorata.platform import errors, storage

router = APIRouter(route_class=ApiRoute, tags=["identity"])


async def _members(session: AsyncSession, found: list[tuple[User, Membership]]) -> list[MemberOut]:
    links = await org_repository.investor_links(session, user_ids=[user.id for user, _ in found])
    return [
        MemberOut(
            id=user.id,
            email=user.email,
            name=user.name,
            role=membership.role,
            investor_id=membership.investor_id,
            investor_ids=links[user.id],
            created_at=user.created_at,
        )
        for user, membership in found
    ]


async def _member(session: AsyncSession, user: User, membership: Membership) -> MemberOut:
    return (await _members(session, [(user, membership)]))[0]


def _created(key: ApiKey, plaintext: str) -> ApiKeyCreated:
    return ApiKeyCreated(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        api_key=plaintext,
    )


@router.get("/me", summary="The caller: user, organisation and role")
async def me(principal: CurrentPrincipal, session: TenantSession) -> MeOut:
    user = await org_repository.get_user(session, user_id=principal.user_id)
    org = await org_repository.get_org(session, org_id=principal.org_id)
    if user is None or org is None:  # deleted between authentication and now
        raise errors.Unauthorized("the API key's user no longer exists")
    return MeOut(
        user=UserOut(id=user.id, email=user.email, name=user.name),
        org=OrgOut(id=org.id, name=org.name),
        role=principal.role,
        investor_id=principal.investor_id,
        investor_ids=sorted(principal.investor_ids),
    )


@router.get("/users", summary="Users of the organisation")
async def list_users(session: TenantSession, page: PageQuery) -> Page[MemberOut]:
    users = await org_repository.list_users(session, params=page)
    members = await org_repository.memberships_of(session, user_ids=[u.id for u in users.items])
    return Page[MemberOut](
        items=await _members(session, [(u, members[u.id]) for u in users.items]),
        next_cursor=users.next_cursor,
    )


@router.post("/users", status_code=status.HTTP_201_CREATED, summary="Add a user with a role")
async def create_user(
    body: UserCreate, principal: CurrentPrincipal, session: TenantSession
) -> MemberOut:
    user, membership = await org_service.add_user(
        session,
        actor=principal,
        email=body.email,
        name=body.name,
        role=body.role,
        investor_id=body.investor_id,
        investor_ids=body.investor_ids,
    )
    return await _member(session, user, membership)


@router.get("/users/{user_id}", summary="One user")
async def get_user(user_id: uuid.UUID, session: TenantSession) -> MemberOut:
    found = await org_repository.get_member(session, user_id=user_id)
    if found is None:
        raise errors.NotFound("no such user")
    return await _member(session, *found)


@router.patch("/users/{user_id}", summary="Rename a user or change its role")
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, principal: CurrentPrincipal, session: TenantSession
) -> MemberOut:
    user, membership = await org_service.update_user(
        session, actor=principal, user_id=user_id, changes=body.model_dump(exclude_unset=True)
    )
    return await _member(session, user, membership)


@router.delete(
    "/users/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a user and its API keys",
)
async def delete_user(
    user_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession
) -> Response:
    await org_service.remove_user(session, actor=principal, user_id=user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/api-keys", summary="The caller's API keys (never the keys themselves)")
async def list_api_keys(
    principal: CurrentPrincipal, session: TenantSession, page: PageQuery
) -> Page[ApiKeyOut]:
    keys = await org_repository.list_keys(session, user_id=principal.user_id, params=page)
    return render(keys, ApiKeyOut)


@router.post(
    "/api-keys", status_code=status.HTTP_201_CREATED, summary="Create an API key for the caller"
)
async def create_api_key(
    body: ApiKeyCreate, principal: CurrentPrincipal, session: TenantSession
) -> ApiKeyCreated:
    key, plaintext = await org_service.issue_api_key(
        session, org_id=principal.org_id, user_id=principal.user_id, name=body.name
    )
    return _created(key, plaintext)


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key",
)
async def revoke_api_key(
    key_id: uuid.UUID, principal: CurrentPrincipal, session: TenantSession
) -> Response:
    await org_service.revoke_api_key(session, actor=principal, key_id=key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/users/{user_id}/api-keys",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key for a member (a service user): never above your own role",
)
async def create_member_api_key(
    user_id: uuid.UUID, body: ApiKeyCreate, principal: CurrentPrincipal, session: TenantSession
) -> ApiKeyCreated:
    key, plaintext = await org_service.issue_api_key_for(
        session, actor=principal, user_id=user_id, name=body.name
    )
    return _created(key, plaintext)


LOGO_PATH = "/api/v1/org/logo"


def org_settings(org: Org) -> OrgSettings:
    return OrgSettings.model_validate(
        {
            **{f: getattr(org, f) for f in OrgSettings.model_fields if f != "logo_url"},
            "logo_url": LOGO_PATH if org.logo_blob_id else None,
        }
    )


@router.get("/org", summary="The organisation and its settings")
async def get_org(principal: CurrentPrincipal, session: TenantSession) -> OrgSettings:
    org = await org_repository.get_org(session, org_id=principal.org_id)
    if org is None:
        raise errors.NotFound("no such organisation")
    return org_settings(org)


_IMAGE = {"schema": {"type": "string", "format": "binary"}}


@router.put(
    "/org/logo",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set the organisation's logo (a PNG or JPEG as the body, at most 256 KB)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"image/png": _IMAGE, "image/jpeg": _IMAGE},
        }
    },
)
async def put_logo(request: Request, principal: CurrentPrincipal, session: TenantSession) -> None:
    store: storage.BlobStore = request.app.state.blobs
    await org_logo.replace(session, store, actor=principal, data=await request.body())


@router.get(
    "/org/logo",
    summary="The organisation's logo",
    response_class=Response,
    # 404 is documented though the path names no object: an organisation may have no logo.
    responses={
        200: {"content": {"image/png": _IMAGE, "image/jpeg": _IMAGE}},
        **problems.documented(404),
    },
)
async def get_logo(
    request: Request, principal: CurrentPrincipal, session: TenantSession
) -> Response:
    blob = await org_logo.current(session, org_id=principal.org_id)
    if blob is None:
        raise errors.NotFound("the organisation has no logo")
    if request.headers.get("if-none-match") == f'"{blob.sha256}"':
        return Response(status_code=304, headers={"ETag": f'"{blob.sha256}"'})
    store: storage.BlobStore = request.app.state.blobs
    return Response(
        await store.read(blob.key),
        media_type=blob.content_type,
        headers={"ETag": f'"{blob.sha256}"', "Cache-Control": "private, no-cache"},
    )


@router.delete(
    "/org/logo", status_code=status.HTTP_204_NO_CONTENT, summary="Remove the organisation's logo"
)
async def delete_logo(principal: CurrentPrincipal, session: TenantSession) -> None:
    await org_logo.remove(session, actor=principal)


@router.patch("/org", summary="Rename the organisation or require two-factor authentication")
async def update_org(
    body: OrgUpdate, principal: CurrentPrincipal, session: TenantSession
) -> OrgSettings:
    org = await org_service.update_org(
        session, actor=principal, changes=body.model_dump(exclude_unset=True)
    )
    return org_settings(org)
