"""Where a gateway worker's CPU goes under load: py-spy samples, grouped by component.

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;… count``)
of the samples where a thread was running (idle waits in the event loop are
not sampled). Each sample is charged to the *component* of its deepest
product frame (``api/``, ``audit/``, ``schema/``, ``db/``, ``policies/``); samples with no
product frame are charged to the library at their leaf (uvicorn/httptools,
Starlette, asyncpg protocol, the event loop). The inclusive view counts a
sample once for every product function on its stack.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")

COMPONENTS: list[tuple[str, str]] = [
    # (path fragment, component); first match on the deepest product frame wins
    ("/audit/", "audit writer (canonical JSON, hash chain, COPY, commit)"),
    ("api/observability/", "observability (metrics, logs, request id)"),
    ("api/quotas", "quotas"),
    ("db/quota_store", "quotas"),
    ("api/auth/", "authentication (bearer token)"),
    ("schema/compiler/selection", "field collection (per request)"),
    ("schema/compiler/", "root compilers: prepare (filters, cursors)"),
    ("schema/documents", "document cache / limits"),
    ("schema/limits", "document cache / limits"),
    ("schema/execute", "engine: variables, arguments, SQL round trip, splice"),
    ("db/reader", "reads: pool, statements (db/reader)"),
    ("api/graphql/endpoint", "endpoint: body, audit event, response"),
    ("api/", "other api"),
    ("schema/", "other schema"),
    ("policies/", "policies"),
    ("db/", "other db"),
]
LIBRARIES: list[tuple[str, str]] = [
    ("asyncpg/", "asyncpg protocol (outside product frames)"),
    ("uvicorn/", "uvicorn / httptools HTTP"),
    ("httptools", "uvicorn / httptools HTTP"),
    ("starlette/", "Starlette routing, request, response"),
    ("graphql/", "graphql-core (outside product frames)"),
    ("asyncio/", "event loop (asyncio / uvloop)"),
    ("uvloop", "event loop (asyncio / uvloop)"),
]
PRODUCT = ("/api/", "/audit/", "/schema/", "/db/", "/policies/", "/errors.py")
LAUNCHER = "/api/cli/"
"""``regsosek serve`` frames sit under every sample of a single-worker server: not work."""


@dataclass
class Frame:
    function: str
    file: str

    @property
    def product(self) -> bool:
        path = "/" + self.file
        return (
            any(part in path for part in PRODUCT)
            and LAUNCHER not in path
            and "site-packages" not in path
        )

    @property
    def label(self) -> str:
        short = re.sub(r".*/(site-packages|main)/", "", self.file)
        return f"{self.function} ({short})"


def _frames(stack: str) -> list[Frame]:
    frames = []
    for raw in stack.split(";"):
        match = FRAME.match(raw.strip())
        if match:
            frames.append(Frame(match["function"], match["file"]))
        else:
            frames.append(Frame(raw.strip(), ""))
    return frames


@dataclass
class Profile:
    samples: int = 0
    components: Counter[str] = field(default_factory=Counter)
    leaves: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)

    def share(self, counter: Counter[str], top: int) -> list[tuple[str, float]]:
        return [(name, 100 * n / max(1, self.samples)) for name, n in counter.most_common(top)]

    def as_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "components_pct": dict(self.share(self.components, 30)),
            "self_pct": dict(self.share(self.leaves, 25)),
            "product_inclusive_pct": dict(self.share(self.inclusive, 25)),
        }


def component(frames: list[Frame]) -> str:
    product = [f for f in frames if f.product]
    if product:
        path = "/" + product[-1].file
        for fragment, name in COMPONENTS:
            if fragment in path:
                return name
    leaf = "/" + (frames[-1].file if frames else "")
    for fragment, name in LIBRARIES:
        if fragment in leaf:
            return name
    for frame in reversed(frames):
        for fragment, name in LIBRARIES:
            if fragment in frame.file:
                return name
    return "other (interpreter, C extensions)"


def analyse(path: Path) -> Profile:
    profile = Profile()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        profile.samples += count
        profile.components[component(frames)] += count
        if frames:
            profile.leaves[frames[-1].label] += count
        for label in {f.label for f in frames if f.product}:
            profile.inclusive[label] += count
    return profile


SPY = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "py-spy"


async def record(pid: int, output: Path, *, seconds: float, rate: int = 250) -> None:
    """py-spy on ``pid`` and its subprocesses (uvicorn workers) for ``seconds``."""
    process = await asyncio.create_subprocess_exec(
        str(SPY),
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--nonblocking",
        "--rate",
        str(rate),
        "--duration",
        str(max(1, round(seconds))),
        "--format",
        "raw",
        "--output",
        str(output),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"py-spy failed: {out.decode(errors='replace')[-1000:]}")


def render(name: str, profile: Profile) -> list[str]:
    lines = [f"#### {name}: {profile.samples:,} samples while running", ""]
    lines += ["| component | share of samples |", "| --- | ---: |"]
    lines += [f"| {c} | {p:.1f} % |" for c, p in profile.share(profile.components, 30)]
    lines += ["", "| product function (inclusive) | share |", "| --- | ---: |"]
    lines += [f"| `{f}` | {p:.1f} % |" for f, p in profile.share(profile.inclusive, 15)]
    lines += ["", "| leaf function (self) | share |", "| --- | ---: |"]
    lines += [f"| `{f}` | {p:.1f} % |" for f, p in profile.share(profile.leaves, 15)]
    return [*lines, ""]
