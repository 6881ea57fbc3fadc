"""Every table's model, imported once so `db.Base.metadata` knows the whole schema
(the migration drift test and Alembic use it)."""

from prorata import audit, idempotency, storage
from prorata.allocations import models as allocations
from prorata.capital_calls import models as capital_calls
from prorata.deals import models as deals
from prorata.distributions import models as distributions
from prorata.funds import models as funds
from prorata.imports import models as imports
from prorata.investors import models as investors
from prorata.ledger import models as ledger
from prorata.orgs import models as orgs
from prorata.valuations import models as valuations

__all__ = [
    "allocations",
    "audit",
    "capital_calls",
    "deals",
    "distributions",
    "funds",
    "idempotency",
    "imports",
    "investors",
    "ledger",
    "orgs",
    "storage",
    "valuations",
]
