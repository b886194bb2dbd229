"""What `/metrics` reports about the engine, read when Prometheus scrapes (nothing to update)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from bot.service import VideoService


def service_registry(service: VideoService) -> CollectorRegistry:
    """A registry whose gauges read the service's live figures at each scrape."""
    registry = CollectorRegistry()
    Gauge(
        "video_bot_queue_waiting",
        "Jobs waiting in the bot's own queue for a slot at the provider",
        registry=registry,
    ).set_function(lambda: len(service.queue))
    Gauge(
        "video_bot_jobs_running",
        "Jobs past the queue: at the provider, downloading or being delivered",
        registry=registry,
    ).set_function(lambda: service.workflow.running)
    Gauge(
        "video_bot_slots",
        "Jobs the operator allows at the provider at once",
        registry=registry,
    ).set_function(lambda: service.dispatcher.max_running)
    return registry
