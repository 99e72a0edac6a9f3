"""Overlay's murmur2 must stay bit-for-bit Kafka's: a key's partition may never depend on which
producer path (single send or batch building) published it."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from overlay.kafka import PARTITIONER, murmur2


def test_murmur2_equals_aiokafka_on_random_and_realistic_keys():
    rng = random.Random(7)
    samples = [bytes(rng.getrandbits(8) for _ in range(n)) for n in [*range(0, 40), 255, 1000, 4097]]
    samples += [rng.randbytes(rng.randrange(1, 80)) for _ in range(3000)]
    samples += [f"crm/K{i:08d}".encode() for i in range(2000)]
    samples += [f"mobile/SUB-{i:09d}/msisdn".encode() for i in range(2000)]
    for data in samples:
        assert murmur2(data) == aiokafka_murmur2(data), data


def test_partition_choice_equals_the_default_partitioner():
    reference = DefaultPartitioner()
    for partitions in ([0], [0, 1, 2], list(range(6)), list(range(12))):
        for i in range(2000):
            key = f"crm/K{i:08d}".encode()
            assert PARTITIONER(key, partitions, partitions) == reference(key, partitions, partitions)
