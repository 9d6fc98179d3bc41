"""Analysis of depinsim results: pricing curves, sweep figures, breakeven, calibration, sensitivity and the memo."""

from .breakeven import Breakeven, breakeven, rank_sensitivity, sobol_sensitivity
from .calibrate import Calibration, calibrate
from .curves import pricing_curve
from .memo import write_memo
from .sweeps import months_vs_parameter, sweep_pricing_curves, tornado, undercut_heatmap

__all__ = [
    "Breakeven",
    "Calibration",
    "breakeven",
    "calibrate",
    "months_vs_parameter",
    "pricing_curve",
    "rank_sensitivity",
    "sobol_sensitivity",
    "sweep_pricing_curves",
    "tornado",
    "undercut_heatmap",
    "write_memo",
]
