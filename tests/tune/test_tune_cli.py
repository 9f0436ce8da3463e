"""``tickpath tune audit`` as a deployment script runs it: JSON, exit codes, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tickpath.tune import ITEM_IDS
from tickpath.tune.cli import app

FIXTURES = Path(__file__).resolve().parent / "fixtures"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["audit", *args])


def test_json_to_stdout_and_exit_0_when_nothing_failed():
    r = run("--root", str(FIXTURES / "tuned"), "--cores", "2,3", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [d["id"] for d in doc] == list(ITEM_IDS)
    for d in doc:
        assert set(d) >= {"id", "area", "status", "evidence", "remedy"}
        assert d["status"] in ("ok", "warn", "fail", "unknown")
    assert {d["id"]: d["status"] for d in doc}["cpu.isolcpus"] == "ok"


def test_exit_1_when_any_item_failed():
    r = run("--json", "--root", str(FIXTURES / "untuned"), "--cores", "2-3")
    assert r.exit_code == 1
    failed = {d["id"] for d in json.loads(r.stdout) if d["status"] == "fail"}
    assert {"cpu.isolcpus", "irq.nic_affinity", "power.governor", "clock.source"} <= failed


def test_json_file_and_table(tmp_path):
    out = tmp_path / "audit.json"
    r = run("--root", str(FIXTURES / "vm"), "--cores", "1", "--json", str(out))
    assert r.exit_code == 1                                # isolcpus and NIC interrupts fail
    doc = json.loads(out.read_text())
    assert {d["id"]: d["status"] for d in doc}["virt.hypervisor"] == "warn"
    assert "virt.hypervisor" in r.stdout and "What to do" in r.stdout
    assert "fail" in r.stdout


def test_table_without_cores_lists_every_item():
    r = run("--root", str(FIXTURES / "tuned"))
    assert r.exit_code == 0, r.output
    for id_ in ITEM_IDS:
        assert id_ in r.stdout


def test_iface_option():
    r = run("--root", str(FIXTURES / "tuned"), "--cores", "2,3", "--iface", "lo", "--json")
    doc = {d["id"]: d for d in json.loads(r.stdout)}
    assert "lo" in doc["nic.iface"]["summary"]


def test_usage_errors_exit_2(tmp_path):
    assert run("--root", str(FIXTURES / "tuned"), "--cores", "two").exit_code == 2
    assert run("--root", str(tmp_path / "absent")).exit_code == 2
    assert run("--root", str(FIXTURES / "tuned"), "--json",
               str(tmp_path / "no" / "dir" / "a.json")).exit_code == 2
    assert run("--bogus").exit_code == 2


def test_docs_explain_every_item():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "tuning.md").read_text()
    missing = [i for i in ITEM_IDS if f"**{i}**" not in doc]
    assert not missing, f"docs/tuning.md does not explain {missing}"
