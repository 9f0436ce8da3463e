"""The readers under the audit: CPU lists and masks, the kernel command line, /proc/interrupts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickpath.tune.audit import parse_cores
from tickpath.tune.context import isolcpus_value
from tickpath.tune.host import (
    Cmdline,
    format_cpulist,
    format_cpumask,
    parse_cpulist,
    parse_cpumask,
)
from tickpath.tune.irq import action, parse_interrupts
from tickpath.tune.memory import bracketed


@pytest.mark.parametrize("text,cpus", [
    ("0-3,8", {0, 1, 2, 3, 8}),
    ("2", {2}),
    ("", set()),
    ("(null)", set()),
    ("0-15:2/4", {0, 1, 4, 5, 8, 9, 12, 13}),
    ("1-N", {1, 2, 3}),
    ("all", {0, 1, 2, 3}),
])
def test_parse_cpulist(text, cpus):
    assert parse_cpulist(text, nr_cpus=4) == cpus


@pytest.mark.parametrize("text", ["x", "3-1", "1-", "0-3:5/4", "1,,2"])
def test_parse_cpulist_rejects(text):
    with pytest.raises(ValueError):
        parse_cpulist(text, nr_cpus=4)


@given(st.sets(st.integers(0, 300), max_size=40))
def test_cpulist_round_trip(cpus):
    if cpus:
        assert parse_cpulist(format_cpulist(cpus)) == cpus
        assert parse_cpumask(format_cpumask(cpus)) == cpus


def test_cpulist_format_and_masks():
    assert format_cpulist({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert format_cpulist(set()) == "none"
    assert parse_cpumask("ff,00000003") == {0, 1} | set(range(32, 40))
    assert format_cpumask({0, 1, 4}) == "13"


def test_cmdline_stops_at_init_arguments_and_normalises_dashes():
    cl = Cmdline.parse('BOOT_IMAGE=/vmlinuz ro quiet isolcpus=2-3 rcu-nocbs=2-3 '
                       'acpi_osi="Windows 2020" -- --nohz_full=1 nohz_full=0')
    assert cl.get("isolcpus") == "2-3"
    assert cl.get("rcu_nocbs") == "2-3" and cl.has("rcu-nocbs")
    assert cl.has("quiet") and cl.get("quiet") is None
    assert cl.get("acpi_osi") == "Windows 2020"
    assert not cl.has("nohz_full")                        # after --: the init's arguments
    assert cl.show("isolcpus", "quiet", "idle") == "isolcpus=2-3 quiet"


def test_isolcpus_flags():
    assert isolcpus_value("managed_irq,domain,2-3", 8) == (["managed_irq", "domain"], {2, 3})
    assert isolcpus_value("1,3", 8) == ([], {1, 3})
    assert isolcpus_value(None, 8) is None


def test_parse_cores():
    assert parse_cores("2,3") == frozenset({2, 3})
    assert parse_cores([4, 5]) == frozenset({4, 5})
    assert parse_cores(None) is None and parse_cores("") is None
    for bad in ("a", [1.5], [True], [-2]):
        with pytest.raises(ValueError):
            parse_cores(bad)


def test_interrupts_lines():
    text = ("           CPU0       CPU1       \n"
            " 24:          1          0  IO-APIC   5-edge      ACPI:Ged\n"
            " 38:          0       5729 PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0\n"
            "141:       9000          0  IR-PCI-MSI 31457281-edge      "
            "mlx5_comp0@pci:0000:3b:00.0\n"
            "NMI:          0          0   Non-maskable interrupts\n")
    irqs = {q.number: q for q in parse_interrupts(text)}
    assert set(irqs) == {24, 38, 141}
    assert irqs[38].counts == {0: 0, 1: 5729}
    assert action(irqs[38].name) == "virtio2-input.0"
    assert action(irqs[141].name) == "mlx5_comp0@pci:0000:3b:00.0"
    assert action(irqs[24].name) == "ACPI:Ged"


def test_bracketed_choice():
    assert bracketed("always [madvise] never") == "madvise"
    assert bracketed("never") == "never"
    assert bracketed(None) is None
