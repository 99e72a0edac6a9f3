"""How every Overlay stream processor builds its faust app.

At-least-once only: faust's ``exactly_once`` has duplicate and fencing bugs (faust-streaming #517,
#323), and every sink here is idempotent and version-guarded instead. No faust tables serve reads
(recovery can stall or come back short, #651, #597): served state lives in Redis and is rebuilt by
replaying Kafka. Session, heartbeat and rebalance timeouts are short so a group joins in seconds,
not faust's default ~30 s.
"""

from __future__ import annotations

from typing import Any

import faust

from overlay.settings import Settings, get_settings


def make_faust_app(app_id: str, settings: Settings | None = None, **overrides: Any) -> faust.App:
    s = settings or get_settings()
    options: dict[str, Any] = {
        "broker": ",".join(f"kafka://{h.strip()}" for h in s.kafka_bootstrap.split(",")),
        "store": "memory://",
        "processing_guarantee": "at_least_once",
        "topic_allow_declare": False,  # topics come from `overlay topics ensure`, with their configs
        "topic_disable_leader": True,
        "web_enabled": False,
        "broker_session_timeout": s.worker_session_timeout_s,
        "broker_heartbeat_interval": s.worker_heartbeat_interval_s,
        "broker_rebalance_timeout": s.worker_rebalance_timeout_s,
        "broker_commit_interval": 1.0,
        "stream_wait_empty": False,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
    }
    options.update(overrides)
    return faust.App(f"{s.topic_prefix}{app_id}", **options)
