#!/usr/bin/env python3
"""Moves an EVTX file's records in time, in place: every record OFFSET seconds later.

trawl counts a Windows event once however many copies of its log it reads (the same computer,
channel, record number and time). The EVTX benchmark is made of copies of the corpus's logs:
this makes each copy's events other events, so that the benchmark indexes every record.

    evtx-retime.py FILE SECONDS

A record's time is in its header and, as the `TimeCreated` the XML shows, in its template's
values (the same eight bytes, a FILETIME: unlike a small record number, found nowhere else in
the record): both are changed, then the chunk's CRC32 of its records. Damaged chunks (no magic)
and records are left as they are.
"""
import struct
import sys
import zlib

CHUNK = 65536


def renumber_chunk(data: bytearray, base: int, offset: int) -> None:
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
        old, new = struct.pack("<Q", time), struct.pack("<Q", time + offset * 10_000_000)
        record = bytes(data[base + pos + 24 : base + pos + size - 4])
        data[base + pos + 24 : base + pos + size - 4] = record.replace(old, new)
        struct.pack_into("<Q", data, base + pos + 16, time + offset * 10_000_000)
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
        renumber_chunk(data, base, offset)
    with open(path, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
