#!/usr/bin/env python3
"""Assembles an OpenWrt .ipk without the SDK, as include/package-pack.mk and
scripts/ipkg-build do with CONFIG_USE_APK unset (OpenWrt 24.10 and older).

The outer file is a gzip'd tar (not Debian's ar: opkg-lede reads only this since 2017) of
./debian-binary ("2.0"), ./data.tar.gz and ./control.tar.gz, everything owned by root, with
mtimes from SOURCE_DATE_EPOCH (else the last commit) so the same inputs give the same bytes.
What goes in comes from the feed Makefile (openwrt/feed.py).
"""
import argparse
import gzip
import io
import os
import re
import tarfile

import feed


def add(tar, name, data, mode, when):
    info = tarfile.TarInfo("./" + name)
    info.size, info.mode, info.mtime = len(data), mode, when
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))


def add_dir(tar, name, when):
    info = tarfile.TarInfo("./" + name if name else ".")
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, when
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    tar.addfile(info)


def targz(entries, when):
    """A gzip'd tar of (name, bytes-or-None-for-a-directory, mode) entries, gzip mtime fixed."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data, mode in entries:
            if data is None:
                add_dir(tar, name, when)
            else:
                add(tar, name, data, mode, when)
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=when) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def description(pkg):
    """The Description field as package-pack.mk writes it: `printf "Description: "`, then
    Package/<name>/description with each line's leading blanks made one space."""
    body = pkg.description.rstrip("\n")
    return "Description: " + "\n".join(re.sub(r"^\s*", " ", line) for line in body.split("\n")) + "\n"


# package-pack.mk's generated postinst and prerm: default_postinst / default_prerm
# (lib/functions.sh) run the package's own postinst-pkg / prerm-pkg and enable and start
# (or stop and disable) its init scripts.
GENERATED_POSTINST = b"""#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_postinst $0 $@
"""

GENERATED_PRERM = b"""#!/bin/sh
[ -s ${IPKG_INSTROOT}/lib/functions.sh ] || exit 0
. ${IPKG_INSTROOT}/lib/functions.sh
default_prerm $0 $@
"""


def with_dirs(files):
    """`files` (name, bytes, mode) preceded by the root and every directory above each."""
    out, dirs = [("", None, 0o755)], set()
    for name, body, mode in files:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i]) + "/"
            if d not in dirs:
                dirs.add(d)
                out.append((d, None, 0o755))
        out.append((name, body, mode))
    return out


def control(pkg, arch, when):
    """Package/<name>/CONTROL (package-pack.mk), fields in its order, empty ones left out."""
    fields = [
        ("Package", pkg.name),
        ("Version", "%s-%s" % (pkg.version, pkg.release)),
        ("Depends", ", ".join(pkg.depends)),
        ("Source", pkg.source),
        ("SourceName", pkg.name),
        ("License", pkg.license),
        ("LicenseFiles", pkg.license_files),
        ("Section", pkg.section),
        ("SourceDateEpoch", str(when)),
        ("URL", pkg.url),
        ("Maintainer", pkg.maintainer),
        ("Architecture", arch),
        ("Installed-Size", str(pkg.size())),
    ]
    lines = ["%s: %s" % (k, v) for k, v in fields if v]
    return ("\n".join(lines) + "\n" + description(pkg)).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--package", default="ecmp-hotplug",
                    help="ecmp-hotplug (needs --arch and --binary) or luci-app-ecmp-hotplug")
    ap.add_argument("--arch")
    ap.add_argument("--binary")
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    pkg = feed.load(args.repo, args.package, args.binary)
    arch = pkg.arch or args.arch
    if not arch:
        raise SystemExit("%s's .ipk needs --arch" % pkg.name)
    when = feed.mtime()
    # As the 24.10 SDK names it: PKG_VERSION-PKG_RELEASE.
    version = "%s-%s" % (pkg.version, pkg.release)

    ctrl = [("", None, 0o755), ("control", control(pkg, arch, when), 0o644)]
    if pkg.conffiles:
        ctrl.append(("conffiles", pkg.conffiles.encode(), 0o644))
    ctrl.append(("postinst", GENERATED_POSTINST, 0o755))
    ctrl.append(("prerm", GENERATED_PRERM, 0o755))
    # BuildPackVariable: postinst and prerm as postinst-pkg and prerm-pkg, postrm as itself.
    for script, packed in (("postinst", "postinst-pkg"), ("prerm", "prerm-pkg"), ("postrm", "postrm")):
        if script in pkg.scripts:
            ctrl.append((packed, pkg.scripts[script].encode(), 0o755))

    outer = [
        ("debian-binary", b"2.0\n", 0o644),
        ("data.tar.gz", targz(with_dirs(pkg.files), when), 0o644),
        ("control.tar.gz", targz(ctrl, when), 0o644),
    ]
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "%s_%s_%s.ipk" % (pkg.name, version, arch))
    with open(path, "wb") as f:
        f.write(targz(outer, when))
    print(path)


main()
