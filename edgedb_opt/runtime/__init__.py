"""What an app handler runs on: the database object and the layers it composes.

- ``database``: ``EdgeDatabase`` (pools per region behind one driver); ``view``: the
  per-request ``RequestView``, which knows the database through a protocol.
- ``pool``: ``LocalPool`` (one queued writer and read-only readers on a SQLite file) and
  ``EndpointPool`` (bounded requests over one kept-alive remote driver).
- ``settings``, ``regions``, ``geo``: pydantic settings, the region router with failover,
  and the distances it orders regions by.
- ``cache``: :class:`QueryCache`, a TTL LRU with tags and single-flight loads.
- ``monitor``, ``monitored``, ``fingerprint``, ``stats``: statement timings by shape, the
  N+1 detector, Prometheus, and the driver wrapper that feeds them.
- ``health``: the checks of ``edgeopt health``.

Dependencies point down: ``database`` uses the rest; ``monitored`` knows the monitor only
through a protocol. The modules import pydantic, sqlglot or prometheus-client, so this
package's ``__init__`` imports none of them.
"""
