"""An investor's bank account for distributions: sealed at rest, shown masked, changed by an LP
only with its second factor and a GP admin's approval."""
