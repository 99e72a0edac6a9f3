"""The Redis key layout of the customer 360 read model (documented in docs/customer360.md).

Plain strings, hashes, sets and sorted sets; every command and every Lua script touches one key, so
the layout runs on any Redis or Valkey, clustered or not. All keys share a prefix (default
``c360``): ``overlay cache rebuild`` builds a second model beside the live one under another prefix
and ``overlay cache verify`` compares the two.

A *source ref* is ``system/key`` of a source party (the Kafka message key of its party events); a
*record ref* is ``entity|system/key`` of any stored source record.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "c360"


def record_ref(entity: str, source_ref: str) -> str:
    return f"{entity}|{source_ref}"


def split_record_ref(ref: str) -> tuple[str, str]:
    entity, _, source_ref = ref.partition("|")
    return entity, source_ref


@dataclass(frozen=True)
class Keys:
    prefix: str = DEFAULT_PREFIX

    # --- stage 1: source records, as the canonical topics carry them ---------------------------
    def record(self, entity: str, source_ref: str) -> str:
        """Hash ``{v, deleted, doc, event, obs}``: the latest version of one source record
        (version-guarded, deletes leave a tombstone)."""
        return f"{self.prefix}:rec:{entity}:{source_ref}"

    def children(self, party_ref: str) -> str:
        """Set of record refs (contact media, addresses, accounts, products, orders) that named this
        source party as theirs. May hold stale members (a record moved to another party): readers
        check the record's current party."""
        return f"{self.prefix}:kids:{party_ref}"

    def order_statuses(self, order_ref: str) -> str:
        """Set of record refs of the status events of one order (``system/key`` of the order)."""
        return f"{self.prefix}:ostat:{order_ref}"

    @property
    def dirty(self) -> str:
        """Sorted set of source party refs whose customer must be recomputed; the score is the
        earliest ``observed_at`` (epoch ms) among the changes not yet visible (freshness)."""
        return f"{self.prefix}:dirty"

    # --- stage 2: identity ---------------------------------------------------------------------
    def source_party(self, party_ref: str) -> str:
        """Hash ``{prof, cust}``: the party's identity profile (JSON) and its customer id."""
        return f"{self.prefix}:sp:{party_ref}"

    def holders(self, identifier: str) -> str:
        """Set of source party refs holding one identifier (``type:value``)."""
        return f"{self.prefix}:idx:{identifier}"

    @property
    def resolver_lease(self) -> str:
        """String: the id of the worker currently resolving identities (SET NX PX, renewed)."""
        return f"{self.prefix}:resolver:lease"

    # --- stage 3: the served view --------------------------------------------------------------
    def customer(self, customer_id: str) -> str:
        """String: the customer's 360 document (JSON of :class:`~customer_cache.view.model.Customer360`);
        a read is one GET."""
        return f"{self.prefix}:cust:{customer_id}"

    def members(self, customer_id: str) -> str:
        """Set of the source party refs linked into the customer."""
        return f"{self.prefix}:members:{customer_id}"

    def moved(self, customer_id: str) -> str:
        """String: the id a customer was merged into (channels holding an old id still find it)."""
        return f"{self.prefix}:moved:{customer_id}"

    @property
    def customers(self) -> str:
        """Sorted set (score 0) of live customer ids, for paged listing in id order."""
        return f"{self.prefix}:customers"

    def lookup(self, kind: str, value: str) -> str:
        """Set of customer ids found by an exact identifier: ``source`` (any record ref's
        ``system/key``), ``email``, ``phone`` (E.164), ``account`` (account number), ``national_id``,
        ``msisdn``… (values normalised as identity resolution normalises them)."""
        return f"{self.prefix}:lk:{kind}:{value}"

    def search(self, index: str) -> str:
        """Sorted sets of the fuzzy search (name + postcode / birth date), owned by
        :mod:`customer_cache.search`."""
        return f"{self.prefix}:s:{index}"

    def pending_write(self, customer_id: str) -> str:
        """Hash: a channel's write through the API not yet seen back from the legacy system
        (read-your-writes overlay), with its expiry."""
        return f"{self.prefix}:pw:{customer_id}"

    def pattern(self) -> str:
        """Every key of this model (for SCAN in verify/rebuild)."""
        return f"{self.prefix}:*"


KEYS = Keys()
