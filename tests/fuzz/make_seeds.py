#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/ (kept in the repo; rerun after
a change to a format): small inputs that each reach one path of a parser.

The layouts written here follow the C++ definitions: CallHeader
(core/include/shoal/detail/call.hpp), SegmentHeader and SegmentLayout
(store/segment.hpp, sizes of the tables from ipc/ and store/)."""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- object_id: ObjectId::parse ----
write("object_id", "valid_lower", "0123456789abcdef0000000100000002")
write("object_id", "valid_upper", "0123456789ABCDEF00000001000000FF")
write("object_id", "too_short", "0000000000000000")
write("object_id", "too_long", "0123456789abcdef0000000100000002ff")
write("object_id", "not_hex", "0123456789abcdeg0000000100000002")
write("object_id", "empty", "")

# ---- size: launcher::parse_size ----
for name, text in [("plain", "1048576"), ("mebi", "512M"), ("gib", "2GiB"), ("kb", "64kb"),
                   ("tera", "1T"), ("max", "18446744073709551615"),
                   ("overflow", "18446744073709551616"), ("unit_overflow", "17179869184G"),
                   ("bad_unit", "5X"), ("double_b", "1KBB"), ("lone_i", "3Mi"), ("zero", "0"),
                   ("empty", ""), ("space", " 12")]:
    write("size", name, text)

# ---- cpu_list: launcher::parse_cpu_list ----
for name, text in [("one", "0"), ("range", "0-1"), ("mixed", "0,1-1,0"), ("reversed", "1-0"),
                   ("open_range", "0-"), ("trailing_comma", "0,"), ("missing_core", "4095"),
                   ("huge", "99999999999"), ("huge_range", "0-1048575"), ("empty", ""),
                   ("letters", "a-b")]:
    write("cpu_list", name, text)

# ---- ring_cell: decode_call_cell, then the arguments ----
PAYLOAD = 120
RAW, MSGPACK, REF_PASS, REF_RESOLVE = 1, 2, 3, 4


def arg(tag, body):
    return struct.pack("<BI", tag, len(body)) + body


def cell(args=b"", flags=0, args_len=None, result_slot=5, caller=1, signature_pick=0):
    if args_len is None:
        args_len = len(args)
    header = struct.pack("<IIIIIIHHI", 0, 0x1234, result_slot, 1, 9, 1, caller, flags, args_len)
    payload = (header + args).ljust(PAYLOAD, b"\0")[:PAYLOAD]
    return payload + bytes([signature_pick])


ref_id = struct.pack("<QII", 0x1122334455667788, 3, 1)
write("ring_cell", "int", cell(arg(RAW, struct.pack("<i", 42)), signature_pick=0))
write("ring_cell", "int_string", cell(arg(RAW, struct.pack("<i", 7)) + arg(RAW, b"hello"),
                                      signature_pick=1))
write("ring_cell", "doubles_u64",
      cell(arg(RAW, struct.pack("<dd", 1.5, 2.5)) + arg(RAW, struct.pack("<Q", 7)),
           signature_pick=2))
write("ring_cell", "msgpack_strings", cell(arg(MSGPACK, b"\x92\xa1a\xa2bc"), signature_pick=3))
write("ring_cell", "msgpack_map_int",
      cell(arg(MSGPACK, b"\x81\xa1x\x01") + arg(RAW, struct.pack("<i", 3)), signature_pick=4))
write("ring_cell", "ref_pass", cell(arg(REF_PASS, ref_id) + arg(RAW, struct.pack("<i", 1)),
                                    signature_pick=5))
write("ring_cell", "ref_resolve", cell(arg(REF_RESOLVE, ref_id), signature_pick=0))
write("ring_cell", "args_in_object", cell(flags=1, args_len=0))
write("ring_cell", "unknown_flag", cell(arg(RAW, b"\0\0\0\0"), flags=0x40))
# A concurrency group named in the flags (bits 8..15: 1 + its index).
write("ring_cell", "group", cell(arg(RAW, b"\0\0\0\0"), flags=0x0300))
write("ring_cell", "args_too_long", cell(args_len=89))
write("ring_cell", "arg_past_end", cell(arg(RAW, b"abcd")[:5] + b"ab", args_len=7))
write("ring_cell", "bad_result_slot", cell(result_slot=0xffffffff))

# ---- codec: decode<T> by type (first byte), refs with the session's tag ----
# Type numbers: codec_fuzz.cpp's switch.
TAG = b"SHOALTAG"  # the harness puts the session's tag here
# Slots 0, 1 and 2 after the marker name the objects the harness puts at start-up
# (the harness writes their real slot and generation).
LIVE = 0


def ext_ref(slot, gen=1, tag=TAG):
    return b"\xd8\x53" + tag + struct.pack("<II", slot, gen)  # fixext 16, type 0x53


write("codec", "int32", bytes([0]) + struct.pack("<i", -5))
write("codec", "int32_short", bytes([0]) + b"\x01\x02")
write("codec", "double_nan", bytes([1]) + struct.pack("<d", float("nan")))
write("codec", "pod", bytes([2]) + struct.pack("<i4xd", 3, 0.25))
write("codec", "string", bytes([3]) + b"a string")
write("codec", "ints", bytes([4]) + struct.pack("<3i", 1, 2, 3))
write("codec", "ints_ragged", bytes([4]) + b"\x01\x02\x03\x04\x05")
write("codec", "pods", bytes([5]) + struct.pack("<i4xdi4xd", 1, 1.0, 2, 2.0))
write("codec", "strings", bytes([6]) + b"\x92\xa1a\xa2bc")
write("codec", "strings_truncated", bytes([6]) + b"\x92\xa1a\xa5bc")
write("codec", "map_of_ints", bytes([7]) + b"\x81\xa1k\x93\x01\x02\x03")
write("codec", "tuple", bytes([8]) + b"\x93\x05\xa2hi\xcb" + struct.pack(">d", 0.5))
write("codec", "record", bytes([9]) + b"\x93\x2a\xa5label\x92\xcb" + struct.pack(">d", 1.0) +
      b"\xcb" + struct.pack(">d", 2.0))
write("codec", "record_wrong_arity", bytes([9]) + b"\x92\x2a\xa5label")
write("codec", "nested_doubles", bytes([10]) + b"\x92\x91\xcb" + struct.pack(">d", 3.0) + b"\x90")
write("codec", "optional_nil", bytes([11]) + b"\xc0")
write("codec", "optional_string", bytes([11]) + b"\xa3abc")
write("codec", "bools", bytes([12]) + b"\x93\xc3\xc2\xc3")
write("codec", "deep_nesting", bytes([10]) + b"\x91" * 200)
write("codec", "huge_array_header", bytes([6]) + b"\xdd\xff\xff\xff\xff")
write("codec", "refs_live", bytes([13]) + b"\x92" + ext_ref(LIVE) + ext_ref(LIVE))
write("codec", "refs_live_then_gone", bytes([13]) + b"\x93" + ext_ref(LIVE) + ext_ref(LIVE + 2) +
      ext_ref(LIVE + 77, 3))
write("codec", "refs_other_session", bytes([13]) + b"\x91" + ext_ref(LIVE, 1, b"\x01" * 8))
write("codec", "refs_short_ext", bytes([13]) + b"\x91\xd7\x53" + b"\0" * 8)
write("codec", "refs_bad_slot", bytes([13]) + b"\x91" + ext_ref(0xffffffff))
write("codec", "ref_map", bytes([14]) + b"\x81\xa1s" + ext_ref(LIVE + 1))
write("codec", "handles", bytes([15]) + b"\x92\x92\x00\x01\x92\xce\xff\xff\xff\xff\x07")
write("codec", "handles_bad", bytes([15]) + b"\x91\x93\x00\x01\x02")

# ---- segment: attach to a forged segment file ----
# Mode byte (segment_fuzz.cpp): 1 forge magic, version and checksum; 2 extend the
# file to total_bytes; 4 join and leave.
KPAGE, KGRANULE = 4096, 64
SIZES = dict(process=256, ready_queue=1088, actor=832, type=256, object=256)
MAX_PROCESSES, MAX_ACTORS, TYPE_RECORDS = 1024, 4096, 1024


def align(v, a):
    return (v + a - 1) // a * a


def layout(total, processes, actors, types, objects, heap):
    off = 4096
    p_off = off; off += processes * SIZES["process"]
    off += processes * SIZES["ready_queue"]  # a ReadyQueue per process slot
    a_off = off; off += actors * SIZES["actor"]
    t_off = off; off += types * SIZES["type"]
    o_off = off; off += objects * SIZES["object"]
    off = align(off, KPAGE)
    bitmap_words = (heap // KGRANULE + 63) // 64
    summary_words = (bitmap_words + 63) // 64
    b_off = off
    off = align(off + bitmap_words * 8, 64)
    s_off = off
    off = align(off + summary_words * 8, KPAGE)
    h_off = off
    if heap is None or off + heap > total:
        raise ValueError("heap does not fit")
    return struct.pack("<12Q4I", total, 0xabcdef, p_off, a_off, t_off, o_off, b_off, s_off, h_off,
                       heap, bitmap_words, summary_words, processes, actors, types, objects)


def default_layout(total):
    entries = min(max(total // 8192, 16384), 1 << 20)
    off = align(4096 + MAX_PROCESSES * (SIZES["process"] + SIZES["ready_queue"]) +
                MAX_ACTORS * SIZES["actor"] + TYPE_RECORDS * 256 + entries * 256, KPAGE)
    rest = total - off - 4 * KPAGE
    heap = (rest // 513) * 512 // KPAGE * KPAGE
    return layout(total, MAX_PROCESSES, MAX_ACTORS, TYPE_RECORDS, entries, heap)


def header(lay, magic=0x4745534C414F4853, version=2):
    # magic, version, header_bytes, layout, checksum (forged by mode 1), padding to 512.
    h = struct.pack("<QII", magic, version, 512) + lay + struct.pack("<Q", 0)
    return h.ljust(512, b"\0")


small = layout(28672, 2, 1, 1, 1, 16384)
write("segment", "default_16m", bytes([3]) + header(default_layout(16 << 20)))
write("segment", "default_16m_join", bytes([7]) + header(default_layout(16 << 20)))
write("segment", "small_tables", bytes([3]) + header(small).ljust(8192, b"\0"))
write("segment", "small_tables_join", bytes([7]) + header(small).ljust(8192, b"\0"))
write("segment", "bad_checksum", bytes([2]) + header(small))
write("segment", "truncated_header", bytes([1]) + header(small)[:200])
write("segment", "size_mismatch", bytes([1]) + header(small))
write("segment", "empty", bytes([0]))


def with_actor(image, actors_off, state, ring_off, ring_bytes):
    """The image with the actor table's first entry set (ActorEntry: state at 0,
    ring_off at 56, ring_bytes at 96)."""
    b = bytearray(image)
    struct.pack_into("<I", b, actors_off, state)
    struct.pack_into("<Q", b, actors_off + 56, ring_off)
    struct.pack_into("<Q", b, actors_off + 96, ring_bytes)
    return bytes(b)


# One actor, its ring inside the file; then one whose ring offset plus size
# wraps around to a small number (what `shoal status` must not follow).
small_image = header(small).ljust(8192, b"\0")
SMALL_ACTORS_OFF = 4096 + 2 * (SIZES["process"] + SIZES["ready_queue"])
write("segment", "actor_ring_inside",
      bytes([3]) + with_actor(small_image, SMALL_ACTORS_OFF, 3, 8192, 4096))
write("segment", "actor_ring_wraps",
      bytes([3]) + with_actor(small_image, SMALL_ACTORS_OFF, 3, 2**64 - 4096, 8192))
