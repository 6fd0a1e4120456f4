"""``edgeopt loadtest``: simulated users running the study flow on one ``EdgeDatabase``.

:func:`run_load` runs a scenario on a :class:`LoadTarget` (see :func:`prepare_target`) and
returns a report; :func:`failures` checks it against ``--fail-if`` thresholds.
"""

from __future__ import annotations

from edgedb_opt.loadtest.report import CSV_COLUMNS, failures, format_report, write_csv
from edgedb_opt.loadtest.runner import LoadOptions, run_load
from edgedb_opt.loadtest.scenarios import (
    DEFAULT_MIX,
    SCENARIOS,
    Scenario,
    Thresholds,
    parse_fail_if,
    parse_mix,
)
from edgedb_opt.loadtest.target import LoadTarget, check_loopback, prepare_target

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_MIX",
    "SCENARIOS",
    "LoadOptions",
    "LoadTarget",
    "Scenario",
    "Thresholds",
    "check_loopback",
    "failures",
    "format_report",
    "parse_fail_if",
    "parse_mix",
    "prepare_target",
    "run_load",
    "write_csv",
]
