#!/usr/bin/env python3
"""Assembles an OpenWrt .apk (apk-tools 3, the ADB format) without the SDK, as
include/package-pack.mk does with CONFIG_USE_APK (OpenWrt 25.12 and later): the scripts and
payload files it generates, then what `apk mkpkg` (apk-tools v3.0.5, src/app_mkpkg.c) makes
of them, written the way mkpkg writes it so the same tree gives the same bytes.

The format (apk-tools doc/apk-v3.5.scd, src/adb.h, src/apk_adb.h): "ADBd" and a raw deflate
stream of: the file header ("ADB." and the schema, "pckg"), one ADB block holding the package
object, and one DATA block per non-empty file (its path and file index, then its bytes). A
block is a little-endian u32 of 2 type bits and 30 size bits, padded to 8 bytes. The ADB
block is a tree of values: a u32 whose high 4 bits are a type and low 28 bits either the
value itself (small ints) or the offset of the value (blobs with a length prefix, ints too
big for 28 bits, objects and arrays as a count then slots). mkpkg writes each value once
and points again at an identical one already written (adb.c, adb_w_data); so does this.
What goes in comes from the feed Makefile (openwrt/feed.py), as for the .ipk.
"""
import argparse
import hashlib
import os
import struct
import zlib

import feed

# src/adb.h
T_INT, T_INT32, T_BLOB8, T_BLOB16, T_BLOB32 = 0x10000000, 0x20000000, 0x80000000, 0x90000000, 0xA0000000
T_ARRAY, T_OBJECT = 0xD0000000, 0xE0000000
BLOCK_ADB, BLOCK_DATA = 0, 2
SCHEMA_PACKAGE = b"pckg"
# src/apk_adb.h: the package's fields and its info's.
PKG_INFO, PKG_PATHS, PKG_SCRIPTS = 1, 2, 3
INFO = {"name": 1, "version": 2, "hashes": 3, "description": 4, "arch": 5, "license": 6,
        "origin": 7, "maintainer": 8, "url": 9, "installed-size": 12, "depends": 15,
        "provides": 16}
SCRIPTS = ["trigger", "pre-install", "post-install", "pre-deinstall", "post-deinstall",
           "pre-upgrade", "post-upgrade"]


class Adb:
    """The ADB block being written: adb.c's write interface, with its de-duplication."""

    def __init__(self):
        self.buf = bytearray(8)  # struct adb_hdr: compat 0, version 0, reserved, root
        self.seen = {}

    def raw(self, data, align):
        self.buf += bytes(-len(self.buf) % align)
        offset = len(self.buf)
        self.buf += data
        return offset

    def data(self, data, align):
        """adb_w_data: an identical value already at an aligned offset is pointed at again."""
        offset = self.seen.get(data)
        if offset is None or offset % align:
            offset = self.seen[data] = self.raw(data, align)
        return offset

    def blob(self, data, cache=True):
        if not data:
            return 0
        if len(data) > 0xFFFF:
            kind, head = T_BLOB32, struct.pack("<I", len(data))
        elif len(data) > 0xFF:
            kind, head = T_BLOB16, struct.pack("<H", len(data))
        else:
            kind, head = T_BLOB8, bytes([len(data)])
        write = self.data if cache else self.raw
        return kind | write(head + data, len(head))

    def int(self, value):
        if value < 0x10000000:
            return T_INT | value
        return T_INT32 | self.data(struct.pack("<I", value), 4)

    def obj(self, slots, kind=T_OBJECT):
        """An object or array of `slots` (index 1..n; trailing empty ones dropped)."""
        slots = list(slots)
        while slots and slots[-1] == 0:
            slots.pop()
        if not slots:
            return 0
        return kind | self.data(struct.pack("<%dI" % (len(slots) + 1), len(slots) + 1, *slots), 4)

    def fields(self, values):
        """An object from {index: value}."""
        slots = [0] * max(values, default=0)
        for i, v in values.items():
            slots[i - 1] = v
        return self.obj(slots)


def block(kind, payload):
    head = struct.pack("<I", (kind << 30) | (4 + len(payload)))
    return head + payload + bytes(-(4 + len(payload)) % 8)


def dependencies(adb, names):
    """schema_dependency_array from mkpkg's "depends:a b" string: one {name} per word,
    sorted by name once all are written (adb_wa_sort_unique). Stored as an object, as
    adb_w_fromstring stores it."""
    deps = []
    for name in names:
        deps.append((name.encode(), adb.obj([adb.blob(name.encode())])))
    deps = sorted(dict(deps).items())
    return adb.obj([v for _, v in deps])


def payload_tree(files):
    """Directories and files of the package as mkpkg walks them: {dir: [(name, body, mode)]},
    every directory down to each file, the root as ""."""
    dirs = {"": []}
    for path, body, mode in files:
        parts = path.split("/")
        for i in range(1, len(parts)):
            dirs.setdefault("/".join(parts[:i]), [])
        dirs["/".join(parts[:-1])].append((parts[-1], body, mode))
    return dirs


def version(pkg):
    """The version in apk's grammar: PKG_VERSION-rPKG_RELEASE."""
    return "%s-r%s" % (pkg.version, pkg.release)


def package_adb(pkg, files, arch, scripts, when):
    """The ADB block's bytes and the DATA blocks, in mkpkg's order of writes."""
    adb = Adb()
    info = {}
    # mkpkg's assign_fields: the --info values in field order, each through its schema.
    for field_name, value in (
        ("name", pkg.name),
        ("version", version(pkg)),
        ("description", " ".join(pkg.description.split())),
        ("arch", arch),
        ("license", pkg.license),
        ("origin", pkg.source),
        ("maintainer", pkg.maintainer),
        ("url", pkg.url),
    ):
        info[INFO[field_name]] = adb.blob(value.encode())
    info[INFO["depends"]] = dependencies(adb, pkg.depends)
    # package-pack.mk's FormatProvides: every package provides the virtual <name>-any.
    info[INFO["provides"]] = dependencies(adb, [pkg.name + "-any"])

    # The root, then every directory in name order; in each, its files in name order
    # (mkpkg_process_directory): each file's name, sha256, mtime, size and acl, then the
    # directory's name, acl and file list. Directories are kept even when empty (mkpkg's
    # default --compat 3.0.0_pre1 keeps the root node and every directory node).
    dirs = payload_tree(files)
    paths, data_blocks, installed = [], [], 0
    for dir_index, name in enumerate(sorted(dirs), start=1):
        entries = []
        for file_index, (fname, body, mode) in enumerate(sorted(dirs[name]), start=1):
            name_v = adb.blob(fname.encode())
            hash_v = adb.blob(hashlib.sha256(body).digest())
            mtime_v, size_v = adb.int(when), adb.int(len(body))
            acl = adb.obj([adb.int(mode), adb.blob(b"root"), adb.blob(b"root")])
            entries.append(adb.obj([name_v, acl, size_v, mtime_v, hash_v]))
            installed += len(body)
            if body:
                data_blocks.append(block(BLOCK_DATA, struct.pack("<II", dir_index, file_index) + body))
        name_v = adb.blob(name.encode())
        acl = adb.obj([adb.int(0o755), adb.blob(b"root"), adb.blob(b"root")])
        paths.append(adb.obj([name_v, acl, adb.obj(entries)]))
    info[INFO["installed-size"]] = adb.int(installed or 1)
    # The unique id: 20 bytes, written uncached as zeros, then the first 20 of the sha256 of
    # the finished block.
    hashes = adb.blob(bytes(20), cache=False)
    info[INFO["hashes"]] = hashes
    info_v = adb.fields(info)
    paths_v = adb.obj(paths)
    scripts_v = adb.obj([adb.blob(scripts.get(s, b"")) for s in SCRIPTS])
    root = adb.fields({PKG_INFO: info_v, PKG_PATHS: paths_v, PKG_SCRIPTS: scripts_v})
    struct.pack_into("<I", adb.buf, 4, root)
    at = (hashes & 0x0FFFFFFF) + 1
    adb.buf[at:at + 20] = hashlib.sha256(adb.buf).digest()[:20]
    return bytes(adb.buf), data_blocks


def openwrt_scripts(pkg):
    """post-install, post-upgrade, pre-deinstall (and post-deinstall from a postrm) as
    package-pack.mk generates them: the generated head, then the package's own part with
    its #! lines dropped (sed '/^\\s*#!/d'); post-upgrade is post-install after
    `export PKG_UPGRADE=1`."""

    def own(script):
        body = pkg.scripts.get(script, "")
        return "".join(l for l in body.splitlines(True) if not l.lstrip().startswith("#!"))

    functions = ('[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0\n'
                 '. ${IPKG_INSTROOT}/lib/functions.sh\n'
                 'export root="${IPKG_INSTROOT}"\n'
                 'export pkgname="%s"\n' % pkg.name)
    install = ('[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0\n' + functions
               + "add_group_and_user\ndefault_postinst\n" + own("postinst"))
    scripts = {
        "post-install": "#!/bin/sh\n" + install,
        "post-upgrade": "#!/bin/sh\nexport PKG_UPGRADE=1\n" + install,
        "pre-deinstall": "#!/bin/sh\n" + functions + "default_prerm\n" + own("prerm"),
    }
    if "postrm" in pkg.scripts:
        # sed -zi 's/^\s*#!/#!/': only blanks before the first #! go.
        scripts["post-deinstall"] = pkg.scripts["postrm"].lstrip()
    return {k: v.encode() for k, v in scripts.items()}


def openwrt_payload(pkg):
    """The files package-pack.mk adds under /lib/apk/packages: <name>.list (every file,
    sorted, as `find -type f,l -printf "/%P\\n" | sort`; the list itself not in it), and for
    conffiles <name>.conffiles as written and <name>.conffiles_static, "path sha256"."""
    files = list(pkg.files)
    meta = "lib/apk/packages/" + pkg.name
    listed = sorted("/" + path for path, _, _ in files)
    extra = []
    if pkg.conffiles:
        extra.append((meta + ".conffiles", pkg.conffiles.encode(), 0o644))
        static = ""
        bodies = {"/" + path: body for path, body, _ in files}
        for conf in pkg.conffiles.split():
            if conf in bodies:
                static += "%s %s\n" % (conf, hashlib.sha256(bodies[conf]).hexdigest())
        if static:
            extra.append((meta + ".conffiles_static", static.encode(), 0o644))
    extra.append((meta + ".list", "".join(p + "\n" for p in listed).encode(), 0o644))
    return files + extra


def write_apk(pkg, arch, out_dir, when):
    adb, data_blocks = package_adb(pkg, openwrt_payload(pkg), arch, openwrt_scripts(pkg), when)
    raw = b"ADB." + SCHEMA_PACKAGE + block(BLOCK_ADB, adb) + b"".join(data_blocks)
    # adb_compress's default: "ADBd", then deflate at level 9, raw (no zlib header).
    z = zlib.compressobj(9, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "%s-%s.apk" % (pkg.name, version(pkg)))
    with open(path, "wb") as f:
        f.write(b"ADBd" + z.compress(raw) + z.flush())
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--package", default="ecmp-hotplug",
                    help="ecmp-hotplug (needs --arch and --binary) or luci-app-ecmp-hotplug")
    ap.add_argument("--arch", help="the OpenWrt architecture (apk --print-arch)")
    ap.add_argument("--binary")
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    pkg = feed.load(args.repo, args.package, args.binary)
    # package-pack.mk: PKGARCH all is apk's noarch.
    arch = "noarch" if pkg.arch == "all" else (pkg.arch or args.arch)
    if not arch:
        raise SystemExit("%s's .apk needs --arch" % pkg.name)
    print(write_apk(pkg, arch, args.out, feed.mtime()))


main()
