//! Packaging: the SDK feed Makefile agrees with Cargo.toml and the tree, the .ipk that
//! `openwrt/ipk.py` assembles has the layout OpenWrt's opkg reads (scripts/ipkg-build:
//! a gzip'd tar of debian-binary, data.tar.gz, control.tar.gz), and the .apk that
//! `openwrt/apk.py` assembles, read back from apk-tools 3's format definition
//! (tests/support/apk_read.py), holds what the .ipk holds plus what package-pack.mk adds for apk.
//!
//! The packages checked are built here from the host binary, or are the ones named by
//! `ECMP_IPK` and `ECMP_APK` (CI sets them to the mipsel packages `make ipk` and `make apk` built).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn makefile() -> String {
    fs::read_to_string(Path::new(REPO).join("openwrt/ecmp-hotplug/Makefile")).unwrap()
}

fn variable(name: &str) -> String {
    let prefix = format!("{name}:=");
    makefile()
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        .unwrap_or_else(|| panic!("no {name} in the feed Makefile"))
}

fn define(name: &str) -> String {
    let text = makefile();
    let start = text
        .find(&format!("define {name}\n"))
        .unwrap_or_else(|| panic!("no define {name}"));
    let body = &text[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("\nendef").unwrap()].to_string()
}

#[test]
fn feed_version_is_cargos_and_valid_for_apk() {
    assert_eq!(variable("PKG_VERSION"), env!("CARGO_PKG_VERSION"));
    // apk (OpenWrt 25.12+): <major>.<minor>.<fixup> and a numeric release.
    let v = variable("PKG_VERSION");
    assert!(
        v.split('.').count() == 3
            && v.split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        "{v}"
    );
    assert!(variable("PKG_RELEASE").bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(variable("PKG_BUILD_DEPENDS"), "rust/host");
    assert!(makefile().contains("$(eval $(call RustBinPackage,ecmp-hotplug))"));
    assert!(makefile().contains("$(eval $(call BuildPackage,ecmp-hotplug))"));
    assert!(makefile().contains("include $(TOPDIR)/feeds/packages/lang/rust/rust-package.mk"));
    assert!(Path::new(REPO).join(variable("PKG_LICENSE_FILES")).exists());
    assert!(
        Path::new(REPO).join("Cargo.lock").exists(),
        "rust-package.mk builds --locked"
    );
}

/// (source, destination directory) of each `$(INSTALL_*)` line in Package/install.
fn installs() -> Vec<(String, String)> {
    define("Package/ecmp-hotplug/install")
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("$(INSTALL_")
                && !l.trim_start().starts_with("$(INSTALL_DIR)")
        })
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (
                words[1].to_string(),
                words[2].trim_start_matches("$(1)").to_string(),
            )
        })
        .collect()
}

#[test]
fn every_file_the_feed_installs_exists_and_is_copied() {
    let prepare = define("Build/Prepare");
    let installs = installs();
    assert_eq!(installs.len(), 6, "{installs:?}");
    for (src, _) in &installs {
        if let Some(path) = src.strip_prefix("$(PKG_BUILD_DIR)/") {
            assert!(
                Path::new(REPO).join(path).is_file(),
                "{path} does not exist"
            );
            let top = path.split('/').next().unwrap();
            assert!(
                prepare.contains(&format!("$(ECMP_HOTPLUG_SRC)/{top}")),
                "Build/Prepare does not copy {top}"
            );
        } else {
            assert_eq!(
                src, "$(PKG_INSTALL_DIR)/bin/ecmp-hotplug",
                "the binary cargo install puts there"
            );
        }
    }
    for conffile in define("Package/ecmp-hotplug/conffiles").lines() {
        let (dir, name) = conffile.rsplit_once('/').unwrap();
        assert!(
            installs
                .iter()
                .any(|(src, dest)| dest.trim_end_matches('/') == dir && src.ends_with(name)),
            "{conffile} is not installed"
        );
    }
}

fn tar(args: &[&str], dir: &Path) -> String {
    let out = Command::new("tar")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `tar -tv` lines → path → (mode string, owner, size).
fn listing(archive: &str, dir: &Path) -> BTreeMap<String, (String, String, u64)> {
    tar(&["-tzvf", archive], dir)
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (
                w[5].to_string(),
                (w[0].to_string(), w[1].to_string(), w[2].parse().unwrap()),
            )
        })
        .collect()
}

/// The package to check and the binary that should be in it.
fn package(scratch: &Path) -> (PathBuf, PathBuf, String) {
    if let Ok(ipk) = std::env::var("ECMP_IPK") {
        let ipk = fs::canonicalize(&ipk).unwrap_or_else(|e| panic!("ECMP_IPK={ipk}: {e}"));
        let name = ipk.file_name().unwrap().to_str().unwrap().to_string();
        let arch = name
            .trim_end_matches(".ipk")
            .splitn(3, '_')
            .nth(2)
            .unwrap()
            .to_string();
        let bin = Path::new(REPO)
            .join("dist")
            .join(&arch)
            .join("ecmp-hotplug");
        return (ipk, bin, arch);
    }
    let bin = env!("CARGO_BIN_EXE_ecmp-hotplug");
    let ipk = pack("ipk.py", &["--arch", "x86_64", "--binary", bin], scratch);
    (ipk, bin.into(), "x86_64".into())
}

#[test]
fn the_ipk_has_opkgs_layout() {
    let scratch = std::env::temp_dir().join(format!("ecmp-hotplug-ipk-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).unwrap();
    let (ipk, bin, arch) = package(&scratch);
    let version = format!("{}-{}", variable("PKG_VERSION"), variable("PKG_RELEASE"));
    assert_eq!(
        ipk.file_name().unwrap().to_str().unwrap(),
        format!("ecmp-hotplug_{version}_{arch}.ipk")
    );

    // Outer: gzip'd tar (opkg-lede reads no ar), three members in ipkg-build's order.
    let gz = fs::read(&ipk).unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "gzip");
    let outer = tar(&["-tzf", ipk.to_str().unwrap()], &scratch);
    assert_eq!(
        outer.lines().collect::<Vec<_>>(),
        ["./debian-binary", "./data.tar.gz", "./control.tar.gz"]
    );
    tar(&["-xzf", ipk.to_str().unwrap()], &scratch);
    assert_eq!(
        fs::read_to_string(scratch.join("debian-binary")).unwrap(),
        "2.0\n"
    );

    // data.tar.gz: the binary, the hotplug stub, the config, the init script, the rpcd
    // plugin and its ACL; root-owned, OpenWrt's modes.
    let data = listing("data.tar.gz", &scratch);
    let file = |path: &str| {
        data.get(path)
            .unwrap_or_else(|| panic!("{path} missing from {data:?}"))
    };
    assert_eq!(file("./usr/sbin/ecmp-hotplug").0, "-rwxr-xr-x");
    assert_eq!(
        file("./etc/hotplug.d/iface/20-ecmp-hotplug").0,
        "-rw-r--r--"
    );
    assert_eq!(file("./etc/config/ecmp-hotplug").0, "-rw-------");
    assert_eq!(file("./etc/init.d/ecmp-hotplug").0, "-rwxr-xr-x");
    assert_eq!(file("./usr/libexec/rpcd/ecmp-hotplug").0, "-rwxr-xr-x");
    assert_eq!(
        file("./usr/share/rpcd/acl.d/ecmp-hotplug.json").0,
        "-rw-r--r--"
    );
    assert!(
        data.values().all(|(_, owner, _)| owner == "root/root"),
        "{data:?}"
    );
    let unpacked = scratch.join("data");
    fs::create_dir_all(&unpacked).unwrap();
    tar(&["-xzf", "../data.tar.gz"], &unpacked);
    assert_eq!(
        fs::read(unpacked.join("usr/sbin/ecmp-hotplug")).unwrap(),
        fs::read(&bin).unwrap()
    );
    for f in [
        "etc/hotplug.d/iface/20-ecmp-hotplug",
        "etc/config/ecmp-hotplug",
        "etc/init.d/ecmp-hotplug",
        "usr/libexec/rpcd/ecmp-hotplug",
        "usr/share/rpcd/acl.d/ecmp-hotplug.json",
    ] {
        assert_eq!(
            fs::read(unpacked.join(f)).unwrap(),
            fs::read(Path::new(REPO).join("files").join(f)).unwrap(),
            "{f}"
        );
    }
    let installed: u64 = data.values().map(|(_, _, size)| size).sum();

    // control.tar.gz: control fields, conffiles, the scripts.
    let control_dir = scratch.join("control");
    fs::create_dir_all(&control_dir).unwrap();
    tar(&["-xzf", "../control.tar.gz"], &control_dir);
    let control = fs::read_to_string(control_dir.join("control")).unwrap();
    let fields: BTreeMap<&str, &str> = control.lines().filter_map(|l| l.split_once(": ")).collect();
    for field in [
        "Package",
        "Version",
        "Depends",
        "Source",
        "License",
        "Maintainer",
        "Architecture",
        "Installed-Size",
        "Description",
    ] {
        assert!(
            fields.contains_key(field),
            "control lacks {field}:\n{control}"
        );
    }
    assert_eq!(fields["Package"], "ecmp-hotplug");
    assert_eq!(fields["Version"], version);
    assert_eq!(fields["Architecture"], arch);
    assert_eq!(fields["License"], "MIT");
    assert_eq!(fields["Installed-Size"].parse::<u64>().unwrap(), installed);
    // One description, the feed Makefile's, as include/package-pack.mk writes it: each line's
    // leading blanks become one space (so `opkg info` says the same for both builds).
    let description: String = define("Package/ecmp-hotplug/description")
        .lines()
        .map(|l| format!(" {}\n", l.trim_start()))
        .collect();
    assert!(
        control.ends_with(&format!("Description: {description}")),
        "{control}"
    );
    assert_eq!(
        fs::read_to_string(control_dir.join("conffiles")).unwrap(),
        "/etc/config/ecmp-hotplug\n"
    );
    // OpenWrt's generated scripts hand over to default_postinst / default_prerm, which run
    // the package's own -pkg parts and enable/start (stop/disable) the init script.
    let read = |name: &str| fs::read_to_string(control_dir.join(name)).unwrap();
    assert!(read("postinst").contains("\ndefault_postinst $0 $@\n"));
    assert!(read("prerm").contains("\ndefault_prerm $0 $@\n"));
    // Packed as package-pack.mk packs Package/<name>/postrm: itself, no -pkg part. After
    // removal rpcd is reloaded, so that it drops the plugin's ubus object.
    let postrm = read("postrm");
    assert!(
        postrm.starts_with("#!/bin/sh\n") && postrm.contains("/etc/init.d/rpcd reload"),
        "{postrm}"
    );
    assert_eq!(
        postrm,
        define("Package/ecmp-hotplug/postrm").replace("$$", "$") + "\n"
    );
    let (postinst, prerm) = (read("postinst-pkg"), read("prerm-pkg"));
    assert!(
        postinst.starts_with("#!/bin/sh\n") && postinst.contains("/usr/sbin/ecmp-hotplug sync"),
        "{postinst}"
    );
    let stop = prerm
        .find("/etc/init.d/ecmp-hotplug stop")
        .expect("the watcher stopped");
    let flush = prerm.find("/usr/sbin/ecmp-hotplug flush").expect("a flush");
    assert!(
        stop < flush,
        "stopped before the flush, or it puts routes back: {prerm}"
    );

    // Building an image (IPKG_INSTROOT set), the scripts run nothing; nor does the old prerm
    // in an upgrade (opkg sets PKG_UPGRADE=1; default_prerm passes the prerm's own path as
    // $1): sh -x shows no command after the guard. (kernel.rs runs the whole upgrade.)
    for (script, var, value) in [
        ("postinst-pkg", "IPKG_INSTROOT", "/tmp/image"),
        ("prerm-pkg", "IPKG_INSTROOT", "/tmp/image"),
        ("prerm-pkg", "PKG_UPGRADE", "1"),
        ("postrm", "IPKG_INSTROOT", "/tmp/image"),
    ] {
        let out = Command::new("sh")
            .arg("-x")
            .arg(control_dir.join(script))
            .arg("/usr/lib/opkg/info/ecmp-hotplug.prerm")
            .env(var, value)
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}");
        let trace = String::from_utf8_lossy(&out.stderr);
        assert!(
            !trace.contains("ecmp-hotplug "),
            "{script} ran something with {var}={value}:\n{trace}"
        );
    }
    fs::remove_dir_all(&scratch).unwrap();
}

#[test]
fn the_init_script_runs_watch_under_procd() {
    let script = fs::read_to_string(format!("{REPO}/files/etc/init.d/ecmp-hotplug")).unwrap();
    assert!(script.starts_with("#!/bin/sh /etc/rc.common\n"), "{script}");
    for line in [
        "USE_PROCD=1",
        "procd_set_param command /usr/sbin/ecmp-hotplug watch",
        "procd_set_param respawn",
        "procd_add_reload_trigger ecmp-hotplug",
        // reload applies an edited config (kernel.rs: resilient_a_reload_…).
        "reload_service() {\n\t/usr/sbin/ecmp-hotplug sync\n",
    ] {
        assert!(script.contains(line), "{line} missing:\n{script}");
    }
    let syntax = Command::new("sh")
        .args(["-n", &format!("{REPO}/files/etc/init.d/ecmp-hotplug")])
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{syntax:?}");
    let help = Command::new(env!("CARGO_BIN_EXE_ecmp-hotplug"))
        .args(["watch", "--help"])
        .output()
        .unwrap();
    assert!(
        help.status.success(),
        "the binary has a watch command: {help:?}"
    );
}

/// Runs one of openwrt/'s packers; returns the path it printed.
fn pack(script: &str, args: &[&str], out: &Path) -> PathBuf {
    let run = Command::new("python3")
        .arg(Path::new(REPO).join("openwrt").join(script))
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{script} {args:?}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    PathBuf::from(String::from_utf8(run.stdout).unwrap().trim())
}

/// tests/support/apk_read.py: the package as the format defines it, or its one-line refusal.
fn apk_read(args: &[&str], apk: &Path) -> Result<Vec<u8>, String> {
    let out = Command::new("python3")
        .arg(Path::new(REPO).join("tests/support/apk_read.py"))
        .args(args)
        .arg(apk)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn read_apk(apk: &Path) -> serde_json::Value {
    serde_json::from_slice(&apk_read(&[], apk).unwrap_or_else(|e| panic!("{e}"))).unwrap()
}

/// `-rwxr-xr-x` → "755".
fn octal(mode: &str) -> String {
    let bits = mode[1..]
        .bytes()
        .fold(0u32, |acc, b| (acc << 1) | u32::from(b != b'-'));
    format!("{bits:o}")
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// A script without its `#!` lines, as package-pack.mk's `sed '/^\s*#!/d'` leaves it.
fn without_shebang(script: &str) -> String {
    script
        .split_inclusive('\n')
        .filter(|l| !l.trim_start().starts_with("#!"))
        .collect()
}

/// The .apk holds what the .ipk of the same package holds (same files, bytes, modes and
/// mtimes, the same metadata in apk's fields), plus what include/package-pack.mk adds for apk
/// (lib/apk/packages/<name>.list, .conffiles, .conffiles_static), with package-pack.mk's
/// apk scripts made from the same package parts.
fn the_apk_matches_the_ipk(apk: &Path, ipk: &Path, name: &str, scratch: &Path) {
    let pkg = read_apk(apk);
    fs::create_dir_all(scratch).unwrap();
    tar(&["-xzf", ipk.to_str().unwrap()], scratch);
    let control_dir = scratch.join("control");
    let data_dir = scratch.join("data");
    fs::create_dir_all(&control_dir).unwrap();
    fs::create_dir_all(&data_dir).unwrap();
    tar(&["-xzf", "../control.tar.gz"], &control_dir);
    tar(&["-xzf", "../data.tar.gz"], &data_dir);
    let control = fs::read_to_string(control_dir.join("control")).unwrap();
    let (head, description) = control.split_once("Description: ").unwrap();
    let fields: BTreeMap<&str, &str> = head.lines().filter_map(|l| l.split_once(": ")).collect();

    // Unsigned (`apk add --allow-untrusted`): the ADB block, then only DATA blocks.
    let blocks = pkg["blocks"].as_array().unwrap();
    assert_eq!(blocks[0], "ADB");
    assert!(blocks[1..].iter().all(|b| b == "DATA"), "{blocks:?}");

    // The metadata: apk's grammar for the version (-r<release>), noarch for PKGARCH all,
    // origin = Source, the description on one line ($(strip) in package-pack.mk).
    let info = &pkg["info"];
    let (version, release) = fields["Version"].rsplit_once('-').unwrap();
    assert_eq!(
        apk.file_name().unwrap().to_str().unwrap(),
        format!("{name}-{version}-r{release}.apk")
    );
    assert_eq!(info["name"], name);
    assert_eq!(info["version"], format!("{version}-r{release}"));
    let arch = match fields["Architecture"] {
        "all" => "noarch",
        a => a,
    };
    assert_eq!(info["arch"], arch);
    assert_eq!(info["license"], fields["License"]);
    assert_eq!(info["origin"], fields["Source"]);
    assert_eq!(info["maintainer"], fields["Maintainer"]);
    assert_eq!(
        info.get("url").and_then(|u| u.as_str()),
        fields.get("URL").copied()
    );
    assert_eq!(
        info["description"],
        description.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    let depends: Vec<&str> = fields["Depends"].split(", ").collect();
    let mut sorted = depends.clone();
    sorted.sort_unstable();
    assert_eq!(info["depends"], serde_json::json!(sorted));
    // package-pack.mk: every package provides the virtual <name>-any.
    assert_eq!(info["provides"], serde_json::json!([format!("{name}-any")]));

    // The files: the .ipk's, byte for byte (by sha256, which the reader checked against the
    // DATA blocks), mode and mtime, root's; then package-pack.mk's additions.
    let data = listing("data.tar.gz", scratch);
    let files = pkg["files"].as_object().unwrap();
    let dirs = pkg["dirs"].as_object().unwrap();
    let epoch: u64 = fields["SourceDateEpoch"].parse().unwrap();
    let mut listed = Vec::new();
    for (path, (mode, owner, _)) in &data {
        let path = path.trim_start_matches("./").trim_end_matches('/');
        assert_eq!(owner, "root/root");
        if mode.starts_with('d') {
            let dir = dirs
                .get(path)
                .unwrap_or_else(|| panic!("directory {path:?} missing"));
            assert_eq!(dir["mode"], octal(mode), "{path}");
            assert_eq!(
                (&dir["user"], &dir["group"]),
                (&"root".into(), &"root".into())
            );
            continue;
        }
        let file = files
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from the .apk"));
        assert_eq!(file["mode"], octal(mode), "{path}");
        assert_eq!(file["sha256"], sha256(&data_dir.join(path)), "{path}");
        assert_eq!(file["mtime"], epoch, "{path}");
        assert_eq!(
            (&file["user"], &file["group"]),
            (&"root".into(), &"root".into())
        );
        listed.push(format!("/{path}\n"));
    }
    listed.sort();
    let meta = format!("lib/apk/packages/{name}");
    let contents = &pkg["contents"];
    assert_eq!(contents[format!("{meta}.list")], listed.concat());
    let mut extra = vec![format!("{meta}.list")];
    if let Ok(conffiles) = fs::read_to_string(control_dir.join("conffiles")) {
        assert_eq!(contents[format!("{meta}.conffiles")], conffiles);
        let statics: String = conffiles
            .lines()
            .map(|c| format!("{c} {}\n", sha256(&data_dir.join(&c[1..]))))
            .collect();
        assert_eq!(contents[format!("{meta}.conffiles_static")], statics);
        extra.extend([
            format!("{meta}.conffiles"),
            format!("{meta}.conffiles_static"),
        ]);
    }
    let mut only_apk: Vec<&String> = files
        .keys()
        .filter(|p| !data.contains_key(&format!("./{p}")))
        .collect();
    only_apk.sort();
    extra.sort();
    assert_eq!(only_apk, extra.iter().collect::<Vec<_>>());
    let installed: u64 = files.values().map(|f| f["size"].as_u64().unwrap()).sum();
    assert_eq!(info["installed-size"], installed);

    // The scripts, as package-pack.mk writes them for apk: default_postinst / default_prerm
    // (lib/functions.sh: enable+start, stop+disable the init scripts, from <name>.list)
    // with $pkgname exported, then the package's own part, the part opkg runs as
    // postinst-pkg / prerm-pkg; post-upgrade is post-install with PKG_UPGRADE=1.
    let part = |script: &str| {
        fs::read_to_string(control_dir.join(script))
            .map(|s| without_shebang(&s))
            .unwrap_or_default()
    };
    let functions = format!(
        "[ -s ${{IPKG_INSTROOT}}/lib/functions.sh ] || exit 0\n\
         . ${{IPKG_INSTROOT}}/lib/functions.sh\n\
         export root=\"${{IPKG_INSTROOT}}\"\n\
         export pkgname=\"{name}\"\n"
    );
    let install = format!(
        "[ \"${{IPKG_NO_SCRIPT}}\" = \"1\" ] && exit 0\n{functions}add_group_and_user\ndefault_postinst\n{}",
        part("postinst-pkg")
    );
    let scripts = pkg["scripts"].as_object().unwrap();
    assert_eq!(scripts["post-install"], format!("#!/bin/sh\n{install}"));
    assert_eq!(
        scripts["post-upgrade"],
        format!("#!/bin/sh\nexport PKG_UPGRADE=1\n{install}")
    );
    assert_eq!(
        scripts["pre-deinstall"],
        format!("#!/bin/sh\n{functions}default_prerm\n{}", part("prerm-pkg"))
    );
    let mut kinds: Vec<&str> = scripts.keys().map(String::as_str).collect();
    kinds.sort_unstable();
    match fs::read_to_string(control_dir.join("postrm")) {
        Ok(postrm) => {
            assert_eq!(scripts["post-deinstall"], postrm);
            assert_eq!(
                kinds,
                [
                    "post-deinstall",
                    "post-install",
                    "post-upgrade",
                    "pre-deinstall"
                ]
            );
        }
        Err(_) => assert_eq!(kinds, ["post-install", "post-upgrade", "pre-deinstall"]),
    }
    for script in scripts.values() {
        let check = Command::new("sh")
            .args(["-n", "-c", script.as_str().unwrap()])
            .output()
            .unwrap();
        assert!(check.status.success(), "{script}: {check:?}");
    }
}

/// The .apk and .ipk to compare: built here from the host binary, or the ones named by
/// ECMP_APK and ECMP_IPK (CI: the mipsel packages `make apk` and `make ipk` built).
fn apk_and_ipk(scratch: &Path) -> (PathBuf, PathBuf) {
    if let (Ok(apk), Ok(ipk)) = (std::env::var("ECMP_APK"), std::env::var("ECMP_IPK")) {
        return (PathBuf::from(apk), PathBuf::from(ipk));
    }
    let bin = env!("CARGO_BIN_EXE_ecmp-hotplug");
    let args = ["--arch", "x86_64", "--binary", bin];
    (
        pack("apk.py", &args, scratch),
        pack("ipk.py", &args, scratch),
    )
}

#[test]
fn the_apk_holds_the_ipks_files_metadata_and_scripts_in_apks_format() {
    let scratch = std::env::temp_dir().join(format!("ecmp-hotplug-apk-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).unwrap();
    let (apk, ipk) = apk_and_ipk(&scratch);
    the_apk_matches_the_ipk(&apk, &ipk, "ecmp-hotplug", &scratch.join("main"));
    // The binary itself, not only its hash.
    let pkg = read_apk(&apk);
    assert_eq!(
        pkg["files"]["usr/sbin/ecmp-hotplug"]["sha256"],
        sha256(&scratch.join("main/data/usr/sbin/ecmp-hotplug"))
    );
    // The package's own parts are in the scripts: sync after install, stop then flush
    // before removal, rpcd reloaded after it.
    let scripts = &pkg["scripts"];
    assert!(
        scripts["post-install"]
            .as_str()
            .unwrap()
            .contains("/usr/sbin/ecmp-hotplug sync")
    );
    let rm = scripts["pre-deinstall"].as_str().unwrap();
    assert!(
        rm.find("default_prerm").unwrap() < rm.find("/usr/sbin/ecmp-hotplug flush").unwrap(),
        "{rm}"
    );
    assert!(
        scripts["post-deinstall"]
            .as_str()
            .unwrap()
            .contains("/etc/init.d/rpcd reload")
    );

    let luci_out = scratch.join("luci-out");
    let luci = "luci-app-ecmp-hotplug";
    let luci_apk = pack("apk.py", &["--package", luci], &luci_out);
    let luci_ipk = pack("ipk.py", &["--package", luci], &luci_out);
    the_apk_matches_the_ipk(&luci_apk, &luci_ipk, luci, &scratch.join("luci"));
    assert!(
        read_apk(&luci_apk)["scripts"]["post-install"]
            .as_str()
            .unwrap()
            .contains("killall -HUP rpcd"),
        "luci.mk's postinst part"
    );
    fs::remove_dir_all(&scratch).unwrap();
}

/// The reader refuses what apk would: a file whose bytes are not its entry's sha256, and
/// metadata that no longer matches the package id (info.hashes).
#[test]
fn a_corrupted_apk_is_refused_by_the_reader() {
    let scratch = std::env::temp_dir().join(format!("ecmp-hotplug-apk-bad-{}", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).unwrap();
    let bin = env!("CARGO_BIN_EXE_ecmp-hotplug");
    let apk = pack("apk.py", &["--arch", "x86_64", "--binary", bin], &scratch);
    let raw = apk_read(&["--raw"], &apk).unwrap();
    let corrupt = |needle: &[u8], skip: usize, name: &str| {
        let at = raw
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap_or_else(|| panic!("{name}: not found"))
            + skip;
        let mut bad = raw.clone();
        bad[at] ^= 0x20;
        let path = scratch.join(format!("{name}.raw"));
        fs::write(&path, bad).unwrap();
        let packed = apk_read(&["--pack"], &path).unwrap();
        let bad_apk = scratch.join(format!("{name}.apk"));
        fs::write(&bad_apk, packed).unwrap();
        apk_read(&[], &bad_apk).expect_err(name)
    };
    let head = &fs::read(bin).unwrap()[..64];
    let err = corrupt(head, 100, "binary");
    assert!(
        err.contains("usr/sbin/ecmp-hotplug: the data's sha256 is not its entry's"),
        "{err}"
    );
    let err = corrupt(b"Spreads traffic", 0, "description");
    assert!(err.contains("info.hashes is not the sha256"), "{err}");
    // Untouched, the same bytes read.
    let path = scratch.join("same.raw");
    fs::write(&path, &raw).unwrap();
    let same = scratch.join("same.apk");
    fs::write(&same, apk_read(&["--pack"], &path).unwrap()).unwrap();
    assert_eq!(read_apk(&same), read_apk(&apk));
    fs::remove_dir_all(&scratch).unwrap();
}
