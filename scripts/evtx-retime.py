#!/usr/bin/env python3
"""Moves an EVTX file's records in time, in place: every record OFFSET seconds later.

trawl counts a Windows event once however many copies of its log it reads (the same computer,
channel, record number and time). The EVTX benchmark is made of copies of the corpus's logs:
this makes each copy's events other events, so that the benchmark indexes every record.

    evtx-retime.py FILE SECONDS

A record's time is in its header and, as the `TimeCreated` the XML shows, among its template
instance's values (a FILETIME): both are moved, and every other FILETIME value with them, then
the chunk's CRC32 of its records is written again. Damaged chunks (no magic) and records are
left as they are.
"""
import struct
import sys
import zlib

CHUNK = 65536


def shift_filetimes(data: bytearray, base: int, start: int, end: int, ticks: int) -> None:
    """Moves the FILETIME values (type 0x11) of a record's template instance: `TimeCreated`
    among them. The record's BinXML: a fragment header, then a template instance (token 0x0C,
    its id, where its definition is: here, inline, or earlier in the chunk), then its values'
    count, sizes and types, then the values."""
    at = start
    if data[base + at] == 0x0F:
        at += 4
    if data[base + at] != 0x0C or at + 10 > end:
        return
    definition = struct.unpack_from("<I", data, base + at + 6)[0]
    at += 10
    if definition == at:
        size = struct.unpack_from("<I", data, base + at + 20)[0]
        at += 24 + size
    if at + 4 > end:
        return
    count = struct.unpack_from("<I", data, base + at)[0]
    at += 4
    if at + 4 * count > end:
        return
    descriptors = [struct.unpack_from("<HBB", data, base + at + 4 * i) for i in range(count)]
    at += 4 * count
    for size, kind, _ in descriptors:
        if kind == 0x11 and size == 8 and at + 8 <= end:
            value = struct.unpack_from("<Q", data, base + at)[0]
            struct.pack_into("<Q", data, base + at, value + ticks)
        at += size


def retime_chunk(data: bytearray, base: int, offset: int) -> None:
    if data[base : base + 8] != b"ElfChnk\x00":
        return
    free = struct.unpack_from("<I", data, base + 48)[0]
    if not 512 <= free <= CHUNK:
        return
    pos = 512
    while pos + 24 <= free:
        magic, size, _, time = struct.unpack_from("<IIQQ", data, base + pos)
        if magic != 0x00002A2A or size < 28 or pos + size > free:
            break
        struct.pack_into("<Q", data, base + pos + 16, time + offset * 10_000_000)
        shift_filetimes(data, base, pos + 24, pos + size - 4, offset * 10_000_000)
        pos += size
    records = zlib.crc32(bytes(data[base + 512 : base + free])) & 0xFFFFFFFF
    struct.pack_into("<I", data, base + 52, records)
    header = bytes(data[base : base + 120]) + bytes(data[base + 128 : base + 512])
    struct.pack_into("<I", data, base + 124, zlib.crc32(header) & 0xFFFFFFFF)


def main() -> None:
    path, offset = sys.argv[1], int(sys.argv[2])
    with open(path, "rb") as f:
        data = bytearray(f.read())
    for base in range(4096, len(data) - 512 + 1, CHUNK):
        retime_chunk(data, base, offset)
    with open(path, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
