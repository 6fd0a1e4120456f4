"""``edgeopt`` commands that measure (placeholder until they land)."""

from __future__ import annotations
