#!/usr/bin/env python3
"""Add seeds to the fuzz corpus from pcap files of raw IP packets.

Every packet becomes a `segment` seed; the TCP option bytes of every packet
become a `tcp_options` seed. Seeds are named by the SHA-1 of their content,
as cargo-fuzz names them, so running this twice adds nothing new.

    python3 fuzz/seed_from_pcap.py tests/fixtures/kernel/*.pcap
"""
import hashlib
import pathlib
import struct
import sys

HERE = pathlib.Path(__file__).resolve().parent


def packets(path):
    data = pathlib.Path(path).read_bytes()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    offset = 24
    while offset + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[offset : offset + 16])
        offset += 16
        yield data[offset : offset + incl]
        offset += incl


def tcp_options(packet):
    version = packet[0] >> 4
    if version == 4:
        ihl = (packet[0] & 0xF) * 4
    elif version == 6:
        ihl = 40
    else:
        return None
    tcp = packet[ihl:]
    if len(tcp) < 20:
        return None
    data_offset = (tcp[12] >> 4) * 4
    return tcp[20:data_offset]


def add(target, blob):
    folder = HERE / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(blob).hexdigest()).write_bytes(blob)


for pcap in sys.argv[1:]:
    for packet in packets(pcap):
        add("segment", packet)
        options = tcp_options(packet)
        if options:
            add("tcp_options", options)
