"""Local infrastructure for development, the demo and tests: a real Kafka broker and Redis.

Nothing is imported here on purpose, so that importing a sibling module (``topics``) does not
pull in aiokafka or redis. Import from the modules: ``overlay.infra.stack.LocalStack``,
``overlay.infra.kafka_broker.KafkaBroker``, ``overlay.infra.redis_server.RedisServer``,
``overlay.infra.kafka_admin.ensure_topics``.
"""
