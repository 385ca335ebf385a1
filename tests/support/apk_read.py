#!/usr/bin/env python3
"""Reads an apk-tools 3 package (.apk) from the format's definition, for the packaging tests;
written from apk-tools v3.0.5's doc/apk-v3.5.scd, src/adb.h, src/apk_adb.h and src/adb.c,
not from openwrt/apk.py, whose output it checks.

    apk_read.py PACKAGE.apk              prints the package as JSON
    apk_read.py --raw PACKAGE.apk        prints the decompressed stream (for tests that corrupt it)
    apk_read.py --pack RAW               compresses a raw stream back into an .apk on stdout

It fails, naming what is wrong, on anything a reader of the format would refuse: a bad magic
or schema, blocks out of order (one ADB, then SIG, then DATA), sizes or offsets out of range,
non-zero padding, a DATA block for no file or with bytes whose size or sha256 differ from the
file's entry, a non-empty file without its DATA block, or a package id (info.hashes) that is
not the first 20 bytes of the sha256 of the ADB block with the id zeroed (app_mkpkg.c).
"""
import hashlib
import json
import struct
import sys
import zlib

# src/adb.h: value types in the high 4 bits of a 32-bit tag.
SPECIAL, INT, INT32, INT64 = 0x0, 0x1, 0x2, 0x3
BLOB8, BLOB16, BLOB32, ARRAY, OBJECT = 0x8, 0x9, 0xA, 0xD, 0xE
# Block types in the high 2 bits of a block's first word.
BLOCK_NAMES = {0: "ADB", 1: "SIG", 2: "DATA", 3: "EXT"}

# src/apk_adb.h: field numbers of the package schema (pckg) and its parts.
PACKAGE = {1: "info", 2: "paths", 3: "scripts", 4: "triggers", 5: "replaces-priority"}
INFO = {1: "name", 2: "version", 3: "hashes", 4: "description", 5: "arch", 6: "license",
        7: "origin", 8: "maintainer", 9: "url", 10: "repo-commit", 11: "build-time",
        12: "installed-size", 13: "file-size", 14: "provider-priority", 15: "depends",
        16: "provides", 17: "replaces", 18: "install-if", 19: "recommends", 20: "layer",
        21: "tags"}
DEPENDENCY = {1: "name", 2: "version", 3: "match"}
ACL = {1: "mode", 2: "user", 3: "group", 4: "xattrs"}
FILE = {1: "name", 2: "acl", 3: "size", 4: "mtime", 5: "hash", 6: "target"}
DIR = {1: "name", 2: "acl", 3: "files"}
SCRIPTS = {1: "trigger", 2: "pre-install", 3: "post-install", 4: "pre-deinstall",
           5: "post-deinstall", 6: "pre-upgrade", 7: "post-upgrade"}


class Bad(Exception):
    pass


class Adb:
    def __init__(self, buf):
        if len(buf) < 8:
            raise Bad("ADB block shorter than its header")
        self.buf = buf

    def at(self, offset, size):
        if offset + size > len(self.buf):
            raise Bad("value at %d+%d past the ADB block's %d bytes" % (offset, size, len(self.buf)))
        return self.buf[offset:offset + size]

    def kind(self, v):
        return v >> 28

    def blob(self, v):
        kind, offset = v >> 28, v & 0x0FFFFFFF
        if v == 0:
            return None
        width = {BLOB8: 1, BLOB16: 2, BLOB32: 4}.get(kind)
        if width is None:
            raise Bad("expected a blob, found type %x" % kind)
        n = int.from_bytes(self.at(offset, width), "little")
        return self.at(offset + width, n)

    def int(self, v):
        kind, value = v >> 28, v & 0x0FFFFFFF
        if v == 0:
            return None
        if kind == INT:
            return value
        if kind == INT32:
            return struct.unpack("<I", self.at(value, 4))[0]
        if kind == INT64:
            return struct.unpack("<Q", self.at(value, 8))[0]
        raise Bad("expected an int, found type %x" % kind)

    def slots(self, v):
        """An object's or array's slots 1..n (adb.h: the first slot is the count)."""
        if v == 0:
            return []
        kind, offset = v >> 28, v & 0x0FFFFFFF
        if kind not in (ARRAY, OBJECT):
            raise Bad("expected an object or array, found type %x" % kind)
        if offset % 4:
            raise Bad("object at unaligned offset %d" % offset)
        n = struct.unpack("<I", self.at(offset, 4))[0]
        if n < 1:
            raise Bad("object with no count slot")
        return list(struct.unpack("<%dI" % (n - 1), self.at(offset + 4, 4 * (n - 1))))

    def fields(self, v, names):
        out = {}
        for i, value in enumerate(self.slots(v), start=1):
            if value == 0:
                continue
            if i not in names:
                raise Bad("field %d not in the schema" % i)
            out[names[i]] = value
        return out


def text(adb, v):
    b = adb.blob(v)
    return None if b is None else b.decode()


def deps(adb, v):
    out = []
    for d in adb.slots(v):
        f = adb.fields(d, DEPENDENCY)
        name = text(adb, f["name"])
        if "version" in f:
            name += "=" + text(adb, f["version"])  # as in the index; ops other than = unused here
        out.append(name)
    return out


def acl(adb, v):
    f = adb.fields(v, ACL)
    return {"mode": "%o" % (adb.int(f["mode"]) or 0), "user": text(adb, f.get("user", 0)),
            "group": text(adb, f.get("group", 0)), "xattrs": len(adb.slots(f.get("xattrs", 0)))}


def blocks(raw):
    """(type name, payload) of each block after the 8-byte file header."""
    pos, out = 8, []
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise Bad("truncated block header at %d" % pos)
        word = struct.unpack("<I", raw[pos:pos + 4])[0]
        kind, size = word >> 30, word & 0x3FFFFFFF
        if kind == 3:
            raise Bad("extended block: not allowed in a package")
        if size < 4 or pos + size > len(raw):
            raise Bad("block at %d of size %d runs past the end (%d)" % (pos, size, len(raw)))
        payload = raw[pos + 4:pos + size]
        padded = (size + 7) // 8 * 8
        pad = raw[pos + size:pos + padded]
        if len(pad) != padded - size or any(pad):
            raise Bad("block at %d: padding missing or not zero" % pos)
        out.append((BLOCK_NAMES[kind], payload))
        pos += padded
    return out


def decompress(data):
    if data[:4] == b"ADB.":
        return data
    if data[:4] != b"ADBd":
        raise Bad("not an apk v3 package: starts %r" % data[:4])
    z = zlib.decompressobj(-15)
    raw = z.decompress(data[4:]) + z.flush()
    if z.unused_data or not z.eof:
        raise Bad("deflate stream not ended at the end of the file")
    return raw


def read(data):
    raw = decompress(data)
    if raw[:4] != b"ADB.":
        raise Bad("file header magic %r, not ADB." % raw[:4])
    if raw[4:8] != b"pckg":
        raise Bad("schema %r, not pckg (a package)" % raw[4:8])
    bl = blocks(raw)
    kinds = [k for k, _ in bl]
    if not kinds or kinds[0] != "ADB" or "ADB" in kinds[1:]:
        raise Bad("blocks %s: a package has one ADB block, first" % kinds)
    seen_data = False
    for k in kinds[1:]:
        if k == "DATA":
            seen_data = True
        elif seen_data:
            raise Bad("blocks %s: SIG after DATA" % kinds)
    adb_bytes = bl[0][1]
    adb = Adb(adb_bytes)
    root = struct.unpack("<I", adb_bytes[4:8])[0]
    pkg = adb.fields(root, PACKAGE)
    info_f = adb.fields(pkg["info"], INFO)
    info = {}
    for name, v in info_f.items():
        if name in ("depends", "provides", "replaces", "install-if", "recommends"):
            info[name] = deps(adb, v)
        elif name in ("installed-size", "file-size", "build-time", "provider-priority", "layer"):
            info[name] = adb.int(v)
        elif name in ("hashes", "repo-commit"):
            info[name] = adb.blob(v).hex()
        else:
            info[name] = text(adb, v)
    # The package id: sha256 of the ADB block with the id's 20 bytes zeroed, first 20 bytes.
    hv = info_f.get("hashes", 0)
    if not hv or adb.kind(hv) != BLOB8 or len(adb.blob(hv)) != 20:
        raise Bad("info.hashes is not a 20-byte blob")
    at = (hv & 0x0FFFFFFF) + 1
    zeroed = adb_bytes[:at] + bytes(20) + adb_bytes[at + 20:]
    if hashlib.sha256(zeroed).digest()[:20].hex() != info["hashes"]:
        raise Bad("info.hashes is not the sha256 of the ADB block")

    dirs, files, index = {}, {}, {}
    for di, dv in enumerate(adb.slots(pkg.get("paths", 0)), start=1):
        d = adb.fields(dv, DIR)
        dname = text(adb, d.get("name", 0)) or ""
        if dname in dirs:
            raise Bad("directory %r twice" % dname)
        dirs[dname] = acl(adb, d["acl"])
        for fi, fv in enumerate(adb.slots(d.get("files", 0)), start=1):
            f = adb.fields(fv, FILE)
            path = (dname + "/" if dname else "") + text(adb, f["name"])
            entry = dict(acl(adb, f["acl"]))
            entry.update(size=adb.int(f.get("size", 0)) or 0, mtime=adb.int(f.get("mtime", 0)),
                         sha256=adb.blob(f["hash"]).hex() if "hash" in f else None,
                         target="target" in f)
            files[path] = entry
            index[(di, fi)] = path
    names = sorted(dirs)
    if list(dirs) != names:
        raise Bad("directories not in name order: %s" % list(dirs))

    got = {}
    for kind, payload in bl[1:]:
        if kind != "DATA":
            continue
        if len(payload) < 8:
            raise Bad("DATA block without its path and file index")
        key = struct.unpack("<II", payload[:8])
        if key not in index:
            raise Bad("DATA block for path %d file %d, which the ADB block lacks" % key)
        path, body = index[key], payload[8:]
        if path in got:
            raise Bad("two DATA blocks for %s" % path)
        if len(body) != files[path]["size"]:
            raise Bad("%s: %d bytes of data, its entry says %d" % (path, len(body), files[path]["size"]))
        if hashlib.sha256(body).hexdigest() != files[path]["sha256"]:
            raise Bad("%s: the data's sha256 is not its entry's" % path)
        got[path] = body
    for path, entry in files.items():
        if entry["size"] and not entry["target"] and path not in got:
            raise Bad("%s: %d bytes and no DATA block" % (path, entry["size"]))

    scripts = {}
    for name, v in adb.fields(pkg.get("scripts", 0), SCRIPTS).items():
        scripts[name] = adb.blob(v).decode()
    # The small text files are shown whole; the rest by hash.
    contents = {p: b.decode() for p, b in got.items() if p.startswith("lib/apk/packages/")}
    return {"blocks": kinds, "info": info, "dirs": dirs, "files": files, "scripts": scripts,
            "contents": contents}


def main():
    args = sys.argv[1:]
    try:
        if args[:1] == ["--raw"]:
            with open(args[1], "rb") as f:
                sys.stdout.buffer.write(decompress(f.read()))
        elif args[:1] == ["--pack"]:
            with open(args[1], "rb") as f:
                z = zlib.compressobj(9, zlib.DEFLATED, -15)
                sys.stdout.buffer.write(b"ADBd" + z.compress(f.read()) + z.flush())
        else:
            with open(args[0], "rb") as f:
                print(json.dumps(read(f.read()), indent=1, sort_keys=True))
    except (Bad, zlib.error, KeyError, UnicodeDecodeError) as e:
        print("apk_read: %s: %s" % (args[-1], e), file=sys.stderr)
        sys.exit(1)


main()
