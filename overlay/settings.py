"""Process settings, read from ``OVERLAY_*`` environment variables (and an optional ``.env``).

One object for every process so that the demo, the tests and a production deployment differ only
in environment. Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OVERLAY_", env_file=".env", extra="ignore")

    # --- where things are -------------------------------------------------------------------
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma separated."
    )
    redis_url: SecretStr = Field(SecretStr("redis://127.0.0.1:6379/0"), description="Redis URL.")
    var_dir: Path = Field(Path("var"), description="Working data of local processes (infra, sim).")
    sim_dir: Path = Field(Path("var/sim"), description="Where the simulated legacy estate lives.")

    # --- topics ------------------------------------------------------------------------------
    topic_prefix: str = Field("", description="Prefix for every topic name (multi-tenant clusters).")
    topic_partitions: int = Field(6, ge=1, description="Partitions of the canonical topics.")
    topic_replication: int = Field(1, ge=1, description="Replication factor of every topic.")

    # --- connectors --------------------------------------------------------------------------
    connectors_config: Path = Field(
        Path("deploy/connectors/demo.yaml"), description="YAML file listing the connectors to run."
    )
    crm_connector: str = Field(
        "crm", description="The connector (in connectors_config) of the CRM that customer writes go to."
    )
    connectors_host: str = "127.0.0.1"
    connectors_port: int = Field(
        8081, ge=0, le=65535, description="Status, Prometheus metrics and webhook receivers."
    )

    # --- stream processors (faust) -----------------------------------------------------------
    worker_session_timeout_s: float = Field(10.0, gt=0)
    worker_heartbeat_interval_s: float = Field(1.0, gt=0)
    worker_rebalance_timeout_s: float = Field(10.0, gt=0)
    worker_liveness_timeout_s: float = Field(
        60.0, gt=0, description="A worker whose consumer makes no progress while lag exists restarts."
    )
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Serve the worker's Prometheus metrics here (unset: not served)."
    )
    worker_batch_size: int = Field(1000, ge=1, description="Events a worker applies to Redis per batch.")
    worker_batch_wait_s: float = Field(
        0.01, gt=0, description="How long a worker waits for a batch to fill before applying what it has."
    )
    resolver_batch_size: int = Field(200, ge=1, description="Dirty source parties resolved per batch.")
    resolver_max_batch: int = Field(
        2000, ge=1,
        description="While more dirty parties are ready than a batch takes, batches grow up to this.",
    )
    resolver_settle_ms: int = Field(
        200, ge=0,
        description="A dirty party is resolved once its earliest pending change is this old: the "
        "changes of its other records arriving meanwhile are resolved with it (adds at most this "
        "to freshness).",
    )
    resolver_lease_ms: int = Field(
        10_000, ge=500, description="The resolver lease: another worker takes over this long after a crash."
    )

    # --- HTTP API ----------------------------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = Field(8080, ge=0, le=65535)

    # --- logging -----------------------------------------------------------------------------
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
