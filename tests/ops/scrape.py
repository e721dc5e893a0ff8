"""Reading the metrics endpoint as Prometheus does: over HTTP, parsed with prometheus-client's parser."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    def __init__(self, text: str) -> None:
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        self.families: set[str] = set()
        for family in text_string_to_metric_families(text):
            self.families.add(family.name)
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(base_url: str) -> Scrape:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{base_url}/metrics")
    response.raise_for_status()
    return Scrape(response.text)
