"""Prometheus metrics, one set per app. Under `imagehost serve --workers N` (when
PROMETHEUS_MULTIPROC_DIR is set for the workers) every worker writes its values to files in
that folder and a scrape of any worker reads them all, so /metrics shows the whole server."""

from __future__ import annotations

import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from imagehost.service.processing import ProcessedImage

MULTIPROCESS_FOLDER = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROCESS_FOLDER))
        self.registry = CollectorRegistry()
        self.requests = Counter("imagehost_requests_total", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("imagehost_request_seconds", "HTTP request latency",
                                 ["method", "route"], buckets=_LATENCY_BUCKETS,
                                 registry=self.registry)
        self.uploads = Counter("imagehost_uploads_total", "Accepted uploads", ["format"],
                               registry=self.registry)
        self.upload_bytes = Counter("imagehost_upload_bytes_total", "Bytes of accepted uploads",
                                    registry=self.registry)
        self.render_seconds = Histogram("imagehost_render_seconds",
                                        "Time to decode an original and encode its variants",
                                        buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.derived = Counter("imagehost_derived_total",
                               "Derived image answers by source (memory, disk, store, "
                               "rendered, coalesced, variant)", ["source"], registry=self.registry)
        self.pool_in_flight = Gauge("imagehost_pool_in_flight", "Jobs running or waiting",
                                    multiprocess_mode="livesum", registry=self.registry)

    def count_upload(self, processed: ProcessedImage) -> None:
        self.uploads.labels(processed.info.format.value).inc()
        self.upload_bytes.inc(len(processed.original))
        self.render_seconds.observe(processed.rendered.seconds)

    def exposition(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)

    def close(self) -> None:
        """This worker is stopping: its live gauges leave the server's totals."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())
