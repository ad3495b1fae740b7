"""/metrics in the Prometheus text format: requests by status, batch sizes, queue depth,
latency. One registry per app, so two servers in one process (tests) never share counters."""

from __future__ import annotations


class ServerMetrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("cleverward_requests", "HTTP requests answered, by route and "
                                "status", ["route", "status"], registry=self.registry)
        self.disconnects = Counter("cleverward_client_disconnects", "uploads the client "
                                   "abandoned before the body was complete",
                                   registry=self.registry)
        self.batch_clips = Histogram("cleverward_batch_clips", "clips per model call",
                                     buckets=(1, 2, 4, 8, 16, 32, 64, 128),
                                     registry=self.registry)
        self.batch_requests = Histogram("cleverward_batch_requests", "requests per model call",
                                        buckets=(1, 2, 4, 8, 16, 32, 64),
                                        registry=self.registry)
        self.queue_depth = Gauge("cleverward_queue_depth", "requests waiting for the model",
                                 registry=self.registry)
        self.latency = Histogram("cleverward_score_seconds", "POST /score latency, from the "
                                 "first byte of the body to the response",
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                                          10, 30), registry=self.registry)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
