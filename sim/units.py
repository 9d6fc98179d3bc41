"""The model's units, in one place: time is in hours, money in USD (micro-dollars in the ledger).

A year is 365 days (as in Filecoin's specification) and a month a twelfth of it, so "month 12" of a
run ends exactly at its first year.
"""

from __future__ import annotations

MICRO = 1_000_000  # USD micro-dollars per USD: ledger amounts and asks are integers of these
HOURS_PER_DAY = 24.0
HOURS_PER_YEAR = 8760.0
HOURS_PER_MONTH = HOURS_PER_YEAR / 12.0  # 730

BELOW_SHARE = 0.5
"""The share of an alternative's price under which a summary's ``months_below`` counts months, unless
told otherwise: the question is how long the network stays below half of AWS."""
