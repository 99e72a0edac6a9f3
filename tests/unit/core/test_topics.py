from overlay.events import EntityType
from overlay.settings import Settings
from overlay.topics import ALL_TOPICS, BY_ENTITY, SOURCE_OFFSETS, Cleanup, resolve, resolve_all


def test_every_entity_type_has_a_topic():
    assert set(BY_ENTITY) == set(EntityType)


def test_names_are_unique_and_prefixed():
    settings = Settings(topic_prefix="acme.", topic_partitions=3)
    names = [t.name for t in resolve_all(settings)]
    assert len(names) == len(set(names)) == len(ALL_TOPICS)
    assert all(n.startswith("acme.") for n in names)


def test_tables_are_compacted_and_offsets_have_one_partition():
    settings = Settings(topic_partitions=4)
    offsets = resolve(SOURCE_OFFSETS, settings)
    assert offsets.partitions == 1
    assert offsets.config["cleanup.policy"] == "compact"
    party = resolve(BY_ENTITY[EntityType.PARTY], settings)
    assert party.partitions == 4 and party.config["cleanup.policy"] == Cleanup.COMPACT
    status = resolve(BY_ENTITY[EntityType.ORDER_STATUS], settings)
    assert status.config["cleanup.policy"] == "delete"
