"""The one percentile every report uses (pool waits, statement timings, benches, load tests).

Hand-written: ``statistics.quantiles`` interpolates and needs 1,000 cuts for p99.9; a nearest
rank is always one of the samples, which is what a latency report should quote.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["percentile"]


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (``q`` in percent) of sorted samples; 0.0 if none.

    >>> data = [float(x) for x in range(1, 101)]
    >>> [percentile(data, q) for q in (50, 90, 99, 99.9)]
    [50.0, 90.0, 99.0, 100.0]
    >>> percentile([], 95)
    0.0
    """
    if not ordered:
        return 0.0
    return float(ordered[max(0, math.ceil(len(ordered) * q / 100) - 1)])
