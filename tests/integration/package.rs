//! Packaging: the SDK feed Makefile agrees with Cargo.toml and the tree, and the .ipk that
//! `openwrt/ipk.py` assembles has the layout OpenWrt's opkg reads (scripts/ipkg-build:
//! a gzip'd tar of debian-binary, data.tar.gz, control.tar.gz).
//!
//! The .ipk checked is built here from the host binary, or is the one named by `ECMP_IPK`
//! (CI sets it to the mipsel package `make ipk` built).

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
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_ecmp-hotplug"));
    let out = Command::new("python3")
        .arg(Path::new(REPO).join("openwrt/ipk.py"))
        .args(["--arch", "x86_64", "--binary"])
        .arg(&bin)
        .arg("--out")
        .arg(scratch)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ipk = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    (ipk, bin, "x86_64".into())
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
