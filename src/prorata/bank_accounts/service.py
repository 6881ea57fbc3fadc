"""An investor's bank account for distributions.

Rules:
- The account number and routing code are sealed (AES-256-GCM under PRORATA_ENCRYPTION_KEY,
  bound to `bank:<investor id>`); everyone sees them masked (`•••• 1234`) except an admin who
  asks for them explicitly (`reveal`, audited without the values).
- A GP member (manager or above) sets the account: in effect at once. An LP (`investor` member,
  its own investor only) changes it with its authenticator's code, and the change is held until a
  GP admin approves it (bank details are the classic wire-fraud vector); the approver is never
  the person who asked. A newer LP change replaces one still waiting.
- Whenever the account in effect changes, every contact of the investor (whatever they receive)
  and the investor's own address are mailed that it changed, with the number masked.
- Key rotation: a value sealed under a key kept in PRORATA_ENCRYPTION_OLD_KEYS still opens;
  whatever is written is sealed under the current key, and `reseal` seals everything again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from prorata.accounts import service as account_service
from prorata.bank_accounts.models import BankAccount, BankAccountChange, ChangeStatus
from prorata.bank_accounts.schemas import BankAccountIn, BankDetails
from prorata.config import Settings
from prorata.http.tenancy import ROLE_RANK, Principal, Role, check_investor_scope
from prorata.investors import service as investor_service
from prorata.investors.models import Investor, InvestorContact
from prorata.notifications import service as notifications
from prorata.orgs.models import Org
from prorata.platform import audit, crypto, errors

MAIL_KIND = "bank_account_changed"
_BIC = re.compile(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")
_IBAN = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
MASK = "••••"
_PURPOSE = "change bank details"


def _context(investor_id: uuid.UUID) -> str:
    return f"bank:{investor_id}"


def last_characters(account_number: str) -> str:
    """What may be shown: the last 4 characters, but never more than half of the number."""
    shown = min(4, len(account_number) // 2)
    return account_number[len(account_number) - shown :]


def masked(last4: str) -> str:
    return f"{MASK} {last4}"


@dataclasses.dataclass(frozen=True)
class View:
    investor_id: uuid.UUID
    account: BankAccount | None
    pending: BankAccountChange | None


def _refused(field: str, detail: str) -> errors.RuleViolation:
    """A refusal naming its field (`field` in the problem), so a form shows it beside it."""
    return errors.RuleViolation(detail, extensions={"field": field})


def _iban_checksum_ok(iban: str) -> bool:
    """ISO 13616: the country and check digits moved to the end, letters as numbers, mod 97."""
    digits = "".join(str(int(char, 36)) for char in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def check(data: BankAccountIn) -> None:
    """What the schema cannot say: an account number that starts like an IBAN (two letters, two
    digits) is one, with the right check digits; a routing code with letters is a BIC."""
    number = data.account_number
    if re.match(r"^[A-Z]{2}[0-9]{2}", number) and not (
        _IBAN.match(number) and _iban_checksum_ok(number)
    ):
        raise _refused(
            "account_number", "this IBAN is not valid: check it against the bank's statement"
        )
    routing = data.routing
    if routing and not routing.isdigit() and not _BIC.match(routing):
        raise _refused(
            "routing", "a BIC (SWIFT code) has 8 or 11 letters and digits, such as DEUTDEFF"
        )


def _seal(settings: Settings, investor_id: uuid.UUID, data: BankAccountIn) -> str:
    secret = json.dumps({"account_number": data.account_number, "routing": data.routing})
    return crypto.Sealer.from_settings(settings).seal(secret, context=_context(investor_id))


def _open(settings: Settings, investor_id: uuid.UUID, sealed: str) -> dict[str, str | None]:
    opened: dict[str, str | None] = json.loads(
        crypto.Sealer.from_settings(settings).open(sealed, context=_context(investor_id))
    )
    return opened


async def _investor(session: AsyncSession, actor: Principal, investor_id: uuid.UUID) -> Investor:
    check_investor_scope(actor, investor_id)
    return await investor_service.get(session, investor_id=investor_id)


async def _pending(session: AsyncSession, investor_id: uuid.UUID) -> BankAccountChange | None:
    found: BankAccountChange | None = await session.scalar(
        sa.select(BankAccountChange).where(
            BankAccountChange.investor_id == investor_id,
            BankAccountChange.status == ChangeStatus.pending,
        )
    )
    return found


async def view(session: AsyncSession, *, actor: Principal, investor_id: uuid.UUID) -> View:
    await _investor(session, actor, investor_id)
    return View(
        investor_id,
        await session.get(BankAccount, investor_id),
        await _pending(session, investor_id),
    )


async def changes(
    session: AsyncSession, *, actor: Principal, investor_id: uuid.UUID
) -> list[BankAccountChange]:
    """The investor's changes, newest first (pending and decided)."""
    await _investor(session, actor, investor_id)
    rows = await session.scalars(
        sa.select(BankAccountChange)
        .where(BankAccountChange.investor_id == investor_id)
        .order_by(BankAccountChange.requested_at.desc(), BankAccountChange.id)
    )
    return list(rows)


async def reveal(
    session: AsyncSession, settings: Settings, *, actor: Principal, investor_id: uuid.UUID
) -> BankDetails:
    """The details in full: an admin's explicit request, audited (without the values)."""
    if ROLE_RANK[actor.role] < ROLE_RANK[Role.admin]:
        raise errors.Forbidden("only an admin sees bank details in full")
    await _investor(session, actor, investor_id)
    account = await session.get(BankAccount, investor_id)
    if account is None:
        raise errors.NotFound("this investor has no bank account on file")
    secret = _open(settings, investor_id, account.details_sealed)
    await _audit(session, actor, "bank_account.reveal", investor_id, masked(account.last4))
    return BankDetails(
        bank_name=account.bank_name,
        account_name=account.account_name,
        account_number=str(secret["account_number"]),
        routing=secret["routing"],
        reference=account.reference,
    )


async def _audit(
    session: AsyncSession,
    actor: Principal,
    action: str,
    investor_id: uuid.UUID,
    account_masked: str,
    **more: object,
) -> None:
    """Never a secret value: the masked number says which account."""
    await audit.record(
        session,
        org_id=actor.org_id,
        actor_user_id=actor.user_id,
        action=action,
        entity="investor",
        entity_id=investor_id,
        after={"account_number_masked": account_masked, **more},
    )


async def submit(
    session: AsyncSession,
    settings: Settings,
    *,
    actor: Principal,
    investor_id: uuid.UUID,
    data: BankAccountIn,
) -> BankAccountChange:
    """Set the investor's account (a GP member: `applied`) or ask for it (an LP: `pending`)."""
    is_lp = actor.role is Role.investor
    if not is_lp and ROLE_RANK[actor.role] < ROLE_RANK[Role.manager]:
        raise errors.Forbidden("a viewer cannot change bank details")
    investor = await _investor(session, actor, investor_id)
    check(data)
    if is_lp:
        await account_service.confirm_with_code(
            session, settings, user_id=actor.user_id, code=data.totp_code, purpose=_PURPOSE
        )
        replaced = await _pending(session, investor_id)
        if replaced is not None:
            replaced.status = ChangeStatus.withdrawn
            replaced.decided_at = dt.datetime.now(dt.UTC)
            await session.flush()
    change = BankAccountChange(
        org_id=investor.org_id,
        investor_id=investor_id,
        bank_name=data.bank_name,
        account_name=data.account_name,
        reference=data.reference,
        details_sealed=_seal(settings, investor_id, data),
        last4=last_characters(data.account_number),
        status=ChangeStatus.pending if is_lp else ChangeStatus.applied,
        requested_by=actor.user_id,
    )
    session.add(change)
    await session.flush()
    if is_lp:
        await _audit(
            session,
            actor,
            "bank_account.requested",
            investor_id,
            masked(change.last4),
            change_id=str(change.id),
        )
    else:
        await _apply(session, settings, actor, investor, change)
    return change


async def _change(
    session: AsyncSession, actor: Principal, investor_id: uuid.UUID, change_id: uuid.UUID
) -> tuple[Investor, BankAccountChange]:
    if ROLE_RANK[actor.role] < ROLE_RANK[Role.admin]:
        raise errors.Forbidden("only an admin approves or rejects a change of bank details")
    investor = await _investor(session, actor, investor_id)
    change = await session.get(BankAccountChange, change_id, with_for_update=True)
    if change is None or change.investor_id != investor_id:
        raise errors.NotFound("no such change of this investor's bank account")
    if change.status is not ChangeStatus.pending:
        raise errors.Conflict(f"this change was already decided ({change.status})")
    if change.requested_by == actor.user_id:
        raise errors.Forbidden("a change is approved by someone other than who asked for it")
    return investor, change


async def approve(
    session: AsyncSession,
    settings: Settings,
    *,
    actor: Principal,
    investor_id: uuid.UUID,
    change_id: uuid.UUID,
) -> BankAccountChange:
    investor, change = await _change(session, actor, investor_id, change_id)
    change.status = ChangeStatus.approved
    await _apply(session, settings, actor, investor, change)
    return change


async def reject(
    session: AsyncSession, *, actor: Principal, investor_id: uuid.UUID, change_id: uuid.UUID
) -> BankAccountChange:
    _, change = await _change(session, actor, investor_id, change_id)
    change.status = ChangeStatus.rejected
    change.decided_by = actor.user_id
    change.decided_at = dt.datetime.now(dt.UTC)
    await session.flush()
    await _audit(
        session,
        actor,
        "bank_account.rejected",
        investor_id,
        masked(change.last4),
        change_id=str(change.id),
    )
    return change


async def _apply(
    session: AsyncSession,
    settings: Settings,
    actor: Principal,
    investor: Investor,
    change: BankAccountChange,
) -> None:
    """Make `change` the account in effect (sealed again under the current key), and tell
    every contact."""
    now = dt.datetime.now(dt.UTC)
    change.decided_by = actor.user_id
    change.decided_at = now
    sealer = crypto.Sealer.from_settings(settings)
    context = _context(investor.id)
    sealed = sealer.seal(sealer.open(change.details_sealed, context=context), context=context)
    values = {
        "bank_name": change.bank_name,
        "account_name": change.account_name,
        "reference": change.reference,
        "details_sealed": sealed,
        "last4": change.last4,
        "updated_by": change.requested_by,
        "updated_at": now,
    }
    account = await session.get(BankAccount, investor.id, with_for_update=True)
    before = masked(account.last4) if account else None
    if account is None:
        session.add(BankAccount(org_id=investor.org_id, investor_id=investor.id, **values))
    else:
        for name, value in values.items():
            setattr(account, name, value)
    await session.flush()
    await _audit(
        session,
        actor,
        f"bank_account.{change.status}",
        investor.id,
        masked(change.last4),
        change_id=str(change.id),
        previous=before,
    )
    await _mail_contacts(session, investor, change, now)


async def everyone_of(session: AsyncSession, investor: Investor) -> list[str]:
    """Every address of the investor: all its contacts, whatever they chose to receive (a
    warning of a possible fraud is for everyone), and its own."""
    contacts = await session.scalars(
        sa.select(InvestorContact.email)
        .where(InvestorContact.investor_id == investor.id)
        .order_by(InvestorContact.created_at, InvestorContact.id)
    )
    unique: dict[str, str] = {}
    for address in [*contacts, *([investor.email] if investor.email else [])]:
        unique.setdefault(address.lower(), address)
    return list(unique.values())


async def _mail_contacts(
    session: AsyncSession, investor: Investor, change: BankAccountChange, when: dt.datetime
) -> None:
    org = await session.get(Org, investor.org_id)
    sender = org.name if org else "your fund manager"
    subject = f"The bank account for {investor.name}'s distributions changed"
    body = (
        f"The bank account {sender} will pay {investor.name}'s distributions to changed on "
        f"{when:%Y-%m-%d} ({when:%H:%M} UTC).\n\n"
        f"Bank: {change.bank_name}\n"
        f"Account name: {change.account_name}\n"
        f"Account number: {masked(change.last4)}\n\n"
        f"If you did not expect this change, contact {sender} at once, by telephone at a "
        "number you already know: do not reply to this message.\n"
    )
    for recipient in await everyone_of(session, investor):
        await notifications.queue_email(
            session,
            org_id=investor.org_id,
            kind=MAIL_KIND,
            recipient=recipient,
            subject=subject,
            body=body,
        )


async def masked_account(
    session: AsyncSession, *, investor_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Each investor's account in effect as a notice may print it: `Bank name •••• 1234`
    (investors with none are absent). One statement for any number of investors."""
    if not investor_ids:
        return {}
    rows = await session.execute(
        sa.select(BankAccount.investor_id, BankAccount.bank_name, BankAccount.last4).where(
            BankAccount.investor_id.in_(investor_ids)
        )
    )
    return {investor_id: f"{bank} {masked(last4)}" for investor_id, bank, last4 in rows.all()}


async def reseal(session: AsyncSession, settings: Settings) -> int:
    """Seal every bank detail of the session's organisation again under the current key (after
    a rotation, before the old key leaves PRORATA_ENCRYPTION_OLD_KEYS); how many were."""
    sealer = crypto.Sealer.from_settings(settings)
    count = 0
    rows: list[BankAccount | BankAccountChange] = [
        *(await session.scalars(sa.select(BankAccount).with_for_update())),
        *(await session.scalars(sa.select(BankAccountChange).with_for_update())),
    ]
    for row in rows:
        if crypto.key_id_of(row.details_sealed) == sealer.current_key_id:
            continue
        context = _context(row.investor_id)
        row.details_sealed = sealer.seal(
            sealer.open(row.details_sealed, context=context), context=context
        )
        count += 1
    await session.flush()
    return count
