//! What every kernel test stands on: the binary under test, root and a network namespace
//! (or, under CI, a loud failure), and `Router`, a namespace with veth uplinks, a fake ubus,
//! the test's dump and config, and the binary run as hotplug-call runs it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// How to run the binary under test: the host build, or, for `openwrt/build.sh kernel ARCH`,
/// a router build (`ECMP_HOTPLUG_BIN`) under qemu-user (`ECMP_HOTPLUG_QEMU`).
pub fn invocation() -> Vec<String> {
    match std::env::var("ECMP_HOTPLUG_BIN") {
        Ok(bin) => match std::env::var("ECMP_HOTPLUG_QEMU") {
            Ok(qemu) if !qemu.is_empty() => vec![qemu, bin],
            _ => vec![bin],
        },
        Err(_) => vec![env!("CARGO_BIN_EXE_ecmp-hotplug").to_string()],
    }
}

pub fn binary() -> Command {
    let inv = invocation();
    let mut cmd = Command::new(&inv[0]);
    cmd.args(&inv[1..]);
    cmd
}

/// Whether kernel tests can run here; panics under CI when they can't.
pub fn privileged() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let netns = root
        && Command::new("ip")
            .args(["netns", "list"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !netns && std::env::var_os("CI").is_some() {
        panic!("kernel tests need root and network namespaces, and CI is set: refusing to skip");
    }
    if !netns {
        eprintln!("skipping: kernel tests need root and `ip netns`");
    }
    netns
}

pub fn sh(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

pub fn ok(cmd: &mut Command) -> String {
    let out = sh(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A network namespace with uplinks `wan1..wanN` (veth, peers `peerN` in the same namespace),
/// a scratch directory for the fake ubus, dump and config, removed on drop.
pub struct Router {
    pub ns: String,
    pub dir: PathBuf,
}

/// Outcome of one run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Router {
    pub fn new(tag: &str, uplinks: usize) -> Router {
        let ns = format!("ecmpt-{}-{tag}", std::process::id());
        let dir = std::env::temp_dir().join(&ns);
        let _ = fs::remove_dir_all(&dir);
        for sub in ["bin", "etc-layer/config", "sbin-layer", "lock"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        // What the stub runs as /usr/sbin/ecmp-hotplug: the binary, or a wrapper that does
        // what binfmt_misc would do for a router build.
        let exe = dir.join("sbin-layer/ecmp-hotplug");
        match invocation().as_slice() {
            [bin] => std::os::unix::fs::symlink(bin, &exe).unwrap(),
            [qemu, bin] => {
                fs::write(&exe, format!("#!/bin/sh\nexec {qemu} {bin} \"$@\"\n")).unwrap();
                fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                    .unwrap();
            }
            _ => unreachable!(),
        }
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        ok(Command::new("ip").args(["netns", "add", &ns]));
        let r = Router { ns, dir };
        r.ip(&["link", "set", "lo", "up"]);
        for i in 1..=uplinks {
            r.add_uplink(i);
        }
        r.ubus_prints_dump();
        r
    }

    pub fn add_uplink(&self, i: usize) {
        let (wan, peer) = (format!("wan{i}"), format!("peer{i}"));
        self.ip(&["link", "add", &wan, "type", "veth", "peer", "name", &peer]);
        self.ip(&["link", "set", &wan, "up"]);
        self.ip(&["link", "set", &peer, "up"]);
    }

    pub fn ip(&self, args: &[&str]) -> String {
        ok(Command::new("ip").arg("-n").arg(&self.ns).args(args))
    }

    pub fn ip_json(&self, args: &[&str]) -> Value {
        let out = ok(Command::new("ip")
            .arg("-j")
            .arg("-n")
            .arg(&self.ns)
            .args(args));
        if out.trim().is_empty() {
            Value::Array(vec![])
        } else {
            serde_json::from_str(&out).unwrap()
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn set_dump(&self, json: &str) {
        fs::write(self.path("dump.json"), json).unwrap();
    }

    pub fn set_config(&self, text: &str) {
        fs::write(self.path("etc-layer/config/ecmp-hotplug"), text).unwrap();
    }

    pub fn set_ubus(&self, script: &str) {
        let p = self.path("bin/ubus");
        fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
        fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }

    /// The fake ubus: answers exactly `call network.interface dump`, like the real one.
    pub fn ubus_prints_dump(&self) {
        let dump = self.path("dump.json");
        self.set_ubus(&format!(
            "[ \"$*\" = 'call network.interface dump' ] || {{ echo \"unexpected: $*\" >&2; exit 2; }}\ncat '{}'",
            dump.display()
        ));
    }

    /// One interface event, delivered the way netifd → hotplug-call delivers it.
    pub fn hotplug(&self, action: &str, interface: &str, device: Option<&str>) -> Run {
        self.run_cmd(&mut self.hotplug_command(action, interface, device))
    }

    /// The command `hotplug` runs, to spawn.
    pub fn hotplug_command(&self, action: &str, interface: &str, device: Option<&str>) -> Command {
        // The event's variables travel in the environment, never spliced into the script, so
        // names with shell syntax in them reach the binary as they are.
        let device_var = if device.is_some() {
            "DEVICE=\"$EV_DEVICE\""
        } else {
            ""
        };
        let mut cmd = self.router_shell(&format!(
            "exec env -i ACTION=\"$EV_ACTION\" INTERFACE=\"$EV_INTERFACE\" {device_var} FAKE_BIN={bin} HOTPLUG_DIR={repo}/files/etc/hotplug.d {repo}/tests/support/hotplug-call iface",
            bin = self.path("bin").display(),
            repo = REPO,
        ));
        cmd.env("EV_ACTION", action)
            .env("EV_INTERFACE", interface)
            .env("EV_DEVICE", device.unwrap_or(""));
        cmd
    }

    /// `script` run by `sh` inside the router: its network namespace and a private mount
    /// namespace whose read-only overlays put the binary at /usr/sbin/ecmp-hotplug and the
    /// test's `etc-layer` (config, and whatever else a test puts there) over /etc, and the
    /// test's `usrlib-layer`, where it has one, over /usr/lib (and /lib). The router's own
    /// /var/lock is bound over the host's, so its runs share a lock with each other and with
    /// no other test's.
    pub fn router_shell(&self, script: &str) -> Command {
        // Read-only overlays (two lower layers, ours on top): concurrent runs can share them.
        let overlay = |target: &str, name: &str| {
            format!(
                "mount -t overlay overlay -o lowerdir={d}/{name}-layer:{target} {target}; ",
                d = self.dir.display()
            )
        };
        let mut mounts = overlay("/etc", "etc") + &overlay("/usr/sbin", "sbin");
        if self.path("usrlib-layer").is_dir() {
            mounts += &overlay("/usr/lib", "usrlib");
            // Where /lib is no link to usr/lib, it gets the same layer.
            if !fs::symlink_metadata("/lib").is_ok_and(|m| m.is_symlink()) {
                mounts += &overlay("/lib", "usrlib");
            }
        }
        // A syslog the test listens on (`Router::syslog`), at /dev/log.
        if self.path("log.sock").exists() {
            mounts += &format!(
                "{}mount --bind {} /dev/log; ",
                overlay("/dev", "dev"),
                self.path("log.sock").display()
            );
        }
        let script = format!(
            "set -e; {mounts}mount --bind {lock} /var/lock; {script}",
            lock = self.path("lock").display(),
        );
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns", "exec", &self.ns, "unshare", "--mount", "sh", "-c", &script,
        ]);
        cmd
    }

    /// A syslog for the router's runs: what they send to /dev/log arrives here.
    pub fn syslog(&self) -> std::os::unix::net::UnixDatagram {
        fs::create_dir_all(self.path("dev-layer")).unwrap();
        fs::write(self.path("dev-layer/log"), "").unwrap();
        let socket = std::os::unix::net::UnixDatagram::bind(self.path("log.sock")).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        socket
    }

    /// The binary run by hand: `ecmp-hotplug --config <the test's config> ARGS`.
    pub fn cli(&self, args: &[&str]) -> Run {
        self.run_cmd(&mut self.cli_command(args))
    }

    pub fn cli_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns]).args(invocation());
        if self.path("etc-layer/config/ecmp-hotplug").exists() {
            cmd.arg("--config")
                .arg(self.path("etc-layer/config/ecmp-hotplug"));
        }
        cmd.args(args).env(
            "PATH",
            format!(
                "{}:/usr/sbin:/usr/bin:/sbin:/bin",
                self.path("bin").display()
            ),
        );
        cmd
    }

    /// `ip -j nexthop`: every nexthop object.
    pub fn objects(&self) -> Vec<Value> {
        self.ip_json(&["nexthop", "show"])
            .as_array()
            .unwrap()
            .clone()
    }

    /// The objects with ecmp-hotplug's protocol mark.
    pub fn our_objects(&self) -> Vec<Value> {
        let mut ours: Vec<Value> = self
            .objects()
            .into_iter()
            .filter(|o| o["protocol"] == "236")
            .collect();
        ours.sort_by_key(|o| o["id"].as_u64());
        ours
    }

    /// The resilient group the route at `target` uses: (group id, [(member id, device)]).
    pub fn resilient_group(&self, target: &str) -> (u64, Vec<(u64, String)>) {
        let route = self.route("-6", target).expect("a route");
        let id = route["nhid"]
            .as_u64()
            .expect("a route through a nexthop object");
        let objects = self.objects();
        let find = |id: u64| objects.iter().find(|o| o["id"] == id).unwrap().clone();
        let group = find(id);
        assert_eq!(group["type"], "resilient", "{group}");
        assert_eq!(group["protocol"], "236", "{group}");
        let members = group["group"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let leg = find(m["id"].as_u64().unwrap());
                assert_eq!(leg["protocol"], "236", "{leg}");
                (
                    leg["id"].as_u64().unwrap(),
                    leg["dev"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        (id, members)
    }

    /// The uplink each of `flows` L4 flows into 2000::/3 leaves by, per `ip route get`.
    pub fn egress(&self, flows: usize) -> Vec<String> {
        let batch: String = (0..flows)
            .map(|f| {
                format!(
                    "route get 2001:db8:{:x}::1 ipproto tcp sport {} dport 443\n",
                    f % 7,
                    1024 + f
                )
            })
            .collect();
        let mut child = Command::new("ip")
            .args(["-n", &self.ns, "-6", "-batch", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(batch.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let devs: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split(" dev ").nth(1))
            .map(|rest| rest.split_whitespace().next().unwrap().to_string())
            .collect();
        assert_eq!(devs.len(), flows, "route get answered {} flows", devs.len());
        devs
    }

    pub fn run_cmd(&self, cmd: &mut Command) -> Run {
        let out = sh(cmd.stdin(Stdio::null()));
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The route at `target` in the main table, as `ip -j` shows it, if there is one.
    pub fn route(&self, family: &str, target: &str) -> Option<Value> {
        let routes = self.ip_json(&[family, "route", "show", "exact", target]);
        routes.as_array().unwrap().first().cloned()
    }

    /// `(device, gateway, weight)` of every leg of the route at `target`, sorted.
    pub fn legs(&self, family: &str, target: &str) -> Vec<(String, String, u64)> {
        let Some(r) = self.route(family, target) else {
            return vec![];
        };
        let one = |v: &Value| {
            (
                v["dev"].as_str().unwrap().to_string(),
                v["gateway"].as_str().unwrap_or("").to_string(),
                v["weight"].as_u64().unwrap_or(1),
            )
        };
        let mut legs: Vec<_> = match r["nexthops"].as_array() {
            Some(nhs) => nhs.iter().map(one).collect(),
            None => vec![one(&r)],
        };
        legs.sort();
        legs
    }

    /// Everything routing-related the tool could change, for "the kernel is unchanged":
    /// all routes in all tables but the kernel's own (link-local addresses come and go as
    /// DAD finishes), and the hash policy sysctls.
    pub fn kernel_state(&self) -> String {
        let mut s = String::new();
        for family in ["-4", "-6"] {
            let routes = self.ip(&[family, "route", "show", "table", "all"]);
            s.extend(
                routes
                    .lines()
                    .filter(|l| !l.contains("proto kernel"))
                    .map(|l| format!("{l}\n")),
            );
        }
        s += &self.ip(&["nexthop", "show"]);
        for family in ["ipv4", "ipv6"] {
            s += &ok(Command::new("ip")
                .args(["netns", "exec", &self.ns, "cat"])
                .arg(format!("/proc/sys/net/{family}/fib_multipath_hash_policy")));
        }
        s
    }

    pub fn sysctl(&self, name: &str) -> String {
        ok(Command::new("ip").args(["netns", "exec", &self.ns, "sysctl", "-n", name]))
            .trim()
            .to_string()
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A DHCPv6 uplink as netifd dumps it: on-link /64 first, then the default route once per
/// delegated prefix (source-specific copies), as odhcp6c hands them over.
pub fn v6_uplink(name: &str, dev: &str, gw: &str, up: bool) -> String {
    if !up {
        return format!(
            r#"{{"interface":"{name}","up":false,"pending":false,"available":true,"proto":"dhcpv6","data":{{}}}}"#
        );
    }
    format!(
        r#"{{"interface":"{name}","up":true,"pending":false,"available":true,"autostart":true,"dynamic":false,"uptime":60,
            "l3_device":"{dev}","proto":"dhcpv6","device":"{dev}","metric":0,"delegation":true,
            "ipv6-address":[{{"address":"2001:db8:{n}::2","mask":64,"preferred":3600,"valid":7200}}],
            "ipv6-prefix":[{{"address":"2001:db8:{n}00::","mask":56,"preferred":3600,"valid":7200,"class":"{name}","assigned":{{}}}}],
            "route":[{{"target":"2001:db8:{n}::","mask":64,"nexthop":"::","metric":256,"valid":7200,"source":"::/0"}},
                     {{"target":"::","mask":0,"nexthop":"{gw}","metric":512,"valid":1800,"source":"2001:db8:{n}00::/56"}},
                     {{"target":"::","mask":0,"nexthop":"{gw}","metric":512,"valid":1800,"source":"2001:db8:{n}::2/64"}}],
            "dns-server":[],"dns-search":[],"neighbors":[],
            "inactive":{{"ipv4-address":[],"ipv6-address":[],"route":[],"dns-server":[],"dns-search":[],"neighbors":[]}},
            "data":{{}}}}"#,
        n = dev.trim_start_matches("wan"),
    )
}

pub fn dump(ifaces: &[String]) -> String {
    format!("{{\"interface\":[{}]}}", ifaces.join(","))
}

/// `(uplinks up)` → dump with `wan1_6..wanN_6` on `wan1..wanN`, gateways `fe80::N`.
pub fn v6_dump(up: &[bool]) -> String {
    let ifaces: Vec<String> = up
        .iter()
        .enumerate()
        .map(|(i, up)| {
            v6_uplink(
                &format!("wan{}_6", i + 1),
                &format!("wan{}", i + 1),
                &format!("fe80::{}", i + 1),
                *up,
            )
        })
        .collect();
    dump(&ifaces)
}

pub fn leg(dev: &str, gw: &str, weight: u64) -> (String, String, u64) {
    (dev.to_string(), gw.to_string(), weight)
}

/// The router a kernel test runs on, or `None` where kernel tests can't run here (never under
/// CI, where `privileged` fails instead).
pub fn router(tag: &str, uplinks: usize) -> Option<Router> {
    privileged().then(|| Router::new(tag, uplinks))
}
