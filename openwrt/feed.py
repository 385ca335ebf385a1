"""This feed's package Makefiles, read as OpenWrt's build system reads them, for packing
without the SDK: openwrt/ipk.py (opkg) and openwrt/apk.py (apk) pack what `load` returns, so
the install list, conffiles, scripts and description are written once, in the Makefiles.
"""
import os
import re
import subprocess
from dataclasses import dataclass, field

# OpenWrt's install macros (rules.mk) and the modes they give.
MODES = {"INSTALL_BIN": 0o755, "INSTALL_DATA": 0o644, "INSTALL_CONF": 0o600}

# luci.mk's Package/<app>/postinst for an app that defines none (openwrt/luci luci.mk,
# upstream 470bb2b8): on a live router, drop LuCI's caches and make rpcd read the new ACLs.
LUCI_POSTINST = """[ -n "${IPKG_INSTROOT}" ] || { \\
\trm -f /tmp/luci-indexcache.*
\trm -rf /tmp/luci-modulecache/
\tkillall -HUP rpcd 2>/dev/null
\texit 0
}
"""


@dataclass
class Package:
    name: str
    version: str  # PKG_VERSION
    release: str  # PKG_RELEASE
    arch: str  # PKGARCH: "all", or the router's
    depends: list  # as PKG_FIXUP_DEPENDS leaves them: libc first, no +, no @conditions
    license: str
    license_files: str
    section: str
    maintainer: str
    url: str
    description: str  # Package/<name>/description, as written
    conffiles: str  # Package/<name>/conffiles, as written ("" for none)
    # (path under /, bytes, mode) for every file the install section installs.
    files: list
    # The package's own scripts as BuildPackVariable packs them: postinst and prerm become
    # postinst-pkg and prerm-pkg, which the generated scripts run; postrm is packed as is.
    scripts: dict = field(default_factory=dict)

    @property
    def source(self):
        """SOURCE: the package's directory below the SDK's top, feeds/<feed>/<name>."""
        return "feeds/ecmp/" + self.name

    def size(self):
        return sum(len(body) for _, body, _ in self.files)


def define(makefile, name):
    """The body of `define NAME ... endef`, with make's $$ unescaped, or None."""
    m = re.search(r"^define %s\n(.*?)^endef$" % re.escape(name), makefile, re.M | re.S)
    return m.group(1).replace("$$", "$") if m else None


def required_define(makefile, name, path):
    body = define(makefile, name)
    if body is None:
        raise SystemExit("%s has no define %s" % (path, name))
    return body


def variable(makefile, name, path, default=None):
    m = re.search(r"^%s:=(.*)$" % re.escape(name), makefile, re.M)
    if m:
        return m.group(1).strip()
    if default is None:
        raise SystemExit("%s has no %s" % (path, name))
    return default


def mtime():
    """SOURCE_DATE_EPOCH, else the last commit's time: the same inputs give the same bytes."""
    if "SOURCE_DATE_EPOCH" in os.environ:
        return int(os.environ["SOURCE_DATE_EPOCH"])
    try:
        return int(subprocess.check_output(["git", "log", "-1", "--format=%ct"], text=True).strip())
    except (OSError, subprocess.CalledProcessError, ValueError):
        return 0


def read(path):
    with open(path, "rb") as f:
        return f.read()


def install_list(makefile, name, path):
    """(destination, source relative to the repository or None for the binary, mode) for
    each $(INSTALL_*) line of Package/<name>/install."""
    out = []
    for line in required_define(makefile, "Package/%s/install" % name, path).splitlines():
        m = re.match(r"\s*\$\((INSTALL_BIN|INSTALL_DATA|INSTALL_CONF)\) (\S+) \$\(1\)/(\S+)/$", line)
        if not m:
            continue
        macro, src, dest_dir = m.groups()
        base = src.rsplit("/", 1)[-1]
        if src.startswith("$(PKG_INSTALL_DIR)/bin/"):
            source = None
        elif src.startswith("$(PKG_BUILD_DIR)/"):
            source = src[len("$(PKG_BUILD_DIR)/"):]
        else:
            raise SystemExit("%s: don't know where %s comes from" % (path, src))
        out.append((dest_dir + "/" + base, source, MODES[macro]))
    return out


def ecmp_hotplug(repo, binary):
    path = os.path.join(repo, "openwrt", "ecmp-hotplug", "Makefile")
    makefile = read(path).decode()
    files = []
    for dest, src, mode in install_list(makefile, "ecmp-hotplug", path):
        files.append((dest, read(binary if src is None else os.path.join(repo, src)), mode))
    scripts = {}
    for script in ("postinst", "prerm", "postrm"):
        body = define(makefile, "Package/ecmp-hotplug/" + script)
        if body is not None:
            scripts[script] = body
    return Package(
        name="ecmp-hotplug",
        version=variable(makefile, "PKG_VERSION", path),
        release=variable(makefile, "PKG_RELEASE", path),
        arch="",
        # DEPENDS is $(RUST_ARCH_DEPENDS): @conditions only, which no package list keeps;
        # PKG_FIXUP_DEPENDS (include/package-defaults.mk) puts +libc first.
        depends=["libc"],
        license=variable(makefile, "PKG_LICENSE", path),
        license_files=variable(makefile, "PKG_LICENSE_FILES", path),
        section=re.search(r"^\s*SECTION:=(\S+)", makefile, re.M).group(1),
        maintainer=variable(makefile, "PKG_MAINTAINER", path),
        url=variable(makefile, "PKG_URL", path, default=""),
        description=required_define(makefile, "Package/ecmp-hotplug/description", path),
        conffiles=define(makefile, "Package/ecmp-hotplug/conffiles") or "",
        files=files,
        scripts=scripts,
    )


def luci_app(repo, name):
    """A LuCI app as luci.mk packs it: htdocs/ under /www and root/ under /, each file with
    the mode it has here (luci.mk copies with `cp -pR`), PKGARCH from LUCI_PKGARCH, DEPENDS
    from LUCI_DEPENDS, and luci.mk's postinst (LUCI_POSTINST) as the package's own part."""
    base = os.path.join(repo, "openwrt", name)
    path = os.path.join(base, "Makefile")
    makefile = read(path).decode()
    files = []
    for top, dest in (("htdocs", "www"), ("root", "")):
        root = os.path.join(base, top)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for fn in sorted(filenames):
                p = os.path.join(dirpath, fn)
                rel = os.path.relpath(p, root)
                mode = 0o755 if os.stat(p).st_mode & 0o111 else 0o644
                files.append(((dest + "/" if dest else "") + rel, read(p), mode))
    files.sort()
    return Package(
        name=name,
        version=variable(makefile, "PKG_VERSION", path),
        release=variable(makefile, "PKG_RELEASE", path),
        arch=variable(makefile, "LUCI_PKGARCH", path),
        depends=["libc"] + [d.lstrip("+") for d in variable(makefile, "LUCI_DEPENDS", path).split()],
        license=variable(makefile, "PKG_LICENSE", path),
        license_files="",
        section="luci",
        # luci.mk sets MAINTAINER and URL from LUCI_MAINTAINER and LUCI_URL, whose defaults
        # name the LuCI project; the Makefile sets both.
        maintainer=variable(makefile, "LUCI_MAINTAINER", path),
        url=variable(makefile, "LUCI_URL", path),
        # luci.mk: Package/<app>/description is $(strip $(LUCI_DESCRIPTION)).
        description=" ".join(variable(makefile, "LUCI_DESCRIPTION", path).split()) + "\n",
        conffiles="",
        files=files,
        scripts={"postinst": LUCI_POSTINST},
    )


def load(repo, name, binary=None):
    if name == "ecmp-hotplug":
        if not binary:
            raise SystemExit("ecmp-hotplug's package needs --binary")
        return ecmp_hotplug(repo, binary)
    if name.startswith("luci-app-"):
        return luci_app(repo, name)
    raise SystemExit("no package %s in openwrt/" % name)
