#!/usr/bin/env python3
"""tests/fuzz/make_corpus.py — writes the seed corpora of the fuzz targets.

    python3 tests/fuzz/make_corpus.py          # rewrites corpus/<target>/seed-*

Each seed is a small valid input in the target's format (see the comment at
the top of each <target>.cpp): the first byte is the target's config or
selector byte, the rest what the target decodes or receives. Crash inputs
that became regression tests (crash-*) and inputs worth keeping (found-*) live
next to them and are kept.
Byte order and sizes are the host's (x86-64), as the codec's are.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def u8(v): return struct.pack('<B', v)
def u32(v): return struct.pack('<I', v)
def u64(v): return struct.pack('<Q', v)
def i32(v): return struct.pack('<i', v)
def i64(v): return struct.pack('<q', v)
def s(text):  # Codec<std::string>
    b = text.encode() if isinstance(text, str) else text
    return u64(len(b)) + b


def write(target, seeds):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if name.startswith('seed-'):
            os.remove(os.path.join(d, name))
    for name, data in seeds.items():
        with open(os.path.join(d, 'seed-' + name), 'wb') as f:
            f.write(data)


# ---- codec_decode: selector byte (codec_decode.cpp's table), then one value
write('codec_decode', {
    'int32': u8(0) + i32(-42),
    'bool': u8(7) + u8(1),
    'string': u8(8) + s('hello'),
    'vector_u16': u8(9) + u64(3) + struct.pack('<3H', 1, 2, 65535),
    'vector_string': u8(10) + u64(2) + s('a') + s('bc'),
    'vector_bool': u8(11) + u64(3) + u8(1) + u8(0) + u8(1),
    'array_string3': u8(15) + s('x') + s('') + s('yz'),
    'pair': u8(18) + struct.pack('<b', -1) + s('p'),
    'tuple': u8(19) + u8(7) + s('t') + u8(1) + i64(123),
    'optional_string': u8(21) + u8(1) + s('opt'),
    'optional_vector': u8(22) + u8(1) + u64(2) + u8(1) + i32(5) + u8(0),
    'variant_string': u8(23) + u32(1) + s('v'),
    'variant_vector': u8(23) + u32(2) + u64(1) + struct.pack('<d', 1.5),
    'map': u8(25) + u64(2) + s('k1') + u64(1) + i32(1) + s('k2') + u64(0),
    'unordered_map': u8(26) + u64(1) + i32(9) + s('nine'),
    'nested': u8(28) + u64(2) + s('a') + u32(1) + i64(-7) + s('b') + u32(2) + u64(2)
              + u8(1) + u8(1) + u8(0),
    'order': u8(29) + u64(1) + s('apple') + i32(3) + u64(2) + struct.pack('<2d', 0.5, 2.0),
    'reader_sequence': u8(31) + u8(0) + s('seq') + u8(1) + u64(1) + u32(77) + u8(2) + u8(0),
})

# ---- pipe_frames: config byte, then frames (u64 length, Codec payload)
def pipe_config(kind, limit_index, piece_shift=0):
    return u8(kind | (limit_index << 2) | (piece_shift << 5))


def frame64(payload): return u64(len(payload)) + payload


write('pipe_frames', {
    'strings': pipe_config(0, 4) + frame64(s('hi')) + frame64(s('there')),
    'strings_in_pieces': pipe_config(0, 4, 2) + frame64(s('a' * 40)) + frame64(s('')),
    'vector_u32': pipe_config(1, 3) + frame64(u64(2) + u32(1) + u32(2)),
    'variant': pipe_config(2, 2) + frame64(u32(1) + s('x')) + frame64(u32(0) + i64(5)),
    'optional_pair': pipe_config(3, 2) + frame64(u8(1) + u8(1) + s('y')) + frame64(u8(0)),
    'bad_message_then_good': pipe_config(0, 4) + frame64(b'\x01') + frame64(s('ok')),
    'cut_frame': pipe_config(0, 4) + frame64(s('whole')) + u64(100) + b'part',
    'over_limit': pipe_config(0, 1) + frame64(s('x' * 20)),
})

# ---- manager_handshake: config byte (bit 0: server half), then the peer's bytes
MAGIC = b'RLMGRv01'
write('manager_handshake', {
    'server_hello_and_verdict': u8(0) + MAGIC + bytes(range(32)) + u8(1) + bytes(32),
    'server_rejects': u8(0) + MAGIC + bytes(32) + u8(0),
    'bad_magic': u8(0) + b'HTTP/1.1 400 Bad' + bytes(24),
    'client_proof': u8(1) + bytes(range(64)),
    'client_proof_empty_key': u8(3) + bytes(64),
    'client_short': u8(1) + bytes(10),
})

# ---- manager_server: config byte (bit 0 = 0: authenticate first; bits 1-2:
# max_frame_size 64 B / 4 KiB / 1 MiB / 64 MiB), then request frames
# (u32 length, payload: u8 op, name, arguments; manager_wire.hpp).
def frame(payload): return u32(len(payload)) + payload
def req(op, name, *args): return frame(u8(op) + s(name) + b''.join(args))
def attach(name, kind, initial=None, maxsize=0):
    opt = u8(0) if initial is None else u8(1) + s(initial)
    return req(1, name, u8(kind), s('fp'), opt, u64(maxsize))
def value(b): return s(b)  # a length-prefixed Codec byte string


AUTH_BIG = u8(6)  # authenticate, 64 MiB frames
write('manager_server', {
    'dict': AUTH_BIG + attach('d', 1) + req(10, 'd', value(s('k')), value(s('v')))
            + req(11, 'd', value(s('k'))) + req(12, 'd', value(s('k')))
            + req(14, 'd') + req(17, 'd') + req(19, 'd', value(s('k2')), value(s('v2')))
            + req(20, 'd', value(s('k'))) + req(18, 'd'),
    'dict_initial': AUTH_BIG + attach('d', 1, u64(1) + s('a') + s('b')) + req(15, 'd'),
    'list': AUTH_BIG + attach('l', 2) + req(30, 'l', value(i32(1)))
            + req(31, 'l', u64(2) + s(i32(2)) + s(i32(3))) + req(32, 'l', i64(-1))
            + req(33, 'l', i64(0), value(i32(9))) + req(34, 'l') + req(35, 'l', i64(0))
            + req(37, 'l') + req(36, 'l'),
    'queue': AUTH_BIG + attach('q', 3, maxsize=1) + req(50, 'q', i64(0), value(s('item')))
             + req(50, 'q', i64(0), value(s('full'))) + req(52, 'q') + req(51, 'q', i64(0))
             + frame(u8(100)) + req(51, 'q', i64(0)),
    'queue_unacked': AUTH_BIG + attach('q', 3) + req(50, 'q', i64(-1), value(s('x')))
                     + req(51, 'q', i64(-1)) + req(52, 'q'),
    'lock': AUTH_BIG + attach('m', 4) + req(70, 'm', i64(0)) + req(70, 'm', i64(0))
            + req(71, 'm') + req(71, 'm'),
    'value': AUTH_BIG + attach('v', 5, s('init')) + req(80, 'v') + req(81, 'v', value(s('new')))
             + req(82, 'v', value(s('new')), value(s('newer'))) + req(80, 'v'),
    'errors': AUTH_BIG + req(11, 'missing', value(s('k'))) + attach('d', 1)
              + attach('d', 2) + req(99, 'd') + req(30, 'd', value(s('x'))) + req(11, 'd'),
    'small_frames': u8(0) + attach('d', 1) + req(10, 'd', value(s('k')), value(s('v' * 80))),
    'raw_answer': u8(1) + bytes(64) + attach('d', 1),
})

# ---- http_request: config byte (piece size), then what a client sends
GET = b'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'
write('http_request', {
    'get': u8(0) + GET,
    'pipelined': u8(3) + GET + b'GET /nothing?x=1 HTTP/1.1\r\nHost: a\r\n\r\n'
                 + b'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello' + GET,
    'http10_keepalive': u8(130) + b'HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
    'close': u8(1) + b'\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, close\r\n\r\n',
    'options_star': u8(7) + b'OPTIONS * HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n',
    'bad_chunked': u8(0) + b'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n',
    'partial': u8(5) + b'GET /index.html HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/7',
})
