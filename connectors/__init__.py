"""Connectors: pull (or receive) changes from legacy systems and publish canonical events to Kafka.

Modelled on Airbyte's protocol: a connector has a ``spec`` (its configuration schema), a ``check``
(can it reach and read the source), ``discover`` (the streams it offers) and ``read`` (records and
state messages). The runtime publishes the records and commits a state only after Kafka
acknowledged every record before it, so a restart resumes without a gap.
"""
