#!/usr/bin/python3
# inject.py: the attacker of the heartbeat tests, run in the client
# namespace.  It builds heartbeats in heartbeatd's wire format (see
# heartbeatd/proto.h) that claim to come from node NODE_ID and say
# "LEAVING" (which would make the peer take over at once if believed):
#   inject.py forge    DST PORT NODE_ID COUNT         random MAC
#   inject.py wrongkey DST PORT NODE_ID COUNT KEYFILE signed with another key
#   inject.py replay   CAPDEV DST SRC PORT COUNT  capture COUNT real
#       heartbeats from SRC on CAPDEV (a bridge port), wait, and send the
#       same payloads again, byte for byte, to DST:PORT
import hashlib
import hmac
import os
import socket
import struct
import sys
import time


def packet(node_id, key):
    epoch = int(time.time() * 1e6) + 10**9          # newer than any real epoch
    hdr = b"MHHB" + struct.pack(">BBBBHHQQQ", 1, 2, 3, 0x02, node_id, 0,
                                epoch, 1, int(time.time() * 1000))
    mac = os.urandom(32) if key is None else hmac.new(key, hdr, hashlib.sha256).digest()
    return hdr + mac


def send_udp(dst, port, pkts):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for p in pkts:
        s.sendto(p, (dst, port))
        time.sleep(0.01)


def replay(capdev, dst, src, port, count):
    # ETH_P_ALL: a bridge port's frames reach only the all-protocol taps
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    cap.bind((capdev, 0))
    cap.settimeout(5)
    src_b = socket.inet_aton(src)
    frames = []
    while len(frames) < count:
        f = cap.recv(2048)
        if f[12:14] != b"\x08\x00":
            continue
        ip = f[14:]
        ihl = (ip[0] & 0x0f) * 4
        if ip[9] == 17 and ip[12:16] == src_b and struct.unpack(">H", ip[ihl + 2:ihl + 4])[0] == port:
            frames.append(ip[ihl + 8:])
    time.sleep(0.5)     # the real sender has moved on
    send_udp(dst, port, frames)
    print("replayed %d heartbeats" % len(frames))


mode = sys.argv[1]
if mode == "forge":
    n = int(sys.argv[5])
    send_udp(sys.argv[2], int(sys.argv[3]), [packet(int(sys.argv[4]), None) for _ in range(n)])
elif mode == "wrongkey":
    key = open(sys.argv[6], "rb").read().rstrip()
    n = int(sys.argv[5])
    send_udp(sys.argv[2], int(sys.argv[3]), [packet(int(sys.argv[4]), key) for _ in range(n)])
elif mode == "replay":
    replay(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
else:
    sys.exit("unknown mode " + mode)
