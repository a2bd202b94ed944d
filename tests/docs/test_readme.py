"""The README's walk-through is true: step 4's claims about dp3akb-keluarga and dinkes-pbi are
checked against the running gateway, and the demo prints credentials a person can copy."""

from __future__ import annotations

import io
import re

import httpx
from rich.console import Console
from starlette.applications import Starlette

from api.cli.demo import welcome_lines
from tests.schema.conftest import token_headers
from tests.support import REPO

README = (REPO / "README.md").read_text()
STEP_3 = re.search(r"3\. Page through.*?```graphql\n(.*?)```", README, re.S)
STEP_4 = re.search(r"\n4\. (.*?)\n5\. ", README, re.S)


def _step(text: re.Match[str] | None) -> str:
    assert text is not None, "the README's walk-through changed shape"
    return text.group(1)


async def test_step_4_names_every_field_dp3akb_lacks_in_step_3s_query(
    app: Starlette, http: httpx.AsyncClient, registry_url: str
) -> None:
    query = _step(STEP_3)
    headers = await token_headers(app, http, owner_url=registry_url, program="dp3akb-keluarga")
    refused = await http.post("/graphql", json={"query": query}, headers=headers)
    missing = set(re.findall(r"Cannot query field '(\w+)'", refused.text))
    assert missing == {"kkNumber", "welfareDecile"}, refused.text
    step_4 = " ".join(_step(STEP_4).split())
    for name in missing:
        assert f"`{name}`" in step_4, f"README step 4 does not say dp3akb lacks {name}"
    trimmed = query.replace(" kkNumber", "").replace(" welfareDecile", "")
    answered = await http.post("/graphql", json={"query": trimmed}, headers=headers)
    assert answered.status_code == 200, answered.text
    nodes = answered.json()["data"]["households"]["nodes"]
    assert nodes
    assert all("*" in member["nik"] for node in nodes for member in node["members"])


async def test_step_4_gives_the_dinkes_pseudonyms_field_name(
    app: Starlette, http: httpx.AsyncClient, registry_url: str
) -> None:
    step_4 = " ".join(_step(STEP_4).split())
    query = re.search(r"`(persons \{ nodes \{ [^`]* \} \})`", step_4)
    assert query is not None
    assert "**`nik`** holds a per-program pseudonym" in step_4
    headers = await token_headers(app, http, owner_url=registry_url, program="dinkes-pbi")
    answer = await http.post(
        "/graphql",
        json={"query": "{ " + query.group(1) + " }"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    nodes = answer.json()["data"]["persons"]["nodes"]
    assert nodes
    assert not any(re.fullmatch(r"\d{16}", node["nik"]) for node in nodes)


def test_the_demo_prints_each_client_on_one_line_an_80_column_terminal_keeps_whole() -> None:
    clients = {
        "dinsos-pkh": {"client_id": "rc_" + "a" * 24, "client_secret": "S" * 43},
        "dp3akb-perlindungan-anak": {"client_id": "rc_" + "b" * 24, "client_secret": "T" * 43},
    }
    screen = io.StringIO()
    console = Console(file=screen, width=80)
    for line in welcome_lines(clients, base="http://127.0.0.1:8000", path=REPO / "x.json"):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    printed = screen.getvalue().splitlines()
    for credentials in clients.values():
        line = next(line for line in printed if credentials["client_secret"] in line)
        assert line.startswith("export ")
        assert credentials["client_id"] in line
    assert "export DP3AKB_PERLINDUNGAN_ANAK_CLIENT_ID=" in screen.getvalue()
    assert str(REPO / "x.json") in screen.getvalue()


def test_the_readme_and_the_integrators_guide_say_how_to_run_the_cli() -> None:
    guide = (REPO / "docs" / "integrating.md").read_text()
    for text in (README, guide):
        assert ".venv/bin/regsosek" in text
        assert "source .venv/bin/activate" in text
        assert "python -m regsosek" in text
    assert "make run PORT=8012" in README
    assert "REGSOSEK_PORT" in README
    assert "regsosek db stop" in README
