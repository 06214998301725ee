#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""What a client's TCP connection saw around a server's upgrade.

    tcp_view.py PCAP [--port 6379] [--until EPOCH] [--check]

PCAP is QEMU's capture of the guest's NIC (scripts/vm-run.sh --disk:
RUN_DIR/net.pcap; host clock). For the one connection to the guest's PORT
that carried the most segments, it prints key=value lines: the longest
silence of the guest (the downtime as the wire shows it), what the peer
(QEMU's user network, for the client) sent into it (retransmissions of the
same bytes, the times between them), what the guest sent first after it
(a window probe, or data), the windows the guest announced before and
after, and the RSTs the guest sent. Segments after EPOCH (the client's
stop) are not looked at.

--check fails (exit 1, one line) when the guest sent a RST on the
connection, or when the restored connection announces a window less than a
quarter of the one before (a window scale not restored: the peer then
sends a few dozen bytes at a time, on its persist timer).
"""
import argparse
import struct
import sys


def segments(path):
    """(time, src, sport, dst, dport, flags, seq, ack, length, window)."""
    with open(path, 'rb') as f:
        head = f.read(24)
        if len(head) < 24 or head[:4] not in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'):
            sys.exit(f'tcp_view: {path} is not a little-endian pcap file')
        nano = head[:4] == b'\x4d\x3c\xb2\xa1'
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, incl, _ = struct.unpack('<IIII', rec)
            frame = f.read(incl)
            if len(frame) < 54 or frame[12:14] != b'\x08\x00':
                continue
            ip = frame[14:]
            ihl = (ip[0] & 15) * 4
            if ip[9] != 6:
                continue
            total = struct.unpack('>H', ip[2:4])[0]
            tcp = ip[ihl:]
            sport, dport, seq, ack = struct.unpack('>HHII', tcp[:12])
            off = (tcp[12] >> 4) * 4
            win = struct.unpack('>H', tcp[14:16])[0]
            yield (sec + frac / (1e9 if nano else 1e6),
                   '.'.join(map(str, ip[12:16])), sport,
                   '.'.join(map(str, ip[16:20])), dport,
                   tcp[13], seq, ack, total - ihl - off, win)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('pcap')
    ap.add_argument('--port', type=int, default=6379)
    ap.add_argument('--until', type=float)
    ap.add_argument('--check', action='store_true')
    a = ap.parse_args()

    conns = {}
    for s in segments(a.pcap):
        if a.until is not None and s[0] > a.until:
            break
        if a.port not in (s[2], s[4]):
            continue
        peer = (s[1], s[2]) if s[4] == a.port else (s[3], s[4])
        conns.setdefault(peer, []).append(s)
    if not conns:
        sys.exit(f'tcp_view: no TCP segment to or from port {a.port}')
    peer, segs = max(conns.items(), key=lambda kv: len(kv[1]))
    guest = [s for s in segs if s[2] == a.port]
    if len(guest) < 2:
        sys.exit('tcp_view: the guest sent fewer than 2 segments')

    # The longest silence of the guest on this connection.
    gap, at = max((b[0] - p[0], i) for i, (p, b) in enumerate(zip(guest, guest[1:]), 1))
    t0, t1 = guest[at - 1][0], guest[at][0]
    into = [s for s in segs if s[4] == a.port and t0 < s[0] < t1]
    data_in = [s for s in into if s[8] > 0]
    first = guest[at]
    before = [s[9] for s in guest[:at] if not s[5] & 6]
    after = [s[9] for s in guest[at:] if not s[5] & 6]
    rst = [s for s in guest if s[5] & 4]
    win_before = sorted(before)[len(before) // 2] if before else 0
    win_after = min(after) if after else 0
    # A window probe carries no data and a sequence number the peer has
    # acknowledged already, so that the peer must answer it.
    probe = first[8] == 0 and first[6] != (guest[at - 1][6] + guest[at - 1][8]) % 2**32
    print(f'peer={peer[0]}:{peer[1]}')
    print(f'segments={len(segs)}')
    print(f'guest_silence_s={gap:.3f}')
    print(f'peer_segments_into_silence={len(into)}')
    print(f'peer_retransmissions={max(len(data_in) - 1, 0)}')
    print('peer_retransmission_gaps_s=' +
          ','.join(f'{b[0] - p[0]:.1f}' for p, b in zip(data_in, data_in[1:])))
    print(f'guest_first_after=' + ('window probe' if probe else
                                   'data' if first[8] else 'ack'))
    print(f'peer_answer_after_first_s=' +
          next((f'{s[0] - first[0]:.3f}' for s in segs
                if s[0] > first[0] and s[4] == a.port and s[8] > 0), ''))
    print(f'guest_window_before={win_before}')
    print(f'guest_window_after_min={win_after}')
    print(f'guest_rst={len(rst)}')
    if a.check:
        if rst:
            print(f'FAIL: the guest sent a RST on the connection at +{rst[0][0] - segs[0][0]:.3f} s')
            return 1
        if win_after * 4 < win_before:
            print(f'FAIL: the restored connection announces a window of {win_after} bytes '
                  f'(before: {win_before}): its window scale was not restored')
            return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
