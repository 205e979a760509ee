#!/usr/bin/env python3
"""Writes the seed corpora of the RNDIS fuzz targets (fuzz_rndis_host,
fuzz_rndis_guest, fuzz_rndis_ppi) into fuzz/corpus/rndis_*/: the message
sequences Linux and FreeBSD guests send, what a host answers, PACKETs
with every PPI alone and aggregated, and a hostile variant of each field
the engines check. Run from anywhere; it replaces the files it owns."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

INIT, HALT, QUERY, SET, RESET, INDICATE, KEEPALIVE = 2, 3, 4, 5, 6, 7, 8
CMPLT = 0x80000000
OID = {
    'list': 0x00010101, 'frame': 0x00010106, 'speed': 0x00010107,
    'filter': 0x0001010E, 'media': 0x00010114, 'config': 0x0001021B,
    'rsscaps': 0x00010203, 'rss': 0x00010204, 'maxspeed': 0x00010206,
    'linkstate': 0x00010207,
    'name': 0x00020216, 'perm': 0x01010101, 'cur': 0x01010102,
    'encap': 0x0101010A, 'offcur': 0xFC01020B, 'offp': 0xFC01020C,
    'hwcaps': 0xFC01020D,
}
KEY = bytes.fromhex('6d5a56da255b0ec24167253d43a38fb0d0ca2bcb'
                    'ae7b30b477cb2da38030f20c6a42b73bbeac01fa')


def u32(*v):
    return struct.pack('<%dI' % len(v), *v)


def init(rid, major=1):
    return u32(INIT, 24, rid, major, 0, 0x4000)


def oid_req(kind, rid, oid, val=b'', off=20):
    pad = b'\0' * (off - 20)
    return u32(kind, 8 + off + len(val), rid, oid, len(val), off, 0) + pad + val


def hwcaps_in(size):
    rev = {112: 1, 144: 2, 156: 3}[size]
    return struct.pack('<BBH', 0xA7, rev, size) + b'\0' * (size - 4)


def offp(size, tcp=4, udp=4, lso=2, rsc=2):
    v = struct.pack('<BBH', 0x80, 3, 28) + bytes([1, tcp, udp, tcp, udp, 0, 0,
                                                  lso, lso, 0, 0, 0])
    v += u32(0) + bytes([0, 0, rsc, rsc, 0, 0, 0, 0])
    return v[:size]


def rss(entries, queues, key_first=False, flags=0, hash_info=0x1F01):
    tab = b''.join(u32(i % queues) for i in range(entries))
    if key_first:
        koff, toff = 40, 80
        body = KEY + tab
    else:
        toff, koff = 40, 40 + 4 * entries
        body = tab + KEY
    hdr = struct.pack('<BBHHHIHHIHHIIII', 0x89, 2, 40, flags, 0, hash_info,
                      4 * entries, 0, toff, 40, 0, koff, 0, 0, 0)
    return hdr + body


def config(name, value, ptype=2):
    n = name.encode('utf-16-le')
    v = value.encode('utf-16-le')
    return u32(20, len(n), ptype, 20 + len(n), len(v)) + n + v


def linux_seq(queues=4, off_size=28, hw=156):
    seq = [init(1)]
    rid = 2
    for o in ('perm', 'frame', 'media', 'speed'):
        seq.append(oid_req(QUERY, rid, OID[o]))
        rid += 1
    seq.append(oid_req(QUERY, rid, OID['hwcaps'], hwcaps_in(hw)))
    seq.append(oid_req(QUERY, rid + 1, OID['rsscaps'],
                       struct.pack('<BBH', 0x88, 2, 18) + b'\0' * 14))
    seq.append(oid_req(SET, rid + 2, OID['filter'], u32(0)))
    seq.append(oid_req(SET, rid + 3, OID['offp'], offp(off_size)))
    seq.append(oid_req(SET, rid + 4, OID['rss'], rss(128, queues)))
    seq.append(oid_req(SET, rid + 5, OID['filter'], u32(0xD)))
    return seq


def host_input(cfg, backend, msgs):
    return bytes([cfg, backend]) + b''.join(
        struct.pack('<H', len(m)) + m for m in msgs)


def host_seeds():
    s = {}
    s['linux-v61'] = host_input(0x73, 0xFF, linux_seq())
    s['linux-v4'] = host_input(0x73, 0xFF, linux_seq(off_size=22, hw=144))
    s['linux-v2'] = host_input(0x70, 0x7F, linux_seq(off_size=22, hw=112))
    bsd = linux_seq()
    bsd[-2] = oid_req(SET, 20, OID['rss'], rss(64, 4, key_first=True))
    s['freebsd-keyfirst'] = host_input(0x73, 0xFF, bsd)
    every = [init(1)] + [oid_req(QUERY, 10 + i, o, b'\0' * 20)
                         for i, o in enumerate(OID.values())]
    s['every-oid'] = host_input(0x07, 0xFF, every)
    s['mac-change'] = host_input(0x0B, 0, [
        init(1), oid_req(SET, 2, OID['config'],
                         config('NetworkAddress', '021122AABBCC')),
        oid_req(QUERY, 3, OID['cur'])])
    s['mac-ignored'] = host_input(0x03, 0, [
        init(1), oid_req(SET, 2, OID['config'],
                         config('NetworkAddress', '021122AABBCC'))])
    s['halt-reset-keepalive'] = host_input(0x01, 0, [
        init(1), u32(KEEPALIVE, 12, 5), u32(RESET, 12, 0), u32(HALT, 12, 6),
        u32(KEEPALIVE, 12, 7), init(8)])
    s['rss-disable-unchanged'] = host_input(0x07, 0, [
        init(1), oid_req(SET, 2, OID['rss'], rss(16, 8)),
        oid_req(SET, 3, OID['rss'], rss(16, 8, flags=0x4)),
        oid_req(SET, 4, OID['rss'], rss(16, 8, flags=0x10)),
        oid_req(SET, 5, OID['rss'], rss(32, 8, hash_info=0))])
    hostile = [init(1),
               oid_req(QUERY, 2, OID['speed'], u32(0), off=16),
               oid_req(SET, 3, OID['filter'], u32(1))[:30],
               u32(SET, 40, 4, OID['filter'], 4, 0xFFFFFFFE, 0) + u32(1, 0, 0),
               oid_req(SET, 5, OID['offp'], offp(19)),
               oid_req(SET, 6, OID['offp'], bytes([0x80, 3, 28, 0, 9]) +
                       b'\0' * 23),
               oid_req(SET, 7, OID['rss'], rss(8, 4)),
               oid_req(SET, 8, OID['rss'], rss(129, 4)),
               oid_req(SET, 9, OID['rss'], rss(16, 9)),
               oid_req(SET, 10, OID['config'], u32(0xFFFFFFF0, 8, 2, 0, 0)),
               oid_req(QUERY, 11, 0x12345678),
               oid_req(QUERY, 12, OID['hwcaps'], b'\0' * 100),
               init(13, major=2), u32(1, 44) + b'\0' * 36, u32(9, 8),
               u32(QUERY, 4), u32(QUERY, 200, 1)]
    s['hostile'] = host_input(0x7F, 0xFF, hostile)
    s['before-init'] = host_input(0x00, 0xFF, [
        oid_req(QUERY, 1, OID['perm']), u32(HALT, 12, 2), u32(RESET, 12, 0)])
    return s


def guest_input(cfg, queues, ops):
    out = bytes([cfg, queues])
    for op, data in ops:
        out += struct.pack('<BH', op, len(data)) + data
    return out


def any_id(pick):
    return struct.pack('<BBBB', pick, 0, 0, 0xEE)


def guest_seeds():
    s = {}
    steps = [(0, b'')] * 12
    for ver in range(8):
        s['init-nvsp%d' % ver] = guest_input(ver | 0x20 | 0x40, 8, steps)
    s['init-one-queue'] = guest_input(5 | 0x20, 1, steps)
    later = steps + [(2, u32(0xD)), (3, b''), (4, b''),
                     (1, u32(KEEPALIVE | CMPLT, 16) + any_id(0) + u32(0)),
                     (1, u32(SET | CMPLT, 16) + any_id(1) + u32(0)),
                     (1, u32(SET | CMPLT, 16) + any_id(2) + u32(0xC0000001))]
    s['later'] = guest_input(5 | 0x20, 8, later)
    ind = steps + [
        (1, u32(INDICATE, 20, 0x4001000C, 0, 0)),
        (1, u32(INDICATE, 20, 0x4001000B, 0, 0)),
        (1, u32(INDICATE, 24, 0x40010013, 4, 12, 1000000)),
        (1, u32(INDICATE, 20, 0x40010013, 4, 12, 1000000)),
        (1, u32(INDICATE, 20, 0x40010018, 0, 0)),
        (1, u32(INDICATE, 24, 0x40010013, 4, 0xFFFFFFF8, 1))]
    s['indications'] = guest_input(5, 0, ind)
    init_c = (u32(INIT | CMPLT, 52) + any_id(0) +
              u32(0, 1, 0, 1, 0, 8, 0xEFFFFFFF, 3, 0, 0))
    s['hostile-init'] = guest_input(5 | 0x18, 4, [
        (0, b'\1'), (1, init_c[:51]), (1, init_c[:40] + u32(31) + init_c[44:]),
        (1, init_c[:8] + u32(1) + init_c[12:]),
        (1, init_c[:8] + u32(1) + init_c[12:]), (1, init_c)])
    q = lambda st, val, off=16: (u32(QUERY | CMPLT, 24 + len(val)) + any_id(0)
                                 + u32(st, len(val), off) + val)
    s['hostile-queries'] = guest_input(6 | 0x20, 4, [
        (0, b''), (0, b'\1'),
        (1, q(0, b'\1\2\3\4')), (1, q(0, b'\1\2\3\4\5\6', off=12)),
        (1, q(0, b'\1\2\3\4\5\6', off=0xFFFFFFF0)),
        (1, q(0, b'\x02\0\0\0\0\1')), (0, b'\1'), (1, q(0, u32(10))),
        (1, q(0xC00000BB, b'')), (0, b'\1'), (1, q(0, u32(2))),
        (1, q(0, u32(0))), (0, b'\1'), (1, q(0, u32(100))), (0, b'\1'),
        (1, q(0, b'\xa7\1\x70\0' + b'\0' * 108)), (0, b'\1'),
        (1, q(0, b'\x88\2\x12\0' + u32(0, 1, 64) + b'\x00\x01\0\0')),
        (0, b'\1'), (1, q(0xC0000001, b'')), (5, b''),
        (1, q(0, u32(0))[:8] + u32(9) + q(0, u32(0))[12:])])
    s['set-failures'] = guest_input(5 | 0x20, 8, steps[:7] + [
        (0, b'\1'), (1, u32(SET | CMPLT, 16) + any_id(0) + u32(0)),
        (0, b'\1'), (1, u32(SET | CMPLT, 16) + any_id(0) + u32(0xC0010015)),
        (0, b'\1'), (1, u32(SET | CMPLT, 16) + any_id(0) + u32(0xC0010015)),
        (1, u32(SET | CMPLT, 12) + any_id(0)),
        (1, u32(0x80000009, 16) + any_id(0) + u32(0))])
    s['abandon'] = guest_input(5 | 0x20, 8, [
        (0, b'\1'), (5, b''), (0, b''), (1, init_c[:8] + u32(1) + init_c[12:])])
    return s


# ---- PACKETs ----

def ppi(ptype, value):
    return u32(16, ptype, 12, value)


def packet(ppis=(), data=b'\x45' + b'\0' * 59, pad=0):
    body = b''.join(ppis)
    hl = 44 + len(body)
    ml = hl + len(data) + pad
    return (u32(1, ml, hl - 8, len(data), 0, 0, 0,
                36 if body else 0, len(body), 0, 0) + body + data +
            b'\0' * pad)


def ppi_seeds():
    tx = [ppi(0, 0x00220005), ppi(2, 0x42205A8), ppi(6, 0x645), ppi(8, 3)]
    rx = [ppi(0, 0x28), ppi(6, 0xFFF0), ppi(8, 0x51ccc178), ppi(9, 0x201),
          ppi(0x80000001, 0xBEEF0201)]
    s = {}
    s['plain'] = b'\0' + packet()
    s['tx-all'] = b'\0' + packet(tx)
    s['rx-all'] = b'\0' + packet(rx)
    for i, p in enumerate(tx + rx):
        s['one-ppi-%d' % i] = b'\0' + packet([p])
    s['unknown-ppi'] = b'\0' + packet([ppi(11, 0), u32(20, 7, 12, 0, 0)])
    multi = b''
    for n in (60, 1, 1514, 100):
        p = packet(rx, data=b'\x11' * n)
        pad = (-len(p)) % 8
        multi += packet(rx, data=b'\x11' * n, pad=pad)
    s['multi-linux'] = b'\0' + multi
    unpadded = b''
    for n in (60, 3, 7):
        p = packet([ppi(8, n)], data=b'\x22' * n)
        unpadded += p + b'\0' * ((-len(p)) % 8)
    s['multi-align8'] = b'\3' + unpadded + b'\0' * 20
    base = packet([ppi(0, 1)], data=b'\x33' * 20)
    for name, off, val in [('msglen', 4, 200), ('data-off', 8, 30),
                           ('data-len', 12, 0), ('oob', 24, 1),
                           ('vc', 36, 1), ('ppi-align', 28, 38),
                           ('ppi-size', 44, 13), ('ppi-offset', 52, 16),
                           ('data-wrap', 8, 0xFFFFFFF0)]:
        s['bad-' + name] = b'\0' + base[:off] + u32(val) + base[off + 4:]
    s['bad-second'] = b'\3' + packet() + u32(3, 44) + b'\0' * 36
    s['short'] = b'\0' + packet()[:43]
    return s


def write(target, seeds):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


write('rndis_host', host_seeds())
write('rndis_guest', guest_seeds())
write('rndis_ppi', ppi_seeds())
