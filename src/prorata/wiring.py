"""Wiring: the one place where packages are connected to what they must not import.

Every entry point (the web app, the worker, the operator commands) calls `connect()` first:
- every package's job `blueprint` is registered on the queue's app, so the web process defers
  and the worker runs the very same task declarations;
- the hooks lower packages expose get their subscribers from the packages above them.

Connecting twice changes nothing.
"""

from __future__ import annotations

import prorata.models  # noqa: F401  (every model: the ORM resolves every foreign key)
from prorata import jobs
from prorata.capital_accounts import tasks as account_tasks
from prorata.capital_calls import service as call_service
from prorata.capital_calls import tasks as call_tasks
from prorata.closings import service as closing_service
from prorata.distributions import service as distribution_service
from prorata.distributions import tasks as distribution_tasks
from prorata.documents import mailing as document_mailing
from prorata.documents import service as document_service
from prorata.documents import tasks as document_tasks
from prorata.funds import repository as fund_repository
from prorata.imports import tasks as import_tasks
from prorata.jobs import housekeeping
from prorata.notices import release as notice_release
from prorata.notifications import tasks as notification_tasks
from prorata.platform import events
from prorata.tenant_jobs import service as job_service
from prorata.webhooks import service as webhook_service
from prorata.webhooks import tasks as webhook_tasks

BLUEPRINTS = (
    housekeeping.blueprint,
    import_tasks.blueprint,
    webhook_tasks.blueprint,
    notification_tasks.blueprint,
    document_tasks.blueprint,
    call_tasks.blueprint,
    distribution_tasks.blueprint,
    account_tasks.blueprint,
)


def connect() -> None:
    for blueprint in BLUEPRINTS:
        jobs.register(blueprint)
    events.announced.connect(webhook_service.dispatch)
    call_service.call_issued.connect(document_service.on_call_issued)
    closing_service.closing_issued.connect(document_service.on_closing_issued)
    distribution_service.distribution_made.connect(document_service.on_distribution_made)
    notice_release.notices_released.connect(document_mailing.on_notices_released)
    notification_tasks.message_settled.connect(document_mailing.on_message_settled)
    job_service.job_failed.connect(document_service.on_job_failed)
    job_service.job_retried.connect(document_service.on_job_retried)
    fund_repository.capital_changed.connect(account_tasks.on_capital_changed)
