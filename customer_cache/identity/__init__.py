"""Identity resolution: link the source parties of one real person or organisation into one customer.

Public surface (used by the resolver in :mod:`customer_cache.resolver`):

* :func:`build_profile` — a source party's identifiers and comparison keys, from its party record and
  its child records (contact media, addresses, accounts, products);
* :func:`linked` — whether two profiles link directly under the rules;
* :func:`components` — the clusters around some seed parties, reading the graph through a
  :class:`Graph` (Redis in production, a dict in tests);
* :func:`customer_id` — the stable id of a cluster;
* :func:`link_score` — the summed trust two profiles link with (0.0 if they do not);
* :class:`MemoryGraph` — a :class:`Graph` in memory (tests, the offline quality run in
  :mod:`customer_cache.identity.quality`).
"""

from customer_cache.identity.cluster import Graph, components, customer_id, link_score, linked
from customer_cache.identity.memory import MemoryGraph
from customer_cache.identity.model import IdentityRules, IdType, Profile
from customer_cache.identity.profile import build_profile

__all__ = [
    "Graph",
    "IdType",
    "IdentityRules",
    "MemoryGraph",
    "Profile",
    "build_profile",
    "components",
    "customer_id",
    "link_score",
    "linked",
]
