"""pcap / pcapng reading and writing, UDP frame building and parsing (tickpath.wire.pcap).

Referees: tshark reads what PcapWriter and udp_frame write (timestamps, checksums), editcap and
mergecap convert captures to pcapng for the pcapng reader, and tshark's view of the real
captures in ../shared/data is compared frame by frame with ours.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpath.wire.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    PcapngWriter,
    PcapWriter,
    internet_checksum,
    multicast_mac,
    open_writer,
    read_packets,
    read_records,
    read_udp,
    udp_frame,
    udp_payload,
)

NS = 1_000_000_000


def _frames(n: int) -> list[bytes]:
    return [bytes((i * 7 + k) & 0xFF for k in range(i * 37 % 1600)) for i in range(n)]


# ------------------------------------------------------------------------------ pcap round trip


def test_round_trip_nanoseconds(tmp_path):
    frames = _frames(40)
    stamps = [0, 1, 999_999_999, NS, 1_692_711_000_000_059_094, (1 << 32) * NS - 1]
    stamps += [1_700_000_000 * NS + i * 1_234_567 for i in range(len(frames) - len(stamps))]
    path = tmp_path / "ns.pcap"
    with PcapWriter(path) as w:
        for f, ts in zip(frames, stamps, strict=True):
            w.write(f, ts)
        assert w.count == len(frames)
    assert path.read_bytes()[:4] == bytes.fromhex("4d3cb2a1")  # A1B23C4D, little-endian
    got = list(read_packets(path))
    assert [ts for ts, _ in got] == stamps
    assert [bytes(f) for _, f in got] == frames
    recs = list(read_records(path))
    assert {r.linktype for r in recs} == {LINKTYPE_ETHERNET}
    assert [r.orig_len for r in recs] == [len(f) for f in frames]


def test_round_trip_microseconds_truncates(tmp_path):
    path = tmp_path / "us.pcap"
    with PcapWriter(path, nanosecond=False, linktype=LINKTYPE_RAW) as w:
        w.write(b"abc", 1_700_000_000_123_456_789)
        w.write(b"", 5)
    assert path.read_bytes()[:4] == bytes.fromhex("d4c3b2a1")
    recs = list(read_records(path))
    assert [(r.ts_ns, r.frame, r.linktype) for r in recs] == [
        (1_700_000_000_123_456_000, b"abc", LINKTYPE_RAW), (0, b"", LINKTYPE_RAW)]


def test_snaplen_cuts_frames_and_keeps_the_wire_length(tmp_path):
    path = tmp_path / "snap.pcap"
    with PcapWriter(path, snaplen=64) as w:
        w.write(bytes(range(200)), 7)
        w.write(bytes(10), 8)
    recs = list(read_records(path))
    assert [(len(r.frame), r.orig_len) for r in recs] == [(64, 200), (10, 10)]
    assert recs[0].frame == bytes(range(64))


def test_writer_takes_arrays_and_views(tmp_path):
    path = tmp_path / "in.pcap"
    arr = np.arange(100, dtype=np.uint8)
    with PcapWriter(path) as w:
        w.write(arr, 1)
        w.write(arr[::2], 2)  # not contiguous: copied
        w.write(memoryview(b"xyz"), 3)
        w.write(bytearray(b"q"), np.int64(4))
        w.write(np.arange(2, dtype=">u2"), 5)  # any dtype: its bytes
    assert [f for _, f in read_packets(path)] == [
        bytes(range(100)), bytes(range(0, 100, 2)), b"xyz", b"q", b"\x00\x00\x00\x01"]


def test_file_objects():
    buf = io.BytesIO()
    w = PcapWriter(buf)
    w.write(b"frame", 42)
    w.close()
    assert not buf.closed
    buf.seek(0)
    assert list(read_packets(buf)) == [(42, b"frame")]


def test_writer_refuses_bad_input(tmp_path):
    w = PcapWriter(tmp_path / "x.pcap")
    with pytest.raises(ValueError, match="before the epoch"):
        w.write(b"a", -1)
    with pytest.raises(ValueError, match="32-bit"):
        w.write(b"a", (1 << 32) * NS)
    w.close()
    w.close()  # twice is fine
    with pytest.raises(ValueError, match="closed"):
        w.write(b"a", 1)
    with pytest.raises(ValueError, match="snaplen"):
        PcapWriter(tmp_path / "y.pcap", snaplen=0)


@pytest.mark.parametrize("nanosecond", [True, False])
def test_big_endian_pcap(tmp_path, nanosecond):
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    data = struct.pack(">IHHiIII", magic, 2, 4, 0, 0, 65535, LINKTYPE_LINUX_SLL)
    data += struct.pack(">IIII", 1_600_000_000, 123_456, 3, 9) + b"abc"
    data += struct.pack(">IIII", 5, 0, 0, 0)
    path = tmp_path / "be.pcap"
    path.write_bytes(data)
    scale = 1 if nanosecond else 1000
    recs = [(r.ts_ns, r.frame, r.linktype, r.orig_len) for r in read_records(path)]
    assert recs == [(1_600_000_000 * NS + 123_456 * scale, b"abc", LINKTYPE_LINUX_SLL, 9),
                    (5 * NS, b"", LINKTYPE_LINUX_SLL, 0)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=300), st.integers(0, (1 << 32) * NS - 1)),
                max_size=20), st.booleans())
def test_round_trip_property(records, nanosecond):
    buf = io.BytesIO()
    with PcapWriter(buf, nanosecond=nanosecond) as w:
        for frame, ts in records:
            w.write(frame, ts)
    buf.seek(0)
    want = [(ts if nanosecond else ts // 1000 * 1000, frame) for frame, ts in records]
    assert list(read_packets(buf)) == want


class _CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest = 0

    def read(self, n: int | None = -1) -> bytes:
        assert n is not None and n >= 0, "the reader asked for the whole file"
        self.largest = max(self.largest, n)
        return super().read(n)


def test_reading_streams_record_by_record(tmp_path):
    path = tmp_path / "many.pcap"
    with PcapWriter(path) as w:
        for i in range(2000):
            w.write(bytes(100), i)
    f = _CountingReader(path.read_bytes())
    it = read_packets(f)
    next(it)
    assert f.tell() == 24 + 16 + 100  # only the first record was read
    assert sum(1 for _ in it) == 1999
    assert f.largest <= 100


# ------------------------------------------------------------------------------ errors


def _pcap(tmp_path, data: bytes, name: str = "bad.pcap") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _good_pcap_bytes() -> bytes:
    buf = io.BytesIO()
    with PcapWriter(buf) as w:
        w.write(b"A" * 10, 1)
        w.write(b"B" * 20, 2)
    return buf.getvalue()


@pytest.mark.parametrize("data, offset, reason", [
    (b"", 0, "only 0 bytes"),
    (b"\x00\x01", 0, "only 2 bytes"),
    (b"GIF89a-not-a-capture-file", 0, "bad magic 0x47494638"),
    (bytes.fromhex("4d3cb2a1") + b"\x02\x00", 4, "truncated pcap global header"),
    (bytes.fromhex("4d3cb2a1") + struct.pack("<HHiIII", 3, 0, 0, 0, 65535, 1), 4,
     "unsupported pcap version 3.0"),
])
def test_header_errors(tmp_path, data, offset, reason):
    path = _pcap(tmp_path, data)
    with pytest.raises(ValueError) as err:
        list(read_packets(path))
    assert str(path) in str(err.value)
    assert f"offset {offset}:" in str(err.value)
    assert reason in str(err.value)


def test_truncated_record_header(tmp_path):
    good = _good_pcap_bytes()
    path = _pcap(tmp_path, good[:24 + 26 + 7])  # 7 bytes of the second record header
    it = read_packets(path)
    assert next(it) == (1, b"A" * 10)  # what came before is still handed out
    with pytest.raises(ValueError, match=r"bad\.pcap: offset 50: truncated record header: 7 of 16"):
        next(it)


def test_truncated_record_data(tmp_path):
    good = _good_pcap_bytes()
    path = _pcap(tmp_path, good[:-5])
    with pytest.raises(ValueError, match=r"offset 66: truncated record: 15 of 20 bytes"):
        list(read_packets(path))


def test_implausible_record_length(tmp_path):
    data = bytearray(_good_pcap_bytes())
    data[24 + 8:24 + 12] = struct.pack("<I", 10_000_000)
    with pytest.raises(ValueError, match=r"offset 24: record length 10000000 exceeds"):
        list(read_packets(_pcap(tmp_path, bytes(data))))


# ------------------------------------------------------------------------------ pcapng


def _pad(b: bytes) -> bytes:
    return b + b"\x00" * (-len(b) % 4)


def ng_block(o: str, btype: int, body: bytes) -> bytes:
    body = _pad(body)
    total = 12 + len(body)
    return struct.pack(o + "II", btype, total) + body + struct.pack(o + "I", total)


def ng_opt(o: str, code: int, value: bytes) -> bytes:
    return struct.pack(o + "HH", code, len(value)) + _pad(value)


def ng_end(o: str) -> bytes:
    return struct.pack(o + "HH", 0, 0)


def shb(o: str, options: bytes = b"") -> bytes:
    return ng_block(o, 0x0A0D0D0A, struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, -1) + options)


def idb(o: str, linktype: int, snaplen: int = 0, options: bytes = b"") -> bytes:
    return ng_block(o, 1, struct.pack(o + "HHI", linktype, 0, snaplen) + options)


def epb(o: str, iface: int, ts: int, data: bytes, orig: int | None = None,
        options: bytes = b"") -> bytes:
    head = struct.pack(o + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data),
                       len(data) if orig is None else orig)
    return ng_block(o, 6, head + _pad(data) + options)


def handmade_pcapng() -> tuple[bytes, list[tuple[int, bytes, int, int]]]:
    le, be = "<", ">"
    data = shb(le, ng_opt(le, 4, b"tickpath tests") + ng_end(le))
    data += idb(le, LINKTYPE_ETHERNET, 64, ng_opt(le, 9, b"\x09") + ng_end(le))  # if 0: ns
    data += idb(le, LINKTYPE_LINUX_SLL, 0,
                ng_opt(le, 9, bytes([0x80 | 20])) + ng_opt(le, 14, struct.pack("<q", 100))
                + ng_end(le))  # if 1: 2^-20 s units, +100 s
    data += idb(le, LINKTYPE_RAW, 0, ng_opt(le, 9, b"\x03"))  # if 2: ms, no end-of-options
    data += epb(le, 0, 1_692_711_000_000_059_094, b"first", options=ng_opt(le, 2, b"\0\0\0\1"))
    data += epb(le, 1, 3 * (1 << 20) + (1 << 19), b"second frame")  # 3.5 s
    data += ng_block(le, 4, b"\x00" * 8)  # name resolution block: skipped
    data += ng_block(le, 0x0BAD, b"custom")  # unknown: skipped
    data += ng_block(le, 3, struct.pack("<I", 100) + bytes(range(64)))  # SPB, cut at snaplen 64
    data += epb(le, 2, 1234, b"ms")
    data += ng_block(le, 2, struct.pack("<HHIIII", 0, 0, 0, 77, 3, 3) + b"old")  # obsolete PB
    data += ng_block(le, 5, struct.pack("<III", 0, 0, 0))  # interface statistics: skipped
    # a second section, big-endian, default (microsecond) resolution; interfaces renumbered
    data += shb(be)
    data += idb(be, LINKTYPE_ETHERNET, 65535)
    data += epb(be, 0, 1_700_000_000_123_456, b"big-endian", orig=1500)
    want = [
        (1_692_711_000_000_059_094, b"first", LINKTYPE_ETHERNET, 5),
        (103_500_000_000, b"second frame", LINKTYPE_LINUX_SLL, 12),
        (0, bytes(range(64)), LINKTYPE_ETHERNET, 100),
        (1_234_000_000, b"ms", LINKTYPE_RAW, 2),
        (77, b"old", LINKTYPE_ETHERNET, 3),
        (1_700_000_000_123_456_000, b"big-endian", LINKTYPE_ETHERNET, 1500),
    ]
    return data, want


def test_pcapng_handmade(tmp_path):
    data, want = handmade_pcapng()
    path = _pcap(tmp_path, data, "hand.pcapng")
    got = [(r.ts_ns, r.frame, r.linktype, r.orig_len) for r in read_records(path)]
    assert got == want


def test_pcapng_resolutions():
    # 2^-30 s units: 1 unit is 0.93 ns, floored; 10^-12 s units: floored to whole ns
    for tsresol, ts, ns in ((0x80 | 30, 1 << 30, NS), (0x80 | 30, 3, 2), (12, 1_234_567, 1_234),
                            (0, 5, 5 * NS)):
        data = shb("<") + idb("<", 1, 0, ng_opt("<", 9, bytes([tsresol]))) + epb("<", 0, ts, b"x")
        assert [r.ts_ns for r in read_records(io.BytesIO(data))] == [ns]


@pytest.mark.parametrize("case, reason", [
    ("bom", "bad pcapng byte-order magic"),
    ("length", "bad pcapng block length 13"),
    ("trailer", "trailing length"),
    ("truncated", "truncated pcapng block"),
    ("iface", "undeclared interface 3"),
    ("caplen", "captured length 999 runs past its block"),
    ("version", "unsupported pcapng version 2"),
    ("option", "option 9 of 200 bytes runs past its block"),
    ("spb", "simple packet block too short"),
    ("spb-first", "simple packet block before any interface"),
    ("short-idb", "interface description block too short"),
])
def test_pcapng_errors(tmp_path, case, reason):
    good = shb("<") + idb("<", 1) + epb("<", 0, 1, b"abcd")
    if case == "bom":
        data = good[:8] + b"\x01\x02\x03\x04" + good[12:]
    elif case == "length":
        data = good + struct.pack("<II", 6, 13) + bytes(5)
    elif case == "trailer":
        data = good[:-1] + b"\x99"
    elif case == "truncated":
        data = good[:-3]
    elif case == "iface":
        data = good + epb("<", 3, 1, b"x")
    elif case == "caplen":
        data = good + ng_block("<", 6, struct.pack("<IIIII", 0, 0, 0, 999, 999) + b"xxxx")
    elif case == "version":
        data = ng_block("<", 0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 2, 0, -1))
    elif case == "option":
        data = shb("<") + idb("<", 1, 0, struct.pack("<HH", 9, 200) + b"\x09\0\0\0")
    elif case == "spb":
        data = good + ng_block("<", 3, b"")
    elif case == "spb-first":
        data = shb("<") + ng_block("<", 3, struct.pack("<I", 1) + b"x")
    else:
        data = shb("<") + ng_block("<", 1, b"\x01\x00")
    path = _pcap(tmp_path, data, "bad.pcapng")
    with pytest.raises(ValueError) as err:
        list(read_packets(path))
    assert str(path) in str(err.value) and "offset " in str(err.value)
    assert reason in str(err.value)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["pcap", "pcapng"]), st.binary(max_size=160), st.data())
def test_reader_fuzz_only_raises_value_error(kind, tail, draw):
    if kind == "pcap":
        data = bytearray(_good_pcap_bytes())
    else:
        data = bytearray(handmade_pcapng()[0])
    for _ in range(draw.draw(st.integers(0, 3))):
        i = draw.draw(st.integers(0, len(data) - 1))
        data[i] = draw.draw(st.integers(0, 255))
    cut = draw.draw(st.integers(0, len(data)))
    try:
        for rec in read_records(io.BytesIO(bytes(data[:cut]) + tail)):
            assert isinstance(rec.frame, bytes) and isinstance(rec.ts_ns, int)
    except ValueError as err:
        assert "offset " in str(err)


@pytest.fixture(scope="module")
def editcap() -> str:
    path = shutil.which("editcap")
    if path is None:
        pytest.skip("editcap (Wireshark) is not installed: no pcap -> pcapng conversion")
    return path


def test_pcapng_made_by_editcap(tmp_path, editcap):
    src = tmp_path / "src.pcap"
    frames = [udp_frame(bytes([i]) * i, "10.0.0.1", "239.0.0.1", 1, 2) for i in range(50)]
    stamps = [1_700_000_000_000_000_000 + i * 999_999_937 for i in range(50)]
    with PcapWriter(src) as w:
        for f, ts in zip(frames, stamps, strict=True):
            w.write(f, ts)
    dst = tmp_path / "dst.pcapng"
    subprocess.run([editcap, "-F", "pcapng", str(src), str(dst)], check=True, capture_output=True)
    assert dst.read_bytes()[:4] == bytes.fromhex("0a0d0d0a")
    assert list(read_packets(dst)) == list(zip(stamps, frames, strict=True))


# ------------------------------------------------------------------------------ real captures


def _tshark_frames(tshark: str, path: Path) -> list[list[str]]:
    cmd = [tshark, "-n", "-r", str(path), "-T", "fields", "-E", "separator=|",
           "-E", "occurrence=f", "-e", "frame.time_epoch", "-e", "frame.cap_len",
           "-e", "frame.len", "-e", "ip.src", "-e", "ip.dst", "-e", "udp.srcport",
           "-e", "udp.dstport", "-e", "udp.length", "-e", "ip.flags.mf", "-e", "ip.frag_offset"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return [line.split("|") for line in res.stdout.splitlines()]


def _epoch_ns(text: str) -> int:
    sec, frac = text.split(".")
    return int(sec) * NS + int(frac.ljust(9, "0"))


def _compare_with_tshark(tshark: str, path: Path) -> int:
    rows = _tshark_frames(tshark, path)
    recs = list(read_records(path))
    assert len(recs) == len(rows)
    udp = 0
    for rec, (t, cap, wire, src, dst, sport, dport, ulen, mf, frag) in zip(recs, rows,
                                                                            strict=True):
        assert rec.ts_ns == _epoch_ns(t)
        assert (len(rec.frame), rec.orig_len) == (int(cap), int(wire))
        got = udp_payload(rec.frame, rec.linktype)
        whole_udp = bool(ulen) and mf in ("", "0", "False") and frag in ("", "0")
        assert (got is not None) == whole_udp
        if got is not None:
            payload, addr = got
            assert addr == (src, dst, int(sport), int(dport))
            assert len(payload) == int(ulen) - 8
            udp += 1
    return udp


def test_which_shared_captures_are_pcapng(shared_data):
    files = sorted(shared_data.rglob("*.pcap"))
    if not files:
        pytest.skip("no captures in the shared data")
    ng = {p.relative_to(shared_data).as_posix() for p in files
          if p.read_bytes()[:4] == bytes.fromhex("0a0d0d0a")}
    # despite its name, the v6 CME capture is pcapng (README "Traps"); every file reads
    assert ng == {"cme-mdp3/pcaps/Mdp3.Sbe.v1.6/Cme.Mdp3.Sbe.v6.1.pcap"}
    for p in files:
        assert sum(1 for _ in read_records(p)) > 0


def test_real_pcapng_against_tshark(shared_data, tshark):
    path = shared_data / "cme-mdp3/pcaps/Mdp3.Sbe.v1.6/Cme.Mdp3.Sbe.v6.1.pcap"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    assert _compare_with_tshark(tshark, path) == 10_000


def test_real_itch_captures_merged_into_pcapng(shared_data, tshark, tmp_path):
    # every ITCH capture (nanosecond pcap, 802.1Q-tagged) concatenated by mergecap into one
    # pcapng: our pcapng reader must hand out the same frames as our pcap reader, and both
    # must agree with tshark
    mergecap = shutil.which("mergecap")
    if mergecap is None:
        pytest.skip("mergecap (Wireshark) is not installed")
    files = sorted((shared_data / "nasdaq-itch50").glob("*/*.pcap"))
    if not files:
        pytest.skip("no ITCH captures in the shared data")
    merged = tmp_path / "itch.pcapng"
    subprocess.run([mergecap, "-F", "pcapng", "-a", "-w", str(merged)] + [str(f) for f in files],
                   check=True, capture_output=True)
    one_by_one = [pk for f in files for pk in read_packets(f)]
    assert list(read_packets(merged)) == one_by_one
    assert _compare_with_tshark(tshark, merged) == len(one_by_one)


# ------------------------------------------------------------------------------ udp_frame


def test_internet_checksum_rfc1071_example():
    # RFC 1071 section 3: the sum of 0001 f203 f4f5 f6f7 is ddf2; the checksum its complement
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2
    assert internet_checksum(b"\x01") == 0xFFFF - 0x0100  # odd length: padded with a zero


def test_udp_frame_multicast():
    frame = udp_frame(b"payload", "10.0.0.1", "233.54.12.111", 40000, 26477)
    assert frame[:6] == bytes.fromhex("01005e360c6f")  # 01:00:5e + low 23 bits of the group
    assert frame[6:12] == bytes.fromhex("020000000001")
    assert frame[12:14] == b"\x08\x00"
    ip = frame[14:34]
    assert ip[0] == 0x45 and ip[9] == 17 and int.from_bytes(ip[2:4], "big") == 20 + 8 + 7
    assert internet_checksum(ip) == 0  # a correct header sums to all ones
    udp = frame[34:]
    assert struct.unpack("!HHH", udp[:6]) == (40000, 26477, 15)
    pseudo = ip[12:20] + b"\x00\x11" + (15).to_bytes(2, "big")
    assert internet_checksum(pseudo + udp) == 0
    assert udp[8:] == b"payload"
    assert multicast_mac("239.255.1.2") == multicast_mac("224.127.1.2")  # 23 bits only


def test_udp_frame_options():
    f = udp_frame(b"x", "10.0.0.1", "10.0.0.2", 1, 2)
    assert f[:6] == bytes.fromhex("020000000002")
    assert udp_frame(b"x", "10.0.0.1", "255.255.255.255", 1, 2)[:6] == b"\xff" * 6
    f = udp_frame(b"x", "10.0.0.1", "10.0.0.2", 1, 2, src_mac=b"\x0a" * 6,
                  dst_mac="aa-bb-cc-dd-ee-ff", vlan=142, ttl=7, ident=99, udp_checksum=False)
    assert f[:12] == bytes.fromhex("aabbccddeeff") + b"\x0a" * 6
    assert f[12:18] == bytes.fromhex("8100008e0800")
    ip = f[18:38]
    assert ip[8] == 7 and ip[4:6] == (99).to_bytes(2, "big") and internet_checksum(ip) == 0
    assert f[38 + 6:38 + 8] == b"\x00\x00"  # no UDP checksum
    assert udp_frame(np.arange(3, dtype=np.uint8), "1.2.3.4", "5.6.7.8", 1, 2)[-3:] == b"\0\1\2"


@pytest.mark.parametrize("kwargs, match", [
    ({"payload": bytes(65508)}, "does not fit"),
    ({"sport": 70000}, "port"),
    ({"dport": -1}, "port"),
    ({"vlan": 4096}, "VLAN"),
    ({"src_mac": "aa:bb"}, "MAC"),
    ({"dst_ip": "10.0.0.300"}, "300"),
])
def test_udp_frame_refuses(kwargs, match):
    args = {"payload": b"x", "src_ip": "10.0.0.1", "dst_ip": "10.0.0.2", "sport": 1, "dport": 2}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        udp_frame(**args)


def test_udp_frames_checked_by_tshark(tmp_path, tshark):
    path = tmp_path / "ck.pcap"
    cases = [("239.1.2.3", None, True), ("10.0.0.2", 42, True), ("10.0.0.2", None, False),
             ("233.54.12.111", 7, True)]
    with PcapWriter(path) as w:
        for i, (dst, vlan, ck) in enumerate(cases):
            w.write(udp_frame(b"odd!" * i + b"z", "10.9.8.7", dst, 1000 + i, 2000 + i, vlan=vlan,
                              udp_checksum=ck), 1_700_000_000_000_000_001 + i)
    cmd = [tshark, "-n", "-r", str(path), "-o", "ip.check_checksum:TRUE",
           "-o", "udp.check_checksum:TRUE", "-T", "fields", "-E", "separator=|",
           "-e", "frame.time_epoch", "-e", "eth.dst", "-e", "vlan.id", "-e", "ip.dst",
           "-e", "ip.checksum.status", "-e", "udp.checksum.status", "-e", "udp.dstport"]
    rows = [line.split("|") for line in subprocess.run(
        cmd, capture_output=True, text=True, check=True).stdout.splitlines()]
    assert len(rows) == len(cases)
    for i, (row, (dst, vlan, ck)) in enumerate(zip(rows, cases, strict=True)):
        t, mac, vid, ip, ip_ck, udp_ck, dport = row
        assert _epoch_ns(t) == 1_700_000_000_000_000_001 + i
        assert vid == ("" if vlan is None else str(vlan)) and ip == dst
        assert ip_ck == "1"  # good
        assert udp_ck == ("1" if ck else "3")  # good / not present
        assert dport == str(2000 + i)
        if dst.startswith(("239.", "233.")):
            assert mac == multicast_mac(dst).hex(":")


# ------------------------------------------------------------------------------ udp_payload


FRAME = udp_frame(b"market data", "192.168.1.10", "233.54.12.111", 55143, 25475)
ADDR = ("192.168.1.10", "233.54.12.111", 55143, 25475)


def _ip_of(frame: bytes, at: int = 14) -> bytearray:
    return bytearray(frame[at:])


def _reframe(ip: bytes | bytearray, fix_checksum: bool = True) -> bytes:
    ip = bytearray(ip)
    if fix_checksum:
        ihl = (ip[0] & 15) * 4
        ip[10:12] = b"\0\0"
        ip[10:12] = internet_checksum(ip[:ihl]).to_bytes(2, "big")
    return FRAME[:14] + bytes(ip)


def test_plain():
    payload, addr = udp_payload(FRAME)
    assert bytes(payload) == b"market data" and addr == ADDR
    assert isinstance(payload, memoryview)  # a view into the frame, not a copy


def test_accepts_arrays_and_views():
    for f in (np.frombuffer(FRAME, np.uint8), memoryview(FRAME), bytearray(FRAME)):
        payload, addr = udp_payload(f)
        assert bytes(payload) == b"market data" and addr == ADDR


def test_vlan_and_qinq():
    tagged = udp_frame(b"market data", "192.168.1.10", "233.54.12.111", 55143, 25475, vlan=142)
    assert bytes(udp_payload(tagged)[0]) == b"market data"
    qinq = FRAME[:12] + bytes.fromhex("88a80064") + bytes.fromhex("8100008e") + FRAME[12:]
    payload, addr = udp_payload(qinq)
    assert bytes(payload) == b"market data" and addr == ADDR


def test_ethernet_padding_is_ignored():
    small = udp_frame(b"x", "1.2.3.4", "5.6.7.8", 1, 2)
    assert len(small) == 43
    padded = small + b"\x00" * (60 - 43)  # minimum Ethernet frame
    assert bytes(udp_payload(padded)[0]) == b"x"


def test_ip_options():
    ip = _ip_of(FRAME)
    opts = bytes([1, 1, 1, 0])  # NOP NOP NOP EOL
    new = bytearray([0x46]) + ip[1:20] + opts + ip[20:]
    new[2:4] = (len(new)).to_bytes(2, "big")
    payload, addr = udp_payload(_reframe(new))
    assert bytes(payload) == b"market data" and addr == ADDR


@pytest.mark.parametrize("flags", [0x2000, 0x0001, 0x2010, 0x1FFF])
def test_fragments_are_refused(flags):
    ip = _ip_of(FRAME)
    ip[6:8] = flags.to_bytes(2, "big")
    assert udp_payload(_reframe(ip)) is None


def test_dont_fragment_is_fine():
    ip = _ip_of(FRAME)
    assert ip[6:8] == b"\x40\x00"
    assert udp_payload(_reframe(ip)) is not None


@pytest.mark.parametrize("ethertype", ["86dd", "0806", "88cc", "8847"])
def test_not_ipv4(ethertype):
    assert udp_payload(FRAME[:12] + bytes.fromhex(ethertype) + FRAME[14:]) is None


def test_not_udp():
    ip = _ip_of(FRAME)
    ip[9] = 6  # TCP
    assert udp_payload(_reframe(ip)) is None


@pytest.mark.parametrize("first", [0x65, 0x44, 0x40, 0x4F, 0x00])
def test_bad_version_or_header_length(first):
    ip = _ip_of(FRAME)
    ip[0] = first
    assert udp_payload(_reframe(ip, fix_checksum=False)) is None


def test_every_truncation_is_refused():
    tagged = udp_frame(b"market data", "192.168.1.10", "233.54.12.111", 1, 2, vlan=5)
    for frame in (FRAME, tagged):
        for n in range(len(frame)):
            assert udp_payload(frame[:n]) is None, n
        assert udp_payload(frame) is not None


@pytest.mark.parametrize("total", [27, 19, 0, 100, 65535])
def test_ip_total_length_lies(total):
    ip = _ip_of(FRAME)
    ip[2:4] = total.to_bytes(2, "big")
    assert udp_payload(_reframe(ip)) is None


@pytest.mark.parametrize("ulen", [0, 7, 8 + 12, 1000])
def test_udp_length_lies(ulen):
    ip = _ip_of(FRAME)
    ip[24:26] = ulen.to_bytes(2, "big")
    assert udp_payload(_reframe(ip)) is None


def test_udp_length_shorter_than_the_datagram_trims():
    ip = _ip_of(FRAME)
    ip[24:26] = (8 + 6).to_bytes(2, "big")
    assert bytes(udp_payload(_reframe(ip))[0]) == b"market"
    ip[24:26] = (8).to_bytes(2, "big")
    assert bytes(udp_payload(_reframe(ip))[0]) == b""


def test_other_link_types():
    ip = FRAME[14:]
    sll = bytes.fromhex("0000 0001 0006 020000000001 0000 0800".replace(" ", "")) + ip
    assert len(sll) - len(ip) == 16
    sll2 = bytes.fromhex("0800 0000 00000002 0001 01 06 020000000001 0000".replace(" ", "")) + ip
    assert len(sll2) - len(ip) == 20
    null_le, null_be = struct.pack("<I", 2) + ip, struct.pack(">I", 2) + ip
    for frame, lt in ((sll, LINKTYPE_LINUX_SLL), (sll2, LINKTYPE_LINUX_SLL2), (ip, LINKTYPE_RAW),
                      (ip, LINKTYPE_IPV4), (null_le, LINKTYPE_NULL), (null_be, LINKTYPE_NULL)):
        payload, addr = udp_payload(frame, lt)
        assert bytes(payload) == b"market data" and addr == ADDR, lt
    assert udp_payload(sll[:14] + b"\x86\xdd" + ip, LINKTYPE_LINUX_SLL) is None
    assert udp_payload(struct.pack("<I", 24) + ip, LINKTYPE_NULL) is None  # AF_INET6
    with pytest.raises(ValueError, match="link type 147"):
        udp_payload(ip, 147)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.sampled_from([LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL,
                                                 LINKTYPE_LINUX_SLL2, LINKTYPE_RAW,
                                                 LINKTYPE_NULL]))
def test_udp_payload_never_raises_on_data(data, linktype):
    got = udp_payload(data, linktype)
    if got is not None:
        payload, (_, _, sport, dport) = got
        assert len(payload) <= len(data) and 0 <= sport <= 0xFFFF and 0 <= dport <= 0xFFFF


def test_read_udp_filters_by_port(tmp_path):
    path = tmp_path / "mix.pcap"
    with PcapWriter(path) as w:
        w.write(udp_frame(b"a", "1.1.1.1", "239.0.0.1", 5, 100), 1)
        w.write(FRAME[:12] + b"\x86\xdd" + FRAME[14:], 2)  # not IPv4: skipped
        w.write(udp_frame(b"b", "1.1.1.1", "239.0.0.1", 5, 200), 3)
    assert [(ts, bytes(p)) for ts, p, _ in read_udp(path)] == [(1, b"a"), (3, b"b")]
    assert [(ts, bytes(p), a[3]) for ts, p, a in read_udp(path, port=200)] == [(3, b"b", 200)]


# ------------------------------------------------------------------------------ pcapng writer


def test_pcapng_writer_round_trip(tmp_path):
    frames = _frames(40)
    stamps = [0, 1, 999_999_999, NS, 1_692_711_000_000_059_094, (1 << 64) - 1]
    stamps += [1_700_000_000 * NS + i * 1_234_567 for i in range(len(frames) - len(stamps))]
    path = tmp_path / "w.pcapng"
    with PcapngWriter(path, linktype=LINKTYPE_LINUX_SLL, iface="eth0") as w:
        for f, ts in zip(frames, stamps, strict=True):
            w.write(f, ts)
        assert w.count == len(frames)
    recs = list(read_records(path))
    assert [(r.ts_ns, r.frame, r.linktype, r.orig_len) for r in recs] == [
        (ts, f, LINKTYPE_LINUX_SLL, len(f)) for f, ts in zip(frames, stamps, strict=True)]
    data = path.read_bytes()
    assert data[:4] == bytes.fromhex("0a0d0d0a") and len(data) % 4 == 0


def test_pcapng_writer_snaplen_and_wire_length(tmp_path):
    buf = io.BytesIO()
    with PcapngWriter(buf, snaplen=64) as w:
        w.write(bytes(range(200)), 7)
        w.write(b"abc", 8, orig_len=1500)  # already cut by a capture
    buf.seek(0)
    assert [(r.frame, r.orig_len) for r in read_records(buf)] == [
        (bytes(range(64)), 200), (b"abc", 1500)]
    with pytest.raises(ValueError, match="before the epoch"):
        PcapngWriter(io.BytesIO()).write(b"a", -1)
    with pytest.raises(ValueError, match="64 bits"):
        PcapngWriter(io.BytesIO()).write(b"a", 1 << 64)
    w = PcapngWriter(io.BytesIO())
    w.close()
    with pytest.raises(ValueError, match="closed PcapngWriter"):
        w.write(b"a", 1)


def test_pcapng_writer_checked_by_tshark(tmp_path, tshark):
    path = tmp_path / "t.pcapng"
    stamps = [1_700_000_000_000_000_001 + i * 999_999_937 for i in range(20)]
    with PcapngWriter(path, iface="tph0") as w:
        for i, ts in enumerate(stamps):
            w.write(udp_frame(bytes([i]) * (i + 1), "10.0.0.1", "233.54.12.1", 5, 26400), ts)
    res = subprocess.run([tshark, "-n", "-r", str(path), "-T", "fields", "-E", "separator=|",
                          "-e", "frame.time_epoch", "-e", "frame.interface_name", "-e",
                          "udp.dstport", "-e", "udp.length", "-e", "frame.cap_len"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rows = [line.split("|") for line in res.stdout.splitlines()]
    assert [_epoch_ns(r[0]) for r in rows] == stamps  # nanoseconds, to the digit
    assert {r[1] for r in rows} == {"tph0"} and {r[2] for r in rows} == {"26400"}
    assert [int(r[3]) for r in rows] == [8 + i + 1 for i in range(20)]
    assert [int(r[4]) for r in rows] == [42 + i + 1 for i in range(20)]
    info = subprocess.run(["capinfos", "-M", str(path)], capture_output=True, text=True)
    if info.returncode == 0:  # capinfos ships with tshark; its view of the file's header
        assert "nanoseconds" in info.stdout and "tickpath" in info.stdout


def test_open_writer_by_extension_or_format(tmp_path):
    for name, fmt, cls, magic in [("a.pcap", None, PcapWriter, "4d3cb2a1"),
                                  ("a.PCAPNG", None, PcapngWriter, "0a0d0d0a"),
                                  ("a.cap", "pcapng", PcapngWriter, "0a0d0d0a"),
                                  ("b.pcapng", "pcap", PcapWriter, "4d3cb2a1")]:
        with open_writer(tmp_path / name, fmt) as w:
            assert type(w) is cls
            w.write(b"x" * 14, 5)
        assert (tmp_path / name).read_bytes()[:4] == bytes.fromhex(magic)
        assert [ts for ts, _ in read_packets(tmp_path / name)] == [5]
    with pytest.raises(ValueError, match="name it .pcap or .pcapng"):
        open_writer(tmp_path / "a.cap")
    with pytest.raises(ValueError, match="unknown capture format 'erf'"):
        open_writer(tmp_path / "a.pcap", "erf")
