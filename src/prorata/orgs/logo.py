"""The organisation's logo: a small PNG or JPEG printed on its documents and shown in the
console. Checked by decoding it (Pillow), never by its name or declared type: a file that does
not decode, or decodes as anything else, is refused with the reason in words.
"""

from __future__ import annotations

import io
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from prorata.http.tenancy import Principal
from prorata.orgs import repository as org_repository
from prorata.orgs.models import Org
from prorata.platform import audit, errors, storage

MAX_BYTES = 256 * 1024
MAX_SIDE = 2000  # pixels: enough for print at 300 dpi across a letterhead
MIN_SIDE = 16
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}


def checked(data: bytes) -> str:
    """The media type of `data` if it is a logo we take; otherwise the reason, as a 422."""
    from PIL import Image  # loaded when a logo is uploaded, not by every web process

    if not data:
        raise errors.RuleViolation("the logo is empty: send a PNG or JPEG file")
    if len(data) > MAX_BYTES:
        raise errors.RuleViolation(f"the logo is larger than {MAX_BYTES // 1024} KB")
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind, (width, height) = image.format, image.size
            image.verify()
    except Exception as exc:  # Pillow raises many kinds for a file it cannot read
        raise errors.RuleViolation("the logo is not a PNG or JPEG image that can be read") from exc
    if kind not in MEDIA_TYPES:
        raise errors.RuleViolation(f"the logo is a {kind} image: send a PNG or JPEG")
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise errors.RuleViolation(
            f"the logo is {width}×{height} pixels: each side must be {MIN_SIDE} to {MAX_SIDE}"
        )
    return MEDIA_TYPES[kind]


async def _org(session: AsyncSession, org_id: uuid.UUID) -> Org:
    org = await org_repository.get_org(session, org_id=org_id)
    if org is None:
        raise errors.NotFound("no such organisation")
    return org


async def replace(
    session: AsyncSession, store: storage.BlobStore, *, actor: Principal, data: bytes
) -> storage.Blob:
    """Store `data` as the organisation's logo; the old one's file stays, named by the audit log."""
    media_type = checked(data)
    org = await _org(session, actor.org_id)
    blob = await storage.save(
        session,
        store,
        org_id=org.id,
        purpose="logo",
        source=data,
        content_type=media_type,
        suffix=".png" if media_type == "image/png" else ".jpg",
    )
    before = {"logo_blob_id": str(org.logo_blob_id) if org.logo_blob_id else None}
    org.logo_blob_id = blob.id
    await session.flush()
    await audit.record(
        session,
        org_id=org.id,
        actor_user_id=actor.user_id,
        action="org.logo",
        entity="org",
        entity_id=org.id,
        before=before,
        after={"logo_blob_id": str(blob.id), "sha256": blob.sha256, "size": blob.size},
    )
    return blob


async def remove(session: AsyncSession, *, actor: Principal) -> None:
    org = await _org(session, actor.org_id)
    if org.logo_blob_id is None:
        return
    before = {"logo_blob_id": str(org.logo_blob_id)}
    org.logo_blob_id = None
    await session.flush()
    await audit.record(
        session,
        org_id=org.id,
        actor_user_id=actor.user_id,
        action="org.logo_remove",
        entity="org",
        entity_id=org.id,
        before=before,
        after={"logo_blob_id": None},
    )


async def current(session: AsyncSession, *, org_id: uuid.UUID) -> storage.Blob | None:
    org = await _org(session, org_id)
    if org.logo_blob_id is None:
        return None
    return await storage.get(session, blob_id=org.logo_blob_id)
