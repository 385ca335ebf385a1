#!/usr/bin/env python3
"""Assembles an OpenWrt .ipk without the SDK, as openwrt/scripts/ipkg-build does.

The outer file is a gzip'd tar (not Debian's ar: opkg-lede reads only this since 2017) of
./debian-binary ("2.0"), ./data.tar.gz and ./control.tar.gz, everything owned by root, with
mtimes from SOURCE_DATE_EPOCH (else the last commit) so the same inputs give the same bytes.
"""
import argparse
import gzip
import io
import os
import re
import subprocess
import tarfile

# OpenWrt's install macros (rules.mk) and the modes they give.
MODES = {"INSTALL_BIN": 0o755, "INSTALL_DATA": 0o644, "INSTALL_CONF": 0o600}


def define(makefile, name):
    """The body of `define NAME ... endef`, with make's $$ unescaped."""
    m = re.search(r"^define %s\n(.*?)^endef$" % re.escape(name), makefile, re.M | re.S)
    if not m:
        raise SystemExit("openwrt/ecmp-hotplug/Makefile has no define %s" % name)
    return m.group(1).replace("$$", "$")


def layout(makefile):
    """(destination, source relative to the repository or None for the binary, mode) for each
    $(INSTALL_*) line of Package/ecmp-hotplug/install."""
    out = []
    for line in define(makefile, "Package/ecmp-hotplug/install").splitlines():
        m = re.match(r"\s*\$\((INSTALL_BIN|INSTALL_DATA|INSTALL_CONF)\) (\S+) \$\(1\)/(\S+)/$", line)
        if not m:
            continue
        macro, src, dest_dir = m.groups()
        name = src.rsplit("/", 1)[-1]
        if src.startswith("$(PKG_INSTALL_DIR)/bin/"):
            source = None
        elif src.startswith("$(PKG_BUILD_DIR)/"):
            source = src[len("$(PKG_BUILD_DIR)/"):]
        else:
            raise SystemExit("don't know where %s comes from" % src)
        out.append((dest_dir + "/" + name, source, MODES[macro]))
    return out


def mtime():
    if "SOURCE_DATE_EPOCH" in os.environ:
        return int(os.environ["SOURCE_DATE_EPOCH"])
    try:
        return int(subprocess.check_output(["git", "log", "-1", "--format=%ct"], text=True).strip())
    except (OSError, subprocess.CalledProcessError, ValueError):
        return 0


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


def variable(makefile, name):
    m = re.search(r"^%s:=(.*)$" % name, makefile, re.M)
    if not m:
        raise SystemExit("openwrt/ecmp-hotplug/Makefile has no %s" % name)
    return m.group(1).strip()


def description(makefile):
    """The Description field as include/package-pack.mk writes it: `printf "Description: "`,
    then Package/<name>/description with each line's leading blanks made one space."""
    body = define(makefile, "Package/ecmp-hotplug/description").rstrip("\n")
    return "Description: " + "\n".join(re.sub(r"^\s*", " ", line) for line in body.split("\n")) + "\n"


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


def write_ipk(out_dir, name, version, arch, data, ctrl, when):
    outer = [
        ("debian-binary", b"2.0\n", 0o644),
        ("data.tar.gz", targz(data, when), 0o644),
        ("control.tar.gz", targz(ctrl, when), 0o644),
    ]
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "%s_%s_%s.ipk" % (name, version, arch))
    with open(path, "wb") as f:
        f.write(targz(outer, when))
    print(path)


def luci_app(args, name):
    """A LuCI app as luci.mk packs it: htdocs/ under /www and root/ under /, each file with
    the mode it has here (luci.mk copies with `cp -pR`), PKGARCH from LUCI_PKGARCH, DEPENDS
    from LUCI_DEPENDS, and the postinst/prerm package-pack.mk generates for every package
    (default_postinst drops LuCI's index cache on a live router)."""
    base = os.path.join(args.repo, "openwrt", name)
    with open(os.path.join(base, "Makefile")) as f:
        makefile = f.read()
    when = mtime()
    version = "%s-%s" % (variable(makefile, "PKG_VERSION"), variable(makefile, "PKG_RELEASE"))
    arch = variable(makefile, "LUCI_PKGARCH")
    files, size = [], 0
    for top, dest in (("htdocs", "www"), ("root", "")):
        root = os.path.join(base, top)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for fn in sorted(filenames):
                path = os.path.join(dirpath, fn)
                rel = os.path.relpath(path, root)
                with open(path, "rb") as f:
                    body = f.read()
                size += len(body)
                mode = 0o755 if os.stat(path).st_mode & 0o111 else 0o644
                files.append(((dest + "/" if dest else "") + rel, body, mode))
    depends = ["libc"] + [d.lstrip("+") for d in variable(makefile, "LUCI_DEPENDS").split()]
    control = "\n".join([
        "Package: " + name,
        "Version: " + version,
        "Depends: " + ", ".join(depends),
        "Source: feeds/ecmp/" + name,
        "SourceName: " + name,
        "License: " + variable(makefile, "PKG_LICENSE"),
        "Section: luci",
        "SourceDateEpoch: %d" % when,
        "Maintainer: " + variable(makefile, "PKG_MAINTAINER"),
        "Architecture: " + arch,
        "Installed-Size: %d" % size,
        "Description:  " + variable(makefile, "LUCI_DESCRIPTION"),
        "",
    ]).encode()
    ctrl = [("", None, 0o755), ("control", control, 0o644),
            ("postinst", GENERATED_POSTINST, 0o755), ("prerm", GENERATED_PRERM, 0o755)]
    write_ipk(args.out, name, version, arch, with_dirs(files), ctrl, when)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--package", default="ecmp-hotplug",
                    help="ecmp-hotplug (needs --arch and --binary) or luci-app-ecmp-hotplug")
    ap.add_argument("--arch")
    ap.add_argument("--binary")
    ap.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if args.package.startswith("luci-app-"):
        return luci_app(args, args.package)
    if not args.arch or not args.binary:
        raise SystemExit("ecmp-hotplug's .ipk needs --arch and --binary")
    with open(os.path.join(args.repo, "openwrt", "ecmp-hotplug", "Makefile")) as f:
        makefile = f.read()
    when = mtime()
    # As the 24.10 SDK names it: PKG_VERSION-PKG_RELEASE.
    version = "%s-%s" % (variable(makefile, "PKG_VERSION"), variable(makefile, "PKG_RELEASE"))
    conffiles = define(makefile, "Package/ecmp-hotplug/conffiles")

    files, size = [], 0
    for dest, src, mode in layout(makefile):
        path = args.binary if src is None else os.path.join(args.repo, src)
        with open(path, "rb") as f:
            body = f.read()
        size += len(body)
        files.append((dest, body, mode))
    data = with_dirs(files)

    control = "\n".join([
        "Package: ecmp-hotplug",
        "Version: " + version,
        "Depends: libc",
        "Source: feeds/ecmp/ecmp-hotplug",
        "SourceName: ecmp-hotplug",
        "License: " + variable(makefile, "PKG_LICENSE"),
        "LicenseFiles: " + variable(makefile, "PKG_LICENSE_FILES"),
        "Section: net",
        "SourceDateEpoch: %d" % when,
        "Maintainer: ecmp-hotplug developers",
        "Architecture: " + args.arch,
        "Installed-Size: %d" % size,
        description(makefile),
    ]).encode()
    ctrl = [("", None, 0o755), ("control", control, 0o644), ("conffiles", conffiles.encode(), 0o644)]
    # As OpenWrt's include/package-pack.mk packs them: generated postinst/prerm that call
    # default_postinst/default_prerm (lib/functions.sh), which run the package's own
    # postinst-pkg/prerm-pkg and enable+start / stop+disable its init scripts.
    ctrl.append(("postinst", GENERATED_POSTINST, 0o755))
    ctrl.append(("prerm", GENERATED_PRERM, 0o755))
    for script in ("postinst", "prerm"):
        body = define(makefile, "Package/ecmp-hotplug/" + script).encode()
        ctrl.append((script + "-pkg", body, 0o755))
    # BuildPackVariable packs Package/<name>/postrm as `postrm` itself, no -pkg part.
    ctrl.append(("postrm", define(makefile, "Package/ecmp-hotplug/postrm").encode(), 0o755))

    write_ipk(args.out, "ecmp-hotplug", version, args.arch, data, ctrl, when)


main()
