"""IR -> generated module (tickpath.codec.sbe.generate): the naming contract, compiled accessors
and encoders round-tripping on a buffer, collisions refused, and the committed MDP3 modules
equal to a fresh generation from the shared schemas."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from numba import njit
from numba.core.registry import CPUDispatcher
from sbe_cases import TOY_MESSAGES, import_path, toy_module, toy_schema, toy_xml, write

from tickpath.codec.mdp3 import schema_v9, schema_v13
from tickpath.codec.sbe import GenerationError, from_plain, generate_source, load_schema
from tickpath.codec.sbe.fields import get_chars


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return toy_module(tmp_path_factory.mktemp("gen"))


def test_toy_constants(toy):
    assert (toy.SCHEMA_ID, toy.SCHEMA_VERSION, toy.HEADER_SIZE) == (91, 3, 8)
    assert (toy.HEADER_BLOCK_LENGTH_OFFSET, toy.HEADER_TEMPLATE_ID_OFFSET,
            toy.HEADER_SCHEMA_ID_OFFSET, toy.HEADER_VERSION_OFFSET) == (0, 2, 4, 6)
    assert (toy.BOOK46_ID, toy.BOOK46_BLOCK_LENGTH) == (46, 11)
    assert (toy.BOOK46_FLAGS_OFFSET, toy.BOOK46_FLAGS_SIZE) == (8, 1)
    assert toy.BOOK46_NO_MD_ENTRIES_BLOCK_LENGTH == 24
    assert toy.BOOK46_NO_MD_ENTRIES_HEADER_SIZE == 3
    assert toy.BOOK46_NO_ORDER_ID_ENTRIES_HEADER_SIZE == 8
    assert toy.BOOK46_NO_MD_ENTRIES_MD_ENTRY_PX_NULL == (1 << 63) - 1
    assert toy.BOOK46_NO_MD_ENTRIES_MD_ENTRY_SIZE_NULL == (1 << 31) - 1
    assert toy.BOOK46_NO_MD_ENTRIES_SIDE_NULL == 255
    assert not hasattr(toy, "BOOK46_NO_MD_ENTRIES_SECURITY_ID_NULL")  # required
    assert toy.BOOK46_NO_MD_ENTRIES_TRADEABLE_SIZE_SINCE == 3
    assert toy.BOOK46_NO_MD_ENTRIES_RESET_CONSTANT == ord("J")
    assert toy.DEFINITION7_ENTRY_KIND_CONSTANT == ord("1")  # valueRef EntryType.Offer
    assert toy.DEFINITION7_SINCE == 2 and toy.DEFINITION7_EXTRA_SINCE == 3
    assert (toy.DEFINITION7_SYMBOL_OFFSET, toy.DEFINITION7_SYMBOL_SIZE) == (0, 8)
    assert toy.DEFINITION7_NO_LEGS_NO_LEG_FILLS_BLOCK_LENGTH == 2
    assert toy.DEFINITION7_NO_LEGS_HEADER_SIZE == 4 and toy.DEFINITION7_TEXT_HEADER_SIZE == 2
    assert (toy.ENTRY_TYPE_BID, toy.ENTRY_TYPE_OFFER, toy.ENTRY_TYPE_BOOK_RESET) == (48, 49, 74)
    assert (toy.SIDE_BUY, toy.SIDE_SELL) == (1, 2)
    assert (toy.FLAGS_LAST_TRADE_BIT, toy.FLAGS_END_OF_EVENT_BIT) == (0, 7)
    assert (toy.PRICE9_MANTISSA_OFFSET, toy.PRICE9_EXPONENT, toy.PRICE9_SIZE) == (0, -9, 8)
    assert toy.GROUP_SIZE8_BYTE_NUM_IN_GROUP_OFFSET == 7
    assert from_plain(toy.SCHEMA).message(46).groups[0].block_length == 24


def test_accessors_are_compiled_lazily(toy):
    assert "book46_transact_time" not in vars(toy)  # nothing built at import
    fn = toy.book46_transact_time
    assert isinstance(fn, CPUDispatcher) and toy.book46_transact_time is fn
    assert "book46_transact_time" in dir(toy)
    with pytest.raises(AttributeError, match="has no attribute 'book46_nothing'"):
        toy.book46_nothing  # noqa: B018


def test_round_trip_root_group_and_header(toy):
    buf = np.zeros(256, np.uint8)
    toy.put_book46_header(buf, 0)
    assert (toy.header_block_length(buf, 0), toy.header_template_id(buf, 0),
            toy.header_schema_id(buf, 0), toy.header_version(buf, 0)) == (11, 46, 91, 3)
    toy.put_header(buf, 100, 1, 2, 3, 4)
    assert bytes(buf[100:108]) == bytes([1, 0, 2, 0, 3, 0, 4, 0])
    pos = toy.HEADER_SIZE
    toy.put_book46_transact_time(buf, pos, (1 << 64) - 2)
    toy.put_book46_flags(buf, pos, 0x81)
    assert toy.book46_transact_time(buf, pos) == (1 << 64) - 2
    assert toy.book46_flags(buf, pos) == 0x81
    g = pos + toy.BOOK46_BLOCK_LENGTH
    toy.put_book46_no_md_entries(buf, g, toy.BOOK46_NO_MD_ENTRIES_BLOCK_LENGTH, 2)
    assert toy.book46_no_md_entries(buf, g) == (24, 2)
    e = g + toy.BOOK46_NO_MD_ENTRIES_HEADER_SIZE
    toy.put_book46_no_md_entries_md_entry_px(buf, e, -123_456_789_000)
    toy.put_book46_no_md_entries_md_entry_size(buf, e, -5)
    toy.put_book46_no_md_entries_security_id(buf, e, 2_000_000_000)
    toy.put_book46_no_md_entries_entry_type(buf, e, toy.ENTRY_TYPE_OFFER)
    toy.put_book46_no_md_entries_side(buf, e, toy.SIDE_SELL)
    toy.put_book46_no_md_entries_tradeable_size(buf, e, 77)
    assert toy.book46_no_md_entries_md_entry_px(buf, e) == -123_456_789_000
    assert toy.book46_no_md_entries_md_entry_size(buf, e) == -5
    assert toy.book46_no_md_entries_security_id(buf, e) == 2_000_000_000
    assert toy.book46_no_md_entries_entry_type(buf, e) == ord("1")
    assert toy.book46_no_md_entries_side(buf, e) == 2
    # a field with a sinceVersion reads as its null from an older sender
    assert toy.book46_no_md_entries_tradeable_size(buf, e, 3) == 77
    assert toy.book46_no_md_entries_tradeable_size(buf, e, 2) == (1 << 31) - 1
    # the 8-byte group header keeps numInGroup at offset 7
    g2 = e + 24
    toy.put_book46_no_order_id_entries(buf, g2, 16, 200)
    assert toy.book46_no_order_id_entries(buf, g2) == (16, 200)
    assert buf[g2 + 7] == 200 and buf[g2 + 2] == 0


def test_round_trip_composites_arrays_nested_and_data(toy):
    buf = np.zeros(128, np.uint8)
    toy.put_definition7_symbol_str(buf, 0, "ESZ4")
    assert toy.definition7_symbol_str(buf, 0) == "ESZ4"
    assert get_chars(buf, toy.DEFINITION7_SYMBOL_OFFSET, toy.DEFINITION7_SYMBOL_SIZE) == "ESZ4"
    with pytest.raises(ValueError, match="longer than the 8-byte"):
        toy.put_definition7_symbol_str(buf, 0, "ABCDEFGHI")
    toy.put_definition7_price(buf, 0, 4_500_250_000_000)
    assert toy.definition7_price(buf, 0) == 4_500_250_000_000
    toy.put_definition7_maturity_year(buf, 0, 2024)
    toy.put_definition7_maturity_month(buf, 0, 12)
    assert (toy.definition7_maturity_year(buf, 0), toy.definition7_maturity_month(buf, 0)) == (
        2024, 12)
    assert toy.DEFINITION7_MATURITY_MONTH_NULL == 255
    toy.put_definition7_ratio(buf, 0, -0.125)
    assert toy.definition7_ratio(buf, 0) == -0.125
    toy.put_definition7_extra(buf, 0, 4_000_000_000)
    assert toy.definition7_extra(buf, 0, 3) == 4_000_000_000
    assert toy.definition7_extra(buf, 0, 2) == (1 << 32) - 1
    toy.put_definition7_no_legs(buf, 40, 4, 1)
    assert toy.definition7_no_legs(buf, 40) == (4, 1)
    toy.put_definition7_no_legs_no_leg_fills(buf, 48, 2, 3)
    assert toy.definition7_no_legs_no_leg_fills(buf, 48) == (2, 3)
    toy.put_definition7_no_legs_no_leg_fills_fill_qty(buf, 51, -300)
    assert toy.definition7_no_legs_no_leg_fills_fill_qty(buf, 51) == -300
    toy.put_definition7_text(buf, 60, 5)
    assert toy.definition7_text(buf, 60) == 5


def test_user_kernels_call_accessors_and_fold_constants(toy):
    """What a feed handler does: a compiled loop over a group, reading through the module."""
    book_px = toy.book46_no_md_entries_md_entry_px
    book_sec = toy.book46_no_md_entries_security_id
    dim = toy.book46_no_md_entries
    hdr = toy.BOOK46_NO_MD_ENTRIES_HEADER_SIZE

    @njit
    def total(buf, g):
        block, n = dim(buf, g)
        s = 0
        p = g + hdr
        for _ in range(n):
            s += book_px(buf, p) + book_sec(buf, p)
            p += block
        return s

    buf = np.zeros(64, np.uint8)
    toy.put_book46_no_md_entries(buf, 0, 24, 2)
    for i, (px, sec) in enumerate([(10, 1), (-20, 2)]):
        toy.put_book46_no_md_entries_md_entry_px(buf, 3 + 24 * i, px)
        toy.put_book46_no_md_entries_security_id(buf, 3 + 24 * i, sec)
    assert total(buf, 0) == -7


def test_selected_messages_and_errors(tmp_path):
    schema = toy_schema(tmp_path)
    src = generate_source(schema, messages=[46])
    assert "BOOK46_ID = 46" in src and "DEFINITION7_ID" not in src
    assert "# Templates: 46 only." in src
    with pytest.raises(GenerationError, match=r"no template\(s\) \[99\]"):
        generate_source(schema, messages=[46, 99])
    # CamelCase of two different names meeting in one constant: refused, both named
    clash = TOY_MESSAGES.replace('<field name="Qty" id="38" type="int32" offset="8"/>',
                                 '<field name="Qty" id="38" type="int32" offset="8"/>'
                                 '<field name="QTY" id="39" type="int32" offset="12"/>')
    s = load_schema(write(tmp_path, toy_xml(messages=clash), "clash.xml"))
    with pytest.raises(GenerationError) as e:
        generate_source(s)
    msg = str(e.value)
    assert "BOOK46_NO_ORDER_ID_ENTRIES_QTY_OFFSET collides" in msg
    assert "field Qty" in msg and "field QTY" in msg
    big = load_schema(write(tmp_path, toy_xml().replace('"littleEndian"', '"bigEndian"'),
                            "big.xml"))
    with pytest.raises(GenerationError, match="little-endian only"):
        generate_source(big)


def test_generated_module_is_clean_python(tmp_path):
    """A generated module passes the project's linter as it comes."""
    out = tmp_path / "lint_me.py"
    out.write_text(generate_source(toy_schema(tmp_path)))
    ruff = [sys.executable, "-m", "ruff"]
    r = subprocess.run([*ruff, "check", "--no-cache", "--isolated", "--select",
                        "E,F,W,B,UP", "--ignore", "E501", str(out)], capture_output=True,
                       text=True)
    if "No module named ruff" in r.stderr:
        pytest.skip("ruff is not installed in this interpreter")
    assert r.returncode == 0, r.stdout + r.stderr


# -------------------------------------------------------------------- the committed modules


@pytest.mark.parametrize("module", [schema_v9, schema_v13], ids=["v9", "v13"])
def test_committed_module_equals_fresh_generation(shared_data, module):
    """Regenerating with the command in the module's header comment gives the same bytes."""
    from pathlib import Path

    path = Path(module.__file__)
    text = path.read_text()
    command = re.search(r"^#   (tickpath sbe generate .*)$", text, re.M).group(1)
    xml_name = Path(command.split()[3]).name
    schema = load_schema(shared_data / "cme-mdp3" / "schemas" / xml_name)
    messages = None
    if "--messages" in command:
        messages = [int(x) for x in command.split("--messages ")[1].split(",")]
    assert generate_source(schema, messages, command=command) == text


def test_mdp3_module_contract():
    v9, v13 = schema_v9, schema_v13
    for m in (v9, v13):
        assert m.SCHEMA_ID == 1 and m.HEADER_SIZE == 8
        assert m.MD_INCREMENTAL_REFRESH_BOOK46_ID == 46
        assert m.MD_INCREMENTAL_REFRESH_BOOK46_BLOCK_LENGTH == 11
        assert m.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_BLOCK_LENGTH == 32
        assert m.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_HEADER_SIZE == 3
        assert m.MD_INCREMENTAL_REFRESH_BOOK46_NO_ORDER_ID_ENTRIES_HEADER_SIZE == 8
        assert m.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_MD_ENTRY_PX_OFFSET == 0
        assert m.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_SECURITY_ID_OFFSET == 12
        assert m.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_RPT_SEQ_OFFSET == 16
        assert m.MD_ENTRY_TYPE_BOOK_BID == 48 and m.MD_UPDATE_ACTION_DELETE == 2
        assert m.MATCH_EVENT_INDICATOR_END_OF_EVENT_BIT == 7
        assert m.PRICE9_EXPONENT == -9 and m.PRICENULL9_EXPONENT == -9
        assert m.SNAPSHOT_FULL_REFRESH52_LAST_MSG_SEQ_NUM_PROCESSED_OFFSET == 0
        assert callable(m.md_incremental_refresh_book46_no_md_entries_md_entry_px)
    assert v9.SCHEMA_VERSION == 9 and v13.SCHEMA_VERSION == 13
    assert v9.MD_INCREMENTAL_REFRESH_BOOK32_ID == 32  # the legacy templates stay in v9
    assert not hasattr(v13, "MD_INCREMENTAL_REFRESH_BOOK32_ID")
    assert v13.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_TRADEABLE_SIZE_SINCE == 10


def test_import_builds_no_dispatcher():
    """Importing a generated module builds none of its accessors' dispatchers (first use does)."""
    code = ("import sys; from numba.core.registry import CPUDispatcher; "
            "import tickpath.codec.mdp3.schema_v13 as m; "
            "print(sum(isinstance(vars(m).get(n), CPUDispatcher) for n in m._COMPILED), "
            "len(m._COMPILED))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    built, total = map(int, r.stdout.split())
    assert built == 0 and total > 1000


def test_shipped_module_imports_without_shared_data(tmp_path):
    mod = import_path(write(tmp_path, generate_source(toy_schema(tmp_path)), "standalone.py"),
                      "standalone_toy")
    assert from_plain(mod.SCHEMA).id == 91


def test_cli_generate_and_show(tmp_path):
    xml = write(tmp_path, toy_xml())
    out = tmp_path / "cli_toy.py"
    run = [sys.executable, "-m", "tickpath.cli", "sbe"]
    r = subprocess.run([*run, "generate", str(xml), "--out", str(out), "--messages", "46,12"],
                       capture_output=True, text=True, check=True)
    assert "2 templates" in " ".join(r.stdout.split())  # the console may wrap the line
    text = out.read_text()
    assert f"#   tickpath sbe generate {xml} --out {out} --messages 46,12" in text
    assert "BOOK46_ID = 46" in text and "DEFINITION7_ID" not in text
    r = subprocess.run([*run, "show", str(xml)], capture_output=True, text=True, check=True,
                       env={**os.environ, "COLUMNS": "200"})
    assert "46 Book46: blockLength 11" in r.stdout
    assert "NoOrderIDEntries[]" in r.stdout and "TradeableSize" in r.stdout
    r = subprocess.run([*run, "show", str(write(tmp_path, "<configuration/>", "c.xml"))],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "not an SBE schema" in r.stderr
