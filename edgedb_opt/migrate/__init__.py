"""Packs of optimization steps, the ledger, and the engine that applies and undoes them."""

from __future__ import annotations

from edgedb_opt.migrate.engine import Migrator, StepResult, StepStatus
from edgedb_opt.migrate.pack import Pack, Step, load_pack

__all__ = ["Migrator", "Pack", "Step", "StepResult", "StepStatus", "load_pack"]
