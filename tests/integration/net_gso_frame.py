#!/usr/bin/env python3
"""Send one TCP segment of LEN payload bytes on an interface as a single
GSO packet (a packet socket with PACKET_VNET_HDR: TCPv4 segments of 1448
bytes, checksum left to the device), 802.1Q-tagged when VLAN is not 0,
from SRC_IP:40000 to DST_IP:DST_PORT and to DST_MAC from the interface's
own address, with sequence number 1000 and PSH alone (no ACK: a closed
port's RST acknowledges the bytes it took). Written into the
host's TAP of a NIC whose guest agreed RSC, it comes out of the TAP as one
coalesced frame, which netvsp hands over in pieces (int-net-rsc uses it on
an access VLAN, which the kernel here cannot tag without the 8021q
module). Usage: net_gso_frame.py IFNAME DST_MAC VLAN SRC_IP DST_IP
DST_PORT LEN"""
import socket
import struct
import sys

from net_frame import csum

SOL_PACKET = 263  # not in every Python's socket module
PACKET_VNET_HDR = 15
VNET_NEEDS_CSUM = 1
VNET_GSO_TCPV4 = 1
MSS = 1448


def fold(s):
    while s >> 16:
        s = (s >> 16) + (s & 0xFFFF)
    return s


def segment(src_ip, dst_ip, dport, n):
    """IPv4 + TCP headers and payload; the TCP checksum field holds the
    pseudo-header's sum, as a device finishing it wants."""
    src, dst = socket.inet_aton(src_ip), socket.inet_aton(dst_ip)
    tcp_len = 20 + n
    pseudo = struct.unpack("!4H", src + dst)
    partial = fold(sum(pseudo) + 6 + tcp_len)
    tcp = struct.pack("!HHIIBBHHH", 40000, dport, 1000, 0, 5 << 4, 0x08,
                      65535, partial, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + tcp_len, 1, 0x4000, 64,
                     6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return ip + tcp + bytes(i & 0xFF for i in range(n))


def main():
    ifname, dst, vlan, src_ip, dst_ip, dport, n = sys.argv[1:8]
    vlan, dport, n = int(vlan), int(dport), int(n)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    # protocol 0: the kernel reads it from the frame (0x8100 when
    # tagged); bound to IPv4, a tagged GSO packet is dropped unsent
    s.bind((ifname, 0))
    src_mac = s.getsockname()[4]
    tag = struct.pack("!HH", 0x8100, vlan) if vlan else b""
    l2 = 14 + len(tag)
    hdr = struct.pack("<BBHHHH", VNET_NEEDS_CSUM, VNET_GSO_TCPV4, l2 + 40,
                      MSS, l2 + 20, 16)
    eth = bytes.fromhex(dst.replace(":", "")) + src_mac + tag
    s.send(hdr + eth + struct.pack("!H", 0x0800) +
           segment(src_ip, dst_ip, dport, n))


main()
