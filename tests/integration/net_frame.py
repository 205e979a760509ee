#!/usr/bin/env python3
"""Send one Ethernet frame on an interface through a packet socket: an
ICMP echo request from SRC_IP to DST_IP, to DST_MAC from the interface's
own address, 802.1Q-tagged when VLAN is not 0. The int-net-* tests use it
to put frames on a TAP that the kernel would not send (tagged ones
without the 8021q module, unicast to an address nobody has).
Usage: net_frame.py IFNAME DST_MAC VLAN SRC_IP DST_IP"""
import socket
import struct
import sys


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def frame(src_mac, dst_mac, vlan, src_ip, dst_ip):
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4856, 1) + b"hvis-net-test" * 4
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0, 64, 1,
                     0, socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    tag = struct.pack("!HH", 0x8100, vlan) if vlan else b""
    return dst_mac + src_mac + tag + struct.pack("!H", 0x0800) + ip + icmp


def main():
    ifname, dst, vlan, src_ip, dst_ip = sys.argv[1:6]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((ifname, 0))
    src_mac = s.getsockname()[4]
    s.send(frame(src_mac, bytes.fromhex(dst.replace(":", "")), int(vlan),
                 src_ip, dst_ip))


if __name__ == "__main__":
    main()
