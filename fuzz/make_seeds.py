#!/usr/bin/env python3
"""Writes the hand-made seed inputs into fuzz/corpus/<target>/seed-*.

Run from anywhere: `python3 fuzz/make_seeds.py`. Standard library only
(a small msgpack and bincode encoder below). Seeds are named by content
hash, so running it twice adds nothing; `cargo fuzz cmin` may drop the
ones that add no coverage.
"""
import base64
import hashlib
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- msgpack (the subset Salt sends) ----
class Bin(bytes):
    pass


class Ext:
    def __init__(self, code, data):
        self.code, self.data = code, data


def mp(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v < 128:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if 0 <= v < 2**32:
            return b"\xce" + struct.pack(">I", v)
        if 0 <= v < 2**64:
            return b"\xcf" + struct.pack(">Q", v)
        return b"\xd3" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, Bin):
        n = len(v)
        head = b"\xc4" + bytes([n]) if n < 256 else b"\xc5" + struct.pack(">H", n) if n < 65536 else b"\xc6" + struct.pack(">I", n)
        return head + bytes(v)
    if isinstance(v, Ext):
        return b"\xc7" + bytes([len(v.data)]) + struct.pack("b", v.code) + v.data
    if isinstance(v, (str, bytes)):
        b = v.encode() if isinstance(v, str) else v
        n = len(b)
        if n < 32:
            head = bytes([0xA0 | n])
        elif n < 256:
            head = b"\xd9" + bytes([n])
        elif n < 65536:
            head = b"\xda" + struct.pack(">H", n)
        else:
            head = b"\xdb" + struct.pack(">I", n)
        return head + b
    if isinstance(v, (list, tuple)):
        n = len(v)
        head = bytes([0x90 | n]) if n < 16 else b"\xdc" + struct.pack(">H", n)
        return head + b"".join(mp(x) for x in v)
    if isinstance(v, dict):
        n = len(v)
        head = bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n)
        return head + b"".join(mp(k) + mp(x) for k, x in v.items())
    raise TypeError(v)


# ---- bincode 2, standard config (varint, little endian) ----
def varint(n):
    if n < 251:
        return bytes([n])
    if n < 2**16:
        return b"\xfb" + struct.pack("<H", n)
    if n < 2**32:
        return b"\xfc" + struct.pack("<I", n)
    return b"\xfd" + struct.pack("<Q", n)


def bstr(s):
    b = s.encode() if isinstance(s, str) else s
    return varint(len(b)) + b


def bopt(v, enc):
    return b"\x00" if v is None else b"\x01" + enc(v)


def bvec(items, enc):
    return varint(len(items)) + b"".join(enc(x) for x in items)


def user(nick, created, last_seen, roles=()):
    body = bstr(nick) + bstr(bytes(range(16))) + varint(600_000) + bstr(bytes(32))
    body += varint(created) + varint(created + 1) + bopt(last_seen, varint) + bvec(list(roles), bstr)
    return b"\x01" + body


def token(uid, created, expires):
    return b"\x01" + varint(uid) + varint(created) + varint(expires)


STATES = {"queued": 0, "running": 1, "done": 2, "failed": 3, "interrupted": 4}


def task(uid, targets, state, jid=None, started=None, finished=None, response=None, attempts=0):
    body = varint(uid) + varint(0) + bstr("test.ping") + bvec(targets, bstr) + varint(5)
    body += varint(STATES[state]) + bopt(jid, bstr) + varint(1_764_600_000_000_000)
    body += bopt(started, varint) + bopt(finished, varint)
    body += bopt(response, lambda r: varint(r[0]) + bstr(r[1])) + varint(attempts)
    return b"\x01" + body


def backup(entries):
    out = b"PROJETYD-BACKUP 1\n"
    for kind, key, value in entries:
        out += bytes([kind]) + struct.pack(">I", len(key)) + key + struct.pack(">I", len(value)) + value
    out += b"\x00" + struct.pack(">Q", len(entries))
    return out + hashlib.sha256(out).digest()


def main():
    uuid = "6f1c2a4e-9b7d-4c1e-8a53-2f9d0e7b1c44"
    # routing: request targets as hyper sees them.
    for p in [
        "/healthz", "/api/v1.0/tokens", "/api/v1.0/tokens?expiration=3600",
        "/api/v1.0/tokens?expiration=0099999999999999999999", "/api/v1.0/users",
        "/api/v1.0/users/7", "/api/v1.0/users/", "/api/v1.0/keys", "/api/v1.0/tasks",
        "/api/v1.0/ping?timeout=5", "/api/v1.0/ping/web%2A?timeout=30&x",
        "/api/v1.0/minions/m1.example.org/ping", "/api/v1.0/tasks/ping",
        "/api/v1.0/tasksping", "/api/v1.0/tasks/ping/m%C3%A9", f"/api/v1.0/tasks/status/{uuid}?wait=10",
        "/api/v1.0/jobs?limit=50&after=" + uuid, f"/api/v1.0/jobs/{uuid}",
        "/api/v1.0/ping/%ff", "/api/v1.0/ping/%2", "/api/v1.0/ping/%%41", "/api/v2.0/users",
        "http://127.0.0.1:8080/api/v1.0/keys?limit", "*", "/?timeout&timeout=1",
    ]:
        put("routing", p)
    # auth_header
    b64 = lambda s: base64.b64encode(s).decode()
    tok = "Zk9sZ3JhZ2d5X3Rva2VuX3RleHRfNDNfY2hhcnNfLTE"[:43]
    for h in [
        "Basic " + b64(b"alice:s3cret"), "basic   " + b64(b"alice:a:b") + "  ",
        "BASIC\t" + b64(b"alice:"), "Basic " + b64(b":pw"), "Basic !!!",
        "Basic " + b64(b"alice:\xff\xfe"), "Bearer " + tok, "bearer  " + tok + " ",
        "BEARER\tabc", "Bearerabc", "Bearer a b", "Basic " + b64(b"x" * 700 + b":pw"),
    ]:
        put("auth_header", h)
    # json_body
    for j in [
        '{"target": "m1"}', '{"target": ["m1", "m2", "m1"]}', '{"target": []}',
        '{"target": [""]}', '{"target": "m", "extra": 1}', '{"target": "\\u00e9\\ud83d\\ude00"}',
        '{"op":"adduser","name":"alice"}', '{"op":"passwd","name":"alice"}',
        '{"op":"deluser","name":"bob"}', '{"op":"users"}', '{"op":"check"}', '{"op":"backup"}\n',
        '{"result":"created","name":"alice","password":"p4ss"}\n',
        '{"result":"password_changed","name":"alice","password":"x","revoked":2}\n',
        '{"result":"deleted","name":"bob"}\n',
        '{"result":"users","users":[{"id":1,"nickname":"alice","created_at":1764547200,"last_seen_at":null,"tokens":2}]}\n',
        '{"result":"backup_follows"}\n',
        '{"result":"failed","kind":"not_found","message":"no such user"}\n',
        '{"result":"failed","kind":"exists","message":"x"}\n',
    ]:
        put("json_body", j)
    # msgpack_reply: what the master answers.
    jid = "20261201221530123456"
    replies = [
        {"enc": "clear", "load": {"jid": jid, "minions": ["m1", "m2"], "missing": ["m3"]}},
        {Bin(b"enc"): Bin(b"clear"), Bin(b"load"): {Bin(b"jid"): Bin(jid.encode()), Bin(b"minions"): [Bin(b"m1")]}},
        {"error": {"name": "AuthenticationError", "message": "Authentication failure of type \"user\" occurred."}},
        {"error": {"name": "SaltInvocationError", "message": "bad"}},
        "bad load", {"msg": "Failed to authenticate!"}, {"cmd": "ping"},
        {"tag": "salt/wheel/1", "data": {"fun": "wheel.key.list_all", "return": {
            "local": ["master.pem", "master.pub"], "minions": ["m1", "m2"], "minions_pre": ["new"],
            "minions_rejected": [], "minions_denied": []}, "success": True, "_stamp": "2026-12-01T22:15:30.123456"}},
        {"data": {"return": "key.list_all failed", "success": False}},
        {"return": True, "retcode": 0, "success": True},
        {"return": {"jid": jid}, "retcode": -1, "success": False},
        ["m1", "m2"],
        {"when": Ext(78, b"20261126T17:29:03.1"), "return": 1.5},
    ]
    for r in replies:
        put("msgpack_reply", mp(r))

    # event_framing: a read-size byte, then a stream.
    def frame(tag, data, as_str=False):
        body = tag.encode() + b"\n\n" + mp(data)
        return mp({"head": {}, "body": body.decode("latin-1") if as_str else Bin(body)})

    ret = {"cmd": "_return", "id": "m1", "jid": jid, "fun": "test.ping", "fun_args": [],
           "return": True, "retcode": 0, "success": True, "_stamp": "2026-12-01T22:15:31.000001"}
    frames = [
        frame(f"salt/job/{jid}/new", {"jid": jid, "minions": ["m1"], "tgt": ["m1"], "tgt_type": "list"}),
        frame(f"salt/job/{jid}/ret/m1", ret),
        frame("salt/auth", {"act": "accept", "id": "m1"}),
        frame("salt/key", {}, as_str=True),
        frame(f"salt/job/{jid}/ret/m2", {"return": {"pid": 42}, "retcode": 0}),
    ]
    bare = b"".join(frames)
    prefixed = b"".join(struct.pack(">I", len(f)) + f for f in frames)
    for size in (0, 6, 63):
        put("event_framing", bytes([size]) + bare)
        put("event_framing", bytes([size]) + prefixed)
    put("event_framing", b"\x03" + frames[1])
    put("event_framing", b"\x01" + struct.pack(">I", 0xFFFFFFFF))
    put("event_framing", b"\x02" + b"\x01garbage")

    # master_config
    for c in [
        "interface: 0.0.0.0\nuser: salt\n# comment\n",
        "interface: '::'\nret_port: 14506\ntimeout: 3\ngather_job_timeout: 15\n",
        "root_dir: /srv/lab\npki_dir: /srv/lab/pki\ncachedir: /cache\n",
        "transport: tcp\n", "ret_port: lots\n", "",
        "interface: 192.0.2.10\nret_port: '4506'\nsock_dir: /run/salt/master\n\0timeout: 10\n\0user: salt\n",
        "file_roots:\n  base:\n    - /srv/salt\npillar_roots:\n  base: [/srv/pillar]\nextension_modules: /srv/ext\n",
        "user: &u salt\nlog_level: *u\nkeep_jobs: 24\nworker_threads: 5\n---\nuser: root\n",
        "{interface: 127.0.0.1, ret_port: 4506, timeout: !!str 5}\n",
    ]:
        put("master_config", c)

    # store_record
    u = user("alice", 1_764_547_200, 1_764_633_600, ["admin"])
    t = token(1, 1_764_547_200, 1_764_633_600)
    tasks = [
        task(1, ["m1"], "queued"),
        task(1, ["m1", "m2"], "done", jid, 1_764_600_001, 1_764_600_003, (200, b'{"m1":true,"m2":false}'), 1),
        task(2, [], "interrupted", None, 1_764_600_001, None, None, 3),
    ]
    for rec in [u, user("b", 0, None), t, *tasks]:
        put("store_record", rec)
    put("store_record", backup([(4, b"next_user_id", struct.pack(">Q", 3)),
                                (1, struct.pack(">Q", 1), u), (2, bytes(32), t),
                                (3, bytes(16), tasks[1])]))
    put("store_record", backup([]))


if __name__ == "__main__":
    main()
