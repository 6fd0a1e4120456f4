"""Deterministic synthetic data for the reference schema (``edgeopt seed``).

:func:`seed_database` fills an empty database at one of the :data:`SCALES`; the same seed and
anchor give byte-identical tables. The modules: ``scales`` (how much), ``text`` (names,
question texts, the growth dashboard), ``study`` (who studies when, and what they answer),
``seed`` (the run that writes it all), each importing only the ones before it.
"""

from __future__ import annotations

from edgedb_opt.datagen.scales import SCALES, Scale
from edgedb_opt.datagen.seed import CHUNK_ROWS, DEFAULT_ANCHOR_NOTE, Progress, seed_database

__all__ = ["CHUNK_ROWS", "DEFAULT_ANCHOR_NOTE", "SCALES", "Progress", "Scale", "seed_database"]
