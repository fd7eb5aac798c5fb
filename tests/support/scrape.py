"""Reading `/metrics` as Prometheus does: the text format parsed by prometheus_client's own parser, and the
difference between two scrapes (the counters of a long-lived process only grow, so a test compares before/after)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import requests
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, frozenset[tuple[str, str]]]


@dataclass(frozen=True)
class Scrape:
    families: dict[str, Metric]
    samples: dict[Key, float]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        families = {family.name: family for family in text_string_to_metric_families(text)}
        samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in families.values()
            for sample in family.samples
        }
        return cls(families, samples)

    def total(self, name: str, **labels: str) -> float:
        """The sum of `name` over every series whose labels include `labels`."""
        wanted = set(labels.items())
        return sum(value for (sample, found), value in self.samples.items() if sample == name and wanted <= found)

    def series(self, name: str) -> list[dict[str, str]]:
        return [dict(found) for sample, found in self.samples if sample == name]

    def since(self, earlier: Scrape) -> Scrape:
        """What grew between `earlier` and this scrape (gauges are kept as they are now)."""
        grown = {key: value - earlier.samples.get(key, 0.0) for key, value in self.samples.items()}
        return Scrape(self.families, {key: value for key, value in grown.items() if value})


def scrape(base_url: str, token: str, headers: Mapping[str, str] | None = None) -> Scrape:
    response = get(base_url, token, headers)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain"), response.headers["Content-Type"]
    return Scrape.parse(response.text)


def get(base_url: str, token: str | None, headers: Mapping[str, str] | None = None) -> requests.Response:
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return requests.get(base_url + "/metrics", headers=sent, timeout=30)
