"""Prometheus metrics of the API (its own registry: no process or platform collectors).

`/metrics` stays open when PINTEREST_API_KEY is set (for scrapers), so nothing here may carry an
address, a key or a record: labels are topics, HTTP statuses and reasons only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pinterest_assets import entities as registry


@dataclass
class Metrics:
    registry: object
    accepted: object
    rejected: object
    latency: object
    accepted_children: dict = field(default_factory=dict)
    latency_children: dict = field(default_factory=dict)

    def reject(self, topic: str, status: int, reason: str, count: int = 1) -> None:
        self.rejected.labels(topic, str(status), reason).inc(count)


class _ProducerCollector:
    """Gauges read at scrape time: connected or not, records awaiting acks, topics missing."""

    def __init__(self, producer):
        self.producer = producer

    def describe(self):
        return []

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        producer = self.producer
        yield GaugeMetricFamily("pinterest_api_kafka_connected", "1 when the Kafka producer is connected",
                                value=1 if producer.connected else 0)
        yield GaugeMetricFamily("pinterest_api_pending_records", "Records sent and awaiting Kafka's ack",
                                value=producer.pending)
        available = GaugeMetricFamily("pinterest_api_topic_available",
                                      "0 when the topic was found missing on Kafka", labels=["topic"])
        missing = producer.missing_topics()
        for topic in registry.topics().values():
            available.add_metric([topic], 0 if topic in missing else 1)
        yield available


def build_metrics(producer=None) -> Metrics:
    from prometheus_client import CollectorRegistry, Counter, Histogram

    reg = CollectorRegistry(auto_describe=True)
    metrics = Metrics(
        registry=reg,
        accepted=Counter("pinterest_api_records_accepted", "Records acknowledged by Kafka",
                         ["topic"], registry=reg),
        rejected=Counter("pinterest_api_records_rejected", "Records refused, by HTTP status and reason",
                         ["topic", "status", "reason"], registry=reg),
        latency=Histogram("pinterest_api_produce_latency_seconds",
                          "Time from send to Kafka acknowledgement, per request", ["topic"],
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                          registry=reg),
    )
    if producer is not None:
        reg.register(_ProducerCollector(producer))
    for topic in registry.topics().values():  # pre-bound children: label lookup is off the hot path
        metrics.accepted_children[topic] = metrics.accepted.labels(topic)
        metrics.latency_children[topic] = metrics.latency.labels(topic)
    return metrics
