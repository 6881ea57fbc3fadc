"""The release state of a call's or a distribution's notices (the columns both tables have)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from prorata.platform.db import str_enum


class NoticeRelease(enum.StrEnum):
    """Whether the notices of a call or a distribution may be mailed."""

    not_required = "not_required"  # the fund needs no approval: mailed as they are rendered
    awaiting_approval = "awaiting_approval"  # rendered (for preview), mailed once approved
    scheduled = "scheduled"  # approved, to be mailed at `notices_send_at`
    released = "released"  # approved: mailed


class ReleasedNotices:
    """Mixin of the models whose notices wait for release (CapitalCall, Distribution)."""

    if TYPE_CHECKING:  # each model's own columns, named here for the shared release code
        id: Mapped[uuid.UUID]
        org_id: Mapped[uuid.UUID]
        fund_id: Mapped[uuid.UUID]

    # Whether the notices may be mailed (None for a call while a draft): see NoticeRelease.
    notices: Mapped[NoticeRelease | None] = mapped_column(str_enum(NoticeRelease, "notices"))
    notices_approved_by: Mapped[uuid.UUID | None] = mapped_column()
    notices_approved_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    notices_send_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
    # Every notice's message sent or given up (documents.mailing): `notices.sent` announced once.
    notices_sent_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime(timezone=True))
