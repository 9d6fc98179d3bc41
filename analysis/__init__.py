"""Analysis of depinsim results: pricing curves (and, later, tables, breakeven and the memo)."""

from .curves import pricing_curve

__all__ = ["pricing_curve"]
