"""The audit's verdicts on host trees of known kinds (tests/tune/fixtures, see make_trees.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tickpath.tune import ITEM_IDS, AuditItem, Status, audit

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OK, WARN, FAIL, UNKNOWN = Status.OK, Status.WARN, Status.FAIL, Status.UNKNOWN


def by_id(items: list[AuditItem]) -> dict[str, AuditItem]:
    return {i.id: i for i in items}


def verdicts(items: list[AuditItem]) -> dict[str, Status]:
    return {i.id: i.status for i in items}


TUNED = {
    "virt.hypervisor": OK, "virt.steal": OK,
    "cpu.pinned": OK, "cpu.isolcpus": OK, "cpu.nohz_full": OK, "cpu.rcu_nocbs": OK,
    "cpu.irqaffinity": OK, "irq.nic_affinity": OK, "irq.irqbalance": OK,
    "power.governor": OK, "power.cstates": OK, "power.cstate_cmdline": OK, "power.turbo": OK,
    "power.cpu_dma_latency": OK, "mem.thp": OK, "mem.swap": OK, "mem.numa": OK,
    "clock.source": OK, "clock.tsc": OK, "clock.ptp_hw": OK, "clock.sync": OK,
    "nic.iface": OK, "nic.driver": OK, "nic.rings": UNKNOWN, "nic.coalesce": UNKNOWN,
    "nic.timestamping": UNKNOWN, "nic.xdp": UNKNOWN, "nic.busy_poll": OK, "tuned.profile": OK,
}

UNTUNED = {
    "virt.hypervisor": OK, "virt.steal": OK,
    "cpu.pinned": WARN, "cpu.isolcpus": FAIL, "cpu.nohz_full": WARN, "cpu.rcu_nocbs": WARN,
    "cpu.irqaffinity": WARN, "irq.nic_affinity": FAIL, "irq.irqbalance": WARN,
    "power.governor": FAIL, "power.cstates": FAIL, "power.cstate_cmdline": WARN,
    "power.turbo": WARN, "power.cpu_dma_latency": WARN, "mem.thp": WARN, "mem.swap": WARN,
    "mem.numa": OK, "clock.source": FAIL, "clock.tsc": OK, "clock.ptp_hw": WARN,
    "clock.sync": WARN, "nic.iface": OK, "nic.driver": OK, "nic.rings": UNKNOWN,
    "nic.coalesce": UNKNOWN, "nic.timestamping": UNKNOWN, "nic.xdp": UNKNOWN,
    "nic.busy_poll": WARN, "tuned.profile": WARN,
}

VM = {
    "virt.hypervisor": WARN, "virt.steal": WARN,
    "cpu.pinned": OK, "cpu.isolcpus": FAIL, "cpu.nohz_full": WARN, "cpu.rcu_nocbs": WARN,
    "cpu.irqaffinity": WARN, "irq.nic_affinity": FAIL, "irq.irqbalance": OK,
    "power.governor": UNKNOWN, "power.cstates": UNKNOWN, "power.cstate_cmdline": UNKNOWN,
    "power.turbo": UNKNOWN, "power.cpu_dma_latency": UNKNOWN, "mem.thp": OK, "mem.swap": OK,
    "mem.numa": OK, "clock.source": WARN, "clock.tsc": OK, "clock.ptp_hw": WARN,
    "clock.sync": WARN, "nic.iface": OK, "nic.driver": WARN, "nic.rings": UNKNOWN,
    "nic.coalesce": UNKNOWN, "nic.timestamping": UNKNOWN, "nic.xdp": WARN,
    "nic.busy_poll": WARN, "tuned.profile": UNKNOWN,
}


@pytest.mark.parametrize("tree,cores,expected", [
    ("tuned", [2, 3], TUNED),
    ("untuned", [2, 3], UNTUNED),
    ("vm", [1], VM),
], ids=["tuned", "untuned", "vm"])
def test_verdict_of_every_item(tree, cores, expected):
    items = audit(FIXTURES / tree, cores=cores)
    assert [i.id for i in items] == list(ITEM_IDS)
    assert set(expected) == set(ITEM_IDS)
    got = verdicts(items)
    wrong = {k: (got[k].value, v.value) for k, v in expected.items() if got[k] != v}
    assert not wrong, f"(got, expected) per id: {wrong}"


@pytest.mark.parametrize("tree", ["tuned", "untuned", "vm", "sparse"])
def test_every_item_is_answered_with_evidence(tree):
    for it in audit(FIXTURES / tree, cores=[1]):
        assert it.area == it.id.split(".")[0]
        assert it.summary and it.title
        assert it.evidence, it.id
        if it.status in (WARN, FAIL):
            assert it.remedy, f"{it.id} is {it.status} without a remedy"


def test_tuned_host_without_cores_warns_that_none_are_configured():
    items = by_id(audit(FIXTURES / "tuned"))
    assert items["cpu.pinned"].status is WARN
    assert "2-3" in items["cpu.pinned"].summary            # says which cores are isolated
    assert "--cores 2,3" in items["cpu.pinned"].remedy[0]
    assert items["cpu.isolcpus"].status is OK
    assert "2-3" in items["cpu.isolcpus"].summary
    # NIC interrupts are then checked against the isolated cores.
    assert items["irq.nic_affinity"].status is OK
    assert items["mem.numa"].status is WARN                # two nodes, nothing pinned to compare


def test_tuned_host_pinned_off_the_isolated_cores_and_the_nic_node():
    items = by_id(audit(FIXTURES / "tuned", cores=[5]))
    assert items["cpu.isolcpus"].status is FAIL
    assert "5" in items["cpu.isolcpus"].summary
    assert items["mem.numa"].status is FAIL
    assert "node 0" in items["mem.numa"].summary
    assert items["cpu.irqaffinity"].status is WARN        # default affinity 0-1,4-7 includes 5


def test_tuned_evidence_names_what_was_read():
    items = by_id(audit(FIXTURES / "tuned", cores=[2, 3]))
    iso = "\n".join(items["cpu.isolcpus"].evidence)
    assert "/proc/cmdline: isolcpus=managed_irq,domain,2-3" in iso
    assert "/sys/devices/system/cpu/isolated: 2-3" in iso
    irq = "\n".join(items["irq.nic_affinity"].evidence)
    for n in range(140, 144):                              # named by PCI address and msi_irqs
        assert f"IRQ {n} " in irq
    assert "/proc/irq/141/smp_affinity_list 0-1" in irq
    assert "tuned (pid 812)" in items["power.cpu_dma_latency"].summary
    assert "ptp4l" in items["clock.sync"].summary
    assert "ens1f0" in items["nic.iface"].summary
    assert "mlx5_core" in items["nic.driver"].summary
    assert "needs the live host" in items["nic.rings"].summary
    assert any("ptp0" in e for e in items["nic.timestamping"].evidence)


def test_untuned_remedies_are_exact():
    items = by_id(audit(FIXTURES / "untuned", cores=[2, 3]))
    assert "isolcpus=managed_irq,domain,2-3" in items["cpu.isolcpus"].remedy[0]
    assert "nohz_full=2-3" in items["cpu.nohz_full"].remedy[0]
    assert "rcu_nocbs=2-3" in items["cpu.rcu_nocbs"].remedy[0]
    assert "irqaffinity=0-1" in items["cpu.irqaffinity"].remedy[0]
    irq = items["irq.nic_affinity"]
    assert "5 of 5" in irq.summary
    assert "echo 0-1 > /proc/irq/50/smp_affinity_list" in irq.remedy
    assert "echo 0-1 > /proc/irq/54/smp_affinity_list" in irq.remedy
    assert "IRQBALANCE_BANNED_CPULIST=2-3" in " ".join(items["irq.irqbalance"].remedy)
    gov = items["power.governor"]
    assert "powersave" in gov.summary
    assert gov.remedy[0] == ("echo performance | tee "
                             "/sys/devices/system/cpu/cpu{2,3}/cpufreq/scaling_governor")
    cs = items["power.cstates"]
    assert "C6 (133 us)" in cs.summary
    assert "/sys/devices/system/cpu/cpu{2,3}/cpuidle/{state2,state3}/disable" in cs.remedy[0]
    assert "intel_idle.max_cstate=0" in items["power.cstate_cmdline"].remedy[0]
    assert "/sys/devices/system/cpu/intel_pstate/no_turbo" in items["power.turbo"].remedy[0]
    assert "/dev/cpu_dma_latency" in items["power.cpu_dma_latency"].remedy[1]
    assert "echo never > /sys/kernel/mm/transparent_hugepage/enabled" in \
        items["mem.thp"].remedy[0]
    swap = items["mem.swap"]
    assert "/dev/sda2" in swap.summary and "swappiness 60" in swap.summary
    assert any("/etc/fstab" in e for e in swap.evidence)
    src = items["clock.source"]
    assert "hpet" in src.summary
    assert "echo tsc > /sys/devices/system/clocksource/clocksource0/current_clocksource" in \
        src.remedy
    assert "net.core.busy_poll=50" in items["nic.busy_poll"].remedy[0]
    assert "balanced" in items["tuned.profile"].summary
    assert "SMT" in items["cpu.pinned"].remedy[0] or "nosmt" in items["cpu.pinned"].remedy[0]


def test_vm_says_which_items_it_makes_moot():
    items = by_id(audit(FIXTURES / "vm", cores=[1]))
    hv = items["virt.hypervisor"]
    assert "virtual machine" in hv.summary and "QEMU" in hv.summary
    moot = " ".join(hv.evidence)
    assert "power.governor" in moot and "power.cstates" in moot
    for id_ in ("power.governor", "power.cstates", "power.turbo"):
        assert items[id_].summary.startswith("moot in a virtual machine"), id_
    steal = items["virt.steal"]
    assert "2.0" in steal.summary                          # 2000 of ~97k ticks per core
    assert any("/proc/stat: steal" in e for e in steal.evidence)
    assert "tsc is available" in items["clock.source"].summary
    assert "virtio_net" in items["nic.driver"].summary
    assert "copy mode" in items["nic.xdp"].summary
    # the virtio NIC's interrupts are found through its device name and the PCI function
    irq = items["irq.nic_affinity"]
    assert "3 of 3" in irq.summary
    assert "echo 0 > /proc/irq/26/smp_affinity_list" in irq.remedy


def test_sparse_tree_reports_missing_files_as_unknown():
    items = audit(FIXTURES / "sparse")
    by = by_id(items)
    unknown = [i for i in items if i.status is UNKNOWN]
    assert len(unknown) >= 20
    for id_ in ("virt.steal", "mem.swap", "mem.thp", "clock.source", "clock.tsc",
                "power.cpu_dma_latency", "nic.busy_poll"):
        assert by[id_].status is UNKNOWN
        assert "not present: /" in by[id_].summary, id_
    # what the command line alone decides is still decided
    assert by["cpu.isolcpus"].status is WARN
    assert by["power.cstate_cmdline"].status is WARN
    # no process table: daemons are not reported absent, they are unknown
    assert by["irq.irqbalance"].status is UNKNOWN
    assert by["clock.sync"].status is UNKNOWN


def test_an_empty_root_never_raises(tmp_path):
    items = audit(tmp_path, cores="0-1", iface="eth9")
    assert [i.id for i in items] == list(ITEM_IDS)
    assert by_id(items)["cpu.isolcpus"].summary.startswith("not present: /proc/cmdline")
    assert all(i.status in (UNKNOWN, WARN, FAIL, OK) for i in items)


def test_named_interface_that_is_absent_fails():
    items = by_id(audit(FIXTURES / "tuned", cores=[2, 3], iface="ens9"))
    assert items["nic.iface"].status is FAIL
    assert "ens9" in items["nic.iface"].summary
    assert "ens1f0" in items["nic.iface"].remedy[0]       # lists the interfaces there are
    assert items["nic.driver"].status is UNKNOWN


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        audit(FIXTURES / "tuned", cores="2-x")
    with pytest.raises(ValueError):
        audit(FIXTURES / "tuned", cores=[-1])
    with pytest.raises(NotADirectoryError):
        audit(FIXTURES / "no-such-tree")


def test_items_serialise_to_plain_json_types():
    import json

    doc = [i.to_dict() for i in audit(FIXTURES / "untuned", cores=[2, 3])]
    back = json.loads(json.dumps(doc))
    assert back[0].keys() >= {"id", "area", "status", "evidence", "remedy"}
    assert {d["status"] for d in back} <= {"ok", "warn", "fail", "unknown"}
