"""Reload swaps the policy atomically; a broken directory keeps the old policy in force."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from policies import PolicyError, PolicySet, PolicyStore
from policies.loader import PACKAGED_POLICY_DIR


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(PACKAGED_POLICY_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return copy


def _set_k_min(policy_dir: Path, value: str) -> None:
    path = policy_dir / "programs" / "kec-sumbersari.yaml"
    path.write_text(re.sub(r"k_min: \d+", f"k_min: {value}", path.read_text()))


def test_reload_swaps_in_a_valid_change_and_notifies_subscribers(policy_dir: Path) -> None:
    store = PolicyStore(policy_dir)
    seen: list[PolicySet] = []
    store.subscribe(seen.append)
    old = store.current
    assert store.reload() is False
    assert seen == []
    _set_k_min(policy_dir, "7")
    assert store.reload() is True
    assert store.current is not old
    assert store.current.programs["kec-sumbersari"].k_min == 7
    assert seen == [store.current]
    assert store.last_error is None


def test_a_broken_file_keeps_the_old_policy_and_records_the_error(policy_dir: Path) -> None:
    store = PolicyStore(policy_dir)
    seen: list[PolicySet] = []
    store.subscribe(seen.append)
    old = store.current
    _set_k_min(policy_dir, "0")
    assert store.reload() is False
    assert store.current is old
    assert store.current.programs["kec-sumbersari"].k_min == 5
    assert seen == []
    assert isinstance(store.last_error, PolicyError)
    assert store.last_error.problems[0].file == "programs/kec-sumbersari.yaml"
    _set_k_min(policy_dir, "6")
    assert store.reload() is True
    assert store.last_error is None
    assert seen == [store.current]


def test_a_broken_change_never_opens_access(policy_dir: Path) -> None:
    """Granting a field while breaking another file leaves the grant out of force."""
    store = PolicyStore(policy_dir)
    with (policy_dir / "policy.csv").open("a") as csv:
        csv.write("p, kec-sumbersari, Household.welfareDecile, FULL\n")
        csv.write("p, kec-sumbersari, Household.nothing, FULL\n")
    assert store.reload() is False
    program = store.current.programs["kec-sumbersari"]
    assert program.mode("Household", "welfareDecile").value == "DENIED"


def test_a_failing_subscriber_does_not_undo_the_swap(policy_dir: Path) -> None:
    store = PolicyStore(policy_dir)
    calls: list[str] = []

    def failing(_: PolicySet) -> None:
        calls.append("failing")
        raise RuntimeError("schema rebuild failed")

    store.subscribe(failing)
    unsubscribe = store.subscribe(lambda _: calls.append("second"))
    _set_k_min(policy_dir, "8")
    assert store.reload() is True
    assert calls == ["failing", "second"]
    assert store.current.programs["kec-sumbersari"].k_min == 8
    unsubscribe()
    _set_k_min(policy_dir, "9")
    assert store.reload() is True
    assert calls == ["failing", "second", "failing"]


def test_a_store_cannot_start_from_a_broken_directory(policy_dir: Path) -> None:
    (policy_dir / "policy.csv").write_text("p, nobody\n")
    with pytest.raises(PolicyError):
        PolicyStore(policy_dir)


def test_a_policy_set_is_decided_once_per_version(policy_dir: Path, tmp_path: Path) -> None:
    """Every store of one process shares the set decided for the same files (by version);
    changed files are decided anew, and their set is not the old one."""
    first = PolicyStore(policy_dir).current
    elsewhere = tmp_path / "copy"
    shutil.copytree(policy_dir, elsewhere)
    assert PolicyStore(elsewhere).current is first
    _set_k_min(elsewhere, "9")
    changed = PolicyStore(elsewhere).current
    assert changed is not first
    assert changed.version != first.version
    assert changed.programs["kec-sumbersari"].k_min == 9
    assert first.programs["kec-sumbersari"].k_min != 9
    _set_k_min(elsewhere, "x")
    with pytest.raises(PolicyError):
        PolicyStore(elsewhere)
