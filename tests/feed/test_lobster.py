"""LOBSTER pairs: the replay checked row by row against orderbook files computed by an
independent plain-Python book (tests/reference/lobster.py), and bad input refused clearly."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.reference.lobster import random_day, write_pair
from typer.testing import CliRunner

from tickpath.apps.lobster import check_pair, replay_lobster
from tickpath.book import BookError
from tickpath.cli import app
from tickpath.codec.lobster import MESSAGE_DTYPE, LobsterError, read_messages, read_orderbook
from tickpath.feed.lobster import LobsterHandler, first_book

runner = CliRunner()


def _pair(folder: Path, seed: int = 7, n: int = 600, levels: int = 5, initial: int = 25):
    msgs, rows, book = random_day(seed, n, levels=levels, initial=initial)
    return write_pair(folder, msgs, rows, levels), rows


def test_a_clean_pair_checks_clean(tmp_path):
    (mp, op), rows = _pair(tmp_path)
    r = runner.invoke(app, ["lobster", "check", str(mp), str(op)])
    assert r.exit_code == 0, r.output
    assert f"{len(rows):,} rows checked" in r.output
    assert "every row matches" in r.output
    h, rep = check_pair(mp, op)
    c = rep.counters
    assert rep.ok and c["rows_checked"] == len(rows) and c["unknown"] == 0
    # the generated day exercises what the first book and the window need
    assert c["seeded_levels"] > 0 and c["seed_hits"] > 0 and c["reveals"] > 0
    assert set(rep.counts_by_type) >= {1, 2, 3, 4, 5}


def test_a_corrupted_cell_is_reported_at_its_row_and_level(tmp_path):
    (mp, op), rows = _pair(tmp_path)
    # a row whose best bid is the row before's too: not a level coming into view
    r = next(i for i in range(300, len(rows)) if rows[i][3] and rows[i][2] == rows[i - 1][2])
    lines = op.read_text().splitlines()
    cells = lines[r].split(",")
    cells[3] = str(int(cells[3]) + 1)  # bid size 1
    lines[r] = ",".join(cells)
    op.write_text("\n".join(lines) + "\n")
    res = runner.invoke(app, ["lobster", "check", str(mp), str(op)], terminal_width=200)
    assert res.exit_code == 1
    assert "1 rows differ" in res.output
    h, rep = check_pair(mp, op)
    (m,) = rep.mismatches
    assert (m.row, m.level, m.side) == (r + 1, 1, "bid")
    assert m.expected == (rows[r][2], rows[r][3] + 1) and m.got == (rows[r][2], rows[r][3])


def test_a_pair_of_different_lengths_names_both_files_and_counts(tmp_path):
    (mp, op), rows = _pair(tmp_path, n=50)
    op.write_text("".join(op.read_text().splitlines(keepends=True)[:-3]))
    res = runner.invoke(app, ["lobster", "check", str(mp), str(op)], terminal_width=400,
                        catch_exceptions=False)
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    out = " ".join(res.output.split())
    assert str(mp) in out and str(op) in out
    assert "50 rows" in out and "47 rows" in out
    with pytest.raises(LobsterError, match="disagrees in length"):
        replay_lobster(mp)


@pytest.mark.parametrize("row,col,value,column", [
    (5, 3, "12x", "size"),
    (9, 0, "", "time"),
    (2, 5, "0", "direction"),
    (7, 1, "9", "type"),
])
def test_a_malformed_message_row_names_file_row_and_column(tmp_path, row, col, value, column):
    (mp, op), _ = _pair(tmp_path, n=20)
    lines = mp.read_text().splitlines()
    cells = lines[row - 1].split(",")
    cells[col] = value
    lines[row - 1] = ",".join(cells)
    mp.write_text("\n".join(lines) + "\n")
    with pytest.raises(LobsterError) as e:
        read_messages(mp)
    assert (e.value.row, e.value.path) == (row, str(mp))
    assert e.value.column.startswith(column)
    res = runner.invoke(app, ["lobster", "check", str(mp), str(op)], terminal_width=400,
                        catch_exceptions=False)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"row {row}" in res.output and column in res.output


def test_malformed_orderbook_rows(tmp_path):
    (mp, op), _ = _pair(tmp_path, n=20, levels=3)
    lines = op.read_text().splitlines()
    good = list(lines)
    lines[3] = lines[3] + ",5"  # one column too many
    op.write_text("\n".join(lines) + "\n")
    with pytest.raises(LobsterError, match="13 columns, expected 12") as e:
        read_orderbook(op)
    assert e.value.row == 4
    lines = list(good)
    lines[6] = ""
    op.write_text("\n".join(lines) + "\n")
    with pytest.raises(LobsterError, match="empty row") as e:
        read_orderbook(op)
    assert e.value.row == 7
    lines = list(good)
    cells = lines[10].split(",")
    cells[5] = "-4"  # ask size 2
    lines[10] = ",".join(cells)
    op.write_text("\n".join(lines) + "\n")
    with pytest.raises(LobsterError, match="negative") as e:
        read_orderbook(op)
    assert (e.value.row, e.value.column) == (11, "ask_size 2 (column 6)")


def test_replay_writes_the_last_rows_book_and_nothing_half_written(tmp_path):
    (mp, op), rows = _pair(tmp_path, levels=4)
    out = tmp_path / "books.jsonl"
    res = runner.invoke(app, ["replay", str(mp), "--books-json", str(out)])
    assert res.exit_code == 0, res.output
    (book,) = [json.loads(x) for x in out.read_text().splitlines()]
    last = rows[-1]
    asks = [[last[4 * j], last[4 * j + 1]] for j in range(4) if last[4 * j + 1]]
    bids = [[last[4 * j + 2], last[4 * j + 3]] for j in range(4) if last[4 * j + 3]]
    assert [x[:2] for x in book["asks"][:len(asks)]] == asks
    assert [x[:2] for x in book["bids"][:len(bids)]] == bids
    assert book["symbol"] == "TEST"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # a bad file leaves no output behind
    out2 = tmp_path / "none.jsonl"
    mp.write_text(mp.read_text().replace(",1,", ",x,", 1))
    res = runner.invoke(app, ["replay", str(mp), "--books-json", str(out2)],
                        catch_exceptions=False)
    assert res.exit_code == 1 and not out2.exists()


@pytest.mark.parametrize("cmd", ["check", "replay"])
def test_cli_markup_in_a_file_name_is_printed_as_it_is(tmp_path, cmd):
    d = tmp_path / "x[" / "bold]y"  # a path holding "[/bold]"
    d.mkdir(parents=True)
    (mp, op), _ = _pair(d, n=20)
    mp.write_text(mp.read_text().replace(",1,", ",x,", 1))
    args = ["lobster", "check", str(mp), str(op)] if cmd == "check" else ["replay", str(mp)]
    res = runner.invoke(app, args, terminal_width=400, catch_exceptions=False)
    assert res.exit_code == 1, res.output
    assert "[red]" not in res.output and "x[/bold]y" in res.output


def test_cli_replay_books_json_in_a_missing_folder_is_one_line(tmp_path):
    (mp, op), _ = _pair(tmp_path, n=20)
    out = tmp_path / "nodir" / "b.jsonl"
    res = runner.invoke(app, ["replay", str(mp), "--books-json", str(out)], terminal_width=400,
                        catch_exceptions=False)
    assert res.exit_code == 1, res.output
    assert "error: cannot write the books to" in res.output and str(out) in res.output
    assert not list(tmp_path.glob("nodir*"))


def test_without_the_orderbook_unknown_orders_are_counted_not_lost(tmp_path):
    (mp, op), rows = _pair(tmp_path, initial=30)
    op.unlink()
    h, rep = replay_lobster(mp)
    c = rep.counters
    assert rep.orderbook_path is None and c["unknown"] > 0 and c["unknown_shares"] > 0
    assert rep.unknown_rows and rep.unknown_rows == sorted(rep.unknown_rows)
    msgs = read_messages(mp)
    first = rep.unknown_rows[0] - 1
    assert msgs["type"][first] in (2, 3, 4)


def test_a_refused_message_raises_with_its_row(tmp_path):
    (mp, op), _ = _pair(tmp_path, n=50, initial=0)
    msgs = read_messages(mp)
    adds = np.flatnonzero(msgs["type"] == 1)
    dup = msgs[adds[:2]].copy()
    dup["order_id"][1] = dup["order_id"][0]  # the same order id submitted twice
    h = LobsterHandler("TEST")
    with pytest.raises(BookError, match="row 2 .*already live"):
        h.run(dup)


def test_first_book_takes_the_first_message_back():
    row = np.array([101, 5, 99, 7, 102, 3, -9_999_999_999, 0], np.int64)
    msg = np.zeros(1, MESSAGE_DTYPE)[0]
    msg["type"], msg["direction"], msg["price"], msg["size"] = 3, 1, 98, 4
    before = first_book(row, msg)  # a deleted bid level 98 comes back
    assert list(before[2::4][:2]) == [99, 98] and list(before[3::4][:2]) == [7, 4]
    msg["type"], msg["direction"], msg["price"], msg["size"] = 1, -1, 101, 5
    before = first_book(row, msg)  # the submission that made the best ask goes
    assert list(before[0::4][:1]) == [102]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400), levels=st.integers(1, 6),
       initial=st.integers(0, 40))
def test_random_valid_streams_check_clean(seed, n, levels, initial):
    msgs, rows, _ = random_day(seed, n, levels=levels, initial=initial)
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        mp, op = write_pair(Path(d), msgs, rows, levels)
        h, rep = check_pair(mp, op)
    c = rep.counters
    assert rep.ok, (rep.mismatches[:3], rep.refused_rows[:2])
    assert c["rows_checked"] == len(rows) and c["unknown"] == 0
    h.books.check()  # the books' own links and counters hold


def _set_cell(path: Path, row: int, col: int, value: str) -> None:
    lines = path.read_text().splitlines()
    cells = lines[row - 1].split(",")
    cells[col] = value
    lines[row - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


def test_an_error_without_a_row_has_one_colon(tmp_path):
    missing = tmp_path / "X_2012-06-21_0_1_message_5.csv"
    with pytest.raises(LobsterError) as e:
        read_messages(missing)
    assert str(e.value) == f"{missing}: LOBSTER message file does not exist"


@pytest.mark.parametrize("col, column", [(3, "size (column 4)"), (1, "type (column 2)")])
def test_a_cell_beyond_64_bits_is_named_by_row_and_column(tmp_path, col, column):
    (mp, op), _ = _pair(tmp_path, n=20)
    _set_cell(mp, 4, col, "99999999999999999999")
    with pytest.raises(LobsterError, match="does not fit 64 bits") as e:
        read_messages(mp)
    assert (e.value.path, e.value.row, e.value.column) == (str(mp), 4, column)
    _set_cell(op, 2, 1, "99999999999999999999")
    with pytest.raises(LobsterError, match="does not fit 64 bits") as e:
        read_orderbook(op)
    assert (e.value.row, e.value.column) == (2, "ask_size 1 (column 2)")


def test_an_order_id_of_the_synthetic_range_names_the_file(tmp_path):
    (mp, op), _ = _pair(tmp_path, n=20)
    _set_cell(mp, 6, 2, str(1 << 62))
    with pytest.raises(LobsterError, match="order id is too large") as e:
        replay_lobster(mp)
    assert (e.value.path, e.value.row) == (str(mp), 6)
    assert str(e.value).startswith(f"{mp}: row 6, column order_id (column 3): ")
    res = runner.invoke(app, ["lobster", "check", str(mp), str(op)], terminal_width=400,
                        catch_exceptions=False)
    assert res.exit_code == 1 and f"{mp}: row 6" in res.output


def test_an_empty_pair_is_refused_without_a_warning(tmp_path):
    import warnings

    (mp, op), _ = _pair(tmp_path, n=20)
    mp.write_text("")
    op.write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(LobsterError, match="the message file is empty"):
            check_pair(mp, op)
        res = runner.invoke(app, ["lobster", "check", str(mp), str(op)], terminal_width=400,
                            catch_exceptions=False)
    assert res.exit_code == 1, res.output
    assert "the message file is empty" in res.output and "every row matches" not in res.output


@pytest.mark.parametrize("before", [1, 2, 3, 4])
def test_a_short_deletion_with_full_tables_is_whole(before):
    # a deletion naming fewer shares than its order holds moves the rest to the synthetic
    # order after the Delete: with the tables at max_orders that must still go through
    rows = [(1, 1, 10, 100, 1), (1, 2, 5, 100, 1), (1, 3, 1, 101, -1), (1, 4, 1, 99, 1)]
    rows = rows[:before] + [(3, 1, 4, 100, 1)]
    m = np.zeros(len(rows), MESSAGE_DTYPE)
    for j, (t, oid, size, px, d) in enumerate(rows):
        m[j]["type"], m[j]["order_id"], m[j]["size"] = t, oid, size
        m[j]["price"], m[j]["direction"], m[j]["time_ns"] = px, d, j
    books = []
    for mo in (before, 64):
        h = LobsterHandler("T", errors="skip", max_orders=mo, initial_orders=mo)
        h.run(m)
        assert h.refused == 0
        books.append(h.depth())
    assert books[0] == books[1]
    assert books[0]["bids"][0] == ([100, 6, 1] if before == 1 else [100, 11, 1])
