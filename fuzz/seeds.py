#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/<target>/ (run once; the files
are checked in). The resolver seeds wrap the captured replies of
dns/fuzz/corpus in fuzz_resolver_reply's record format."""
import glob
import os
import struct

root = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(root, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- fuzz_resolver_reply: mode byte, then [flags][len16][bytes] records.
TCP, KEEP_ID, RAW, END = 1, 2, 4, 8


def rec(flags, data):
    return bytes([flags]) + struct.pack('>H', len(data)) + data


def with_flags(reply, set_bits=0, clear_bits=0, rcode=None):
    b = bytearray(reply)
    b[2] = (b[2] | set_bits) & ~clear_bits
    if rcode is not None:
        b[3] = (b[3] & 0xF0) | rcode
    return bytes(b)


replies = {}
for path in sorted(glob.glob(os.path.join(root, '..', 'dns', 'fuzz', 'corpus', '*.bin'))):
    replies[os.path.basename(path)[:-4]] = open(path, 'rb').read()
for name, reply in replies.items():
    write('fuzz_resolver_reply', 'query_' + name, b'\0' + rec(0, reply))
a, txt = replies['a'], replies['txt']
write('fuzz_resolver_reply', 'send_message_a', b'\1' + rec(0, a))
write('fuzz_resolver_reply', 'gethostbyname_ex_a', b'\2' + rec(0, a))
write('fuzz_resolver_reply', 'gethostbyname_ex_cname', b'\2' + rec(0, replies['cname']))
# Truncated over UDP, whole over TCP.
write('fuzz_resolver_reply', 'tc_then_tcp', b'\0' + rec(0, with_flags(txt, 0x02)) + rec(TCP, txt))
write('fuzz_resolver_reply', 'tc_then_tcp_short', b'\0' + rec(0, with_flags(txt, 0x02)) + rec(TCP | RAW, b'\0\x60' + txt[:40]))
write('fuzz_resolver_reply', 'tc_big_txt', b'\0' + rec(0, replies['tc_big_txt']) + rec(TCP, txt))
# A forged id first, then the real reply.
write('fuzz_resolver_reply', 'forged_then_real', b'\0' + rec(KEEP_ID, a) + rec(0, a))
# A reply to another question, then garbage, then the real one.
write('fuzz_resolver_reply', 'mismatch_garbage_real', b'\0' + rec(0, replies['aaaa']) + rec(0, b'\x12\x34garbage') + rec(0, a))
# SERVFAIL for the first try, the answer on the second.
write('fuzz_resolver_reply', 'servfail_then_answer', b'\0' + rec(END, with_flags(a, rcode=2)) + rec(0, a))
# FORMERR without a question (accepted as a failure only).
write('fuzz_resolver_reply', 'formerr_no_question', b'\0' + rec(0, bytes.fromhex('00008181000000000000 0000'.replace(' ', ''))))
write('fuzz_resolver_reply', 'nxdomain_soa', b'\0' + rec(0, replies['nxdomain']))

# --- fuzz_hosts_file
write('fuzz_hosts_file', 'debian', "127.0.0.1\tlocalhost\n127.0.1.1\thost.example.org\thost\n\n"
      "# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\n"
      "ff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n")
write('fuzz_hosts_file', 'mixed', "10.0.0.1 a.example A.EXAMPLE. alias # comment\r\n"
      "10.0.0.2 a.example b\n fe80::1%lo  link.local\nfe80::1%1 link.local\nbad-ip name\n"
      "10.0.0.3\n::ffff:1.2.3.4 mapped\n192.0.2.1 \\065bc x\\.y\n1.2.3 short\n")
write('fuzz_hosts_file', 'empty', "")

# --- fuzz_resolv_conf
write('fuzz_resolv_conf', 'typical', "# generated\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"
      "search example.com corp.example.com\noptions ndots:2 timeout:3 attempts:4 rotate edns0\n")
write('fuzz_resolv_conf', 'limits', "nameserver 1.1.1.1\nnameserver 8.8.8.8\nnameserver 9.9.9.9\nnameserver 1.0.0.1\n"
      "domain local.\noptions ndots:99 timeout:0 attempts:100\noptions timeout:x ndots:-1\n; comment\n"
      "nameserver fe80::1%lo\nsearch .a .. b.\n")
write('fuzz_resolv_conf', 'names', "search a.b\noptions ndots:1\nfoo foo.bar foo.bar. . ..x\n")

# --- fuzz_address
for i, text in enumerate(["127.0.0.1:80", "[::1]:80", "[fe80::1%lo]:443", "[fe80::1%1]:0", "/run/x.sock",
                          "./x.sock", "../x.sock", "@abstract", "0.0.0.0:65535", "[::ffff:1.2.3.4]:8",
                          "[2001:db8::1]:53", "1.2.3.4", "[::1]", "::1:80", "[1.2.3.4]:80", "1.2.3.4:080",
                          "/" + "p" * 106, "@" + "a" * 107]):
    write('fuzz_address', 'seed%02d' % i, text)

# --- fuzz_framer: FuzzedDataProvider reads the kind, limit and parameters
# from the end and the stream from the front; these are starting points.
write('fuzz_framer', 'lines', b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody" + b"\x10\x20\x30\x00\x01\x02\x01")
write('fuzz_framer', 'prefixed', b"\x00\x03abc\x00\x00\x00\x05hello" + b"\x05\x07\x03\x01\x00\x00\x04")
write('fuzz_framer', 'records', b"0123456789abcdef" * 4 + b"\x02\x03\x04\x10\x00\x02")

# Regex and packed framers (issue 10). FuzzedDataProvider takes strings
# from the front and integers from the back (the first integer from the
# last bytes, high byte first); framer_input() lays out one input that
# reads back as the given kind, limit, pattern or format, stream and chunks.
def framer_input(kind, limit, pattern, stream, chunks, match_mode=None):
    def ints_before_stream(k):
        ints = [(kind, 1), (limit - 1, 2)]
        if match_mode is not None:
            ints.append((1 if match_mode else 0, 1))
        ints.append((len(pattern) - 1 if kind == 6 else len(pattern), 1))
        return ints
    # The stream size's integer has as many bytes as its range needs: the
    # bytes remaining when it is read.
    for k in range(1, 9):
        ints = ints_before_stream(k)
        tail_before = sum(n for _, n in ints)
        total = len(pattern) + len(stream) + tail_before + k + len(chunks)
        remaining = total - len(pattern) - tail_before
        if (remaining.bit_length() + 7) // 8 == k:
            break
    seq = []
    for v, n in ints + [(len(stream), k)] + [(c, 1) for c in chunks]:
        seq += list(v.to_bytes(n, 'big'))
    return pattern + stream + bytes(reversed(seq))


def chunked(stream, size):
    return [size] * (len(stream) // size) + ([len(stream) % size] if len(stream) % size else [])


lines = b"GET / HTTP/1.1\r\nHost: x\n\r\nbody\r"
write('fuzz_framer', 'regex_lines', framer_input(6, 4096, rb"\r?\n", lines, chunked(lines, 3), False))
pairs = b"a=1;bb=22;ccc=333;d"
write('fuzz_framer', 'regex_groups', framer_input(6, 4096, rb"(\w+)=(\d+)(!)?;", pairs, [1] * len(pairs), True))
write('fuzz_framer', 'regex_named', framer_input(6, 64, rb"(?<k>\w+):(?<v>[^\n]*)\n", b"a:b\nc:\n::\n", [2, 5, 4], True))
write('fuzz_framer', 'regex_lookbehind', framer_input(6, 4096, rb"(?<=END)\n+", b"x\nEND\n\ny\nEND\nz", [4, 4, 4, 2], False))
write('fuzz_framer', 'regex_hostile', framer_input(6, 4096, rb"(a+)+b", b"a" * 40 + b"c" + b"ab", [41, 2], False))
write('fuzz_framer', 'regex_empty', framer_input(6, 4096, rb"x*|\b", b"abxxcx d", [1] * 8, False))
rec = bytes(range(7)) * 3
write('fuzz_framer', 'packed_network', framer_input(7, 4096, b"!BIh", rec, [5, 9, 7]))
native = bytes(range(64))
write('fuzz_framer', 'packed_native', framer_input(7, 4096, b"@bq?3sxl", native, [1] * 10 + [54]))
floats = b"\x00\x00\xc0\x7f" + b"\x01\x00\x80\x7f" + b"\x00\x00\x00\x00\x00\x00\xf8\x7f" + b"\x00" * 4
write('fuzz_framer', 'packed_floats', framer_input(7, 8, b"<fd", floats, [3, 17]))
