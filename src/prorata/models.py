"""Every table's model, imported once so `db.Base.metadata` knows the whole schema
(the migration drift test and Alembic use it)."""

from prorata.accounts import models as accounts
from prorata.allocations import models as allocations
from prorata.bank_accounts import models as bank_accounts
from prorata.capital_accounts import models as capital_accounts
from prorata.capital_calls import models as capital_calls
from prorata.closings import models as closings
from prorata.deals import models as deals
from prorata.distributions import models as distributions
from prorata.documents import models as documents
from prorata.funds import models as funds
from prorata.http import idempotency
from prorata.imports import models as imports
from prorata.investors import models as investors
from prorata.ledger import models as ledger
from prorata.management_fees import models as management_fees
from prorata.notifications import models as notifications
from prorata.orgs import models as orgs
from prorata.platform import audit, events, storage
from prorata.tenant_jobs import models as tenant_jobs
from prorata.valuations import models as valuations
from prorata.webhooks import models as webhooks

__all__ = [
    "accounts",
    "allocations",
    "audit",
    "bank_accounts",
    "capital_accounts",
    "capital_calls",
    "closings",
    "deals",
    "distributions",
    "documents",
    "events",
    "funds",
    "idempotency",
    "imports",
    "investors",
    "ledger",
    "management_fees",
    "notifications",
    "orgs",
    "storage",
    "tenant_jobs",
    "valuations",
    "webhooks",
]
