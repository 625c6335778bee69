"""Prometheus metrics (prometheus-client), all named `connectnow_*`, served at /metrics.

Each worker process has its own registry and reports its own numbers; Prometheus sums workers. Gauges
that mirror live state (sockets, listener restarts) are read at scrape time through callbacks.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LOOP_LAG_BUCKETS_SECONDS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
LATENCY_BUCKETS_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Events that carry a new chat message (channel or direct): they make up "messages per second".
MESSAGE_EVENTS = frozenset({"message:new", "dm:message"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connected_sockets = Gauge("connectnow_connected_sockets", "Sockets connected to this worker", registry=r)
        self.connects = Counter("connectnow_socket_connects_total", "Socket connections accepted", registry=r)
        self.disconnects = Counter("connectnow_socket_disconnects_total", "Socket disconnections", registry=r)
        self.users_by_status = Gauge(
            "connectnow_users", "Users with sockets on this worker, by presence status", ["status"], registry=r
        )
        self.fanout_writes = Counter(
            "connectnow_fanout_writes_total",
            "Event deliveries to this worker's sockets, by path (direct: frame written to the WebSocket at once; "
            "queued: behind the socket's pending packets, or long-polling)",
            ["path"],
            registry=r,
        )
        self.slow_consumers = Counter(
            "connectnow_slow_consumer_disconnects_total",
            "Sockets disconnected because their unread output passed CONNECTNOW_MAX_PENDING_PACKETS",
            registry=r,
        )
        self.presence_degraded = Gauge(
            "connectnow_presence_degraded",
            "1 while this worker cannot reach the shared presence store (Redis) and serves its own view",
            registry=r,
        )
        self.presence_changes = Counter(
            "connectnow_presence_changes_total", "Presence status changes this worker announced", registry=r
        )
        self.messages = Counter("connectnow_messages_total", "Chat messages fanned out (rate: messages/s)", registry=r)
        self.events = Counter("connectnow_events_total", "Events published, by event name", ["event"], registry=r)
        self.fanout_latency = Histogram(
            "connectnow_fanout_latency_seconds",
            "From emit on any worker to delivery to this worker's sockets",
            buckets=LATENCY_BUCKETS_SECONDS,
            registry=r,
        )
        self.pubsub_lag = Histogram(
            "connectnow_pubsub_lag_seconds",
            "From publish to receipt by this worker's broker listener",
            buckets=LATENCY_BUCKETS_SECONDS,
            registry=r,
        )
        self.broker_publish = Histogram(
            "connectnow_broker_publish_seconds",
            "Time to hand one event to the broker (a Redis PUBLISH round trip with Redis)",
            buckets=LATENCY_BUCKETS_SECONDS,
            registry=r,
        )
        self.loop_lag = Gauge(
            "connectnow_event_loop_lag_seconds",
            "How late this worker's event loop woke a timer, last sample",
            registry=r,
        )
        self.loop_lag_samples = Histogram(
            "connectnow_event_loop_lag_samples_seconds",
            "How late this worker's event loop woke a timer, every sample (one per dashboard interval): the "
            "distribution under load, where the gauge shows only the last",
            buckets=LOOP_LAG_BUCKETS_SECONDS,
            registry=r,
        )
        self.listener_restarts = Gauge(
            "connectnow_broker_listener_restarts", "Restarts of this worker's pub/sub listener", registry=r
        )
        self.publish_failures = Gauge(
            "connectnow_broker_publish_failures", "Publishes that failed and were delivered locally only", registry=r
        )
        self.recovery = Counter(
            "connectnow_recovery_total",
            "Sync requests by outcome (hit: gap filled; miss: past the bound)",
            ["outcome"],
            registry=r,
        )
        self.repairs = Counter(
            "connectnow_repairs_total",
            "Partial writes a crash left behind, found and repaired (by conversation kind: channel, dm)",
            ["scope"],
            registry=r,
        )
        self.refusals = Counter(
            "connectnow_refusals_total", "Refused requests and events, by code", ["code"], registry=r
        )
        self.rate_limited = Counter(
            "connectnow_rate_limit_refusals_total", "Requests and events refused by a rate limit", registry=r
        )
        self.mail = Counter(
            "connectnow_mail_total",
            "Outbox mails by kind and outcome (sent, retried, failed)",
            ["kind", "outcome"],
            registry=r,
        )

    def watch(self, gauge: Gauge, read: Callable[[], float]) -> None:
        gauge.set_function(read)

    def refused(self, code: str) -> None:
        self.refusals.labels(code).inc()
        if code == "RATE_LIMITED":
            self.rate_limited.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
