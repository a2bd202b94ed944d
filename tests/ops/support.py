"""Helpers of the operations tests: scraping /metrics, policies with small quotas."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support import REPO

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Series:
    """Every sample of an exposition text, keyed by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(http: httpx.AsyncClient) -> tuple[str, Series]:
    answer = await http.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text, parse_metrics(answer.text)


def value(series: Series, name: str, **labels: str) -> float:
    return series.get((name, frozenset(labels.items())), 0.0)


def names(series: Series) -> set[str]:
    return {name for name, _ in series}


def tight_policies(tmp_path: Path, *, program: str, requests_per_minute: int) -> Path:
    """A copy of the shipped policies where ``program`` may send few requests a minute."""
    directory = tmp_path / "policies"
    shutil.copytree(
        REPO / "policies", directory, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    program_file = directory / "programs" / f"{program}.yaml"
    document = yaml.safe_load(program_file.read_text())
    document["quota"] = {"requests_per_minute": requests_per_minute, "rows_per_day": 1_000_000}
    program_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return directory
