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
use std::process::{Child, Command, Output, Stdio};
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
        for sub in [
            "bin",
            "etc-layer/config",
            "sbin-layer",
            "lock",
            "run",
            "mwan3track",
        ] {
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

    /// Gives the router a /run of its own (`varrun`), empty but for what its runs bind there.
    pub fn own_run(&self) {
        fs::create_dir_all(self.path("varrun")).unwrap();
    }

    /// A hotplug directory of its own (`hotplug.d/iface`): ours, and `others` (name, path)
    /// beside it, in hotplug-call's order.
    pub fn hotplug_scripts(&self, others: &[(&str, &str)]) {
        let dir = self.path("hotplug.d/iface");
        fs::create_dir_all(&dir).unwrap();
        let ours = format!("{REPO}/files/etc/hotplug.d/iface/20-ecmp-hotplug");
        std::os::unix::fs::symlink(ours, dir.join("20-ecmp-hotplug")).unwrap();
        for (name, path) in others {
            std::os::unix::fs::symlink(path, dir.join(name)).unwrap();
        }
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

    /// The fake ubus: answers exactly `call network.interface dump`, like the real one, and
    /// takes `send ecmp-hotplug.member JSON` as ubusd does (each JSON a line of `ubus-sent`).
    pub fn ubus_prints_dump(&self) {
        let dump = self.path("dump.json");
        self.set_ubus(&format!(
            "case \"$*\" in\n\
             'call network.interface dump') cat '{}' ;;\n\
             'send ecmp-hotplug.member '*) printf '%s\\n' \"$3\" >> '{}' ;;\n\
             *) echo \"unexpected: $*\" >&2; exit 2 ;;\n\
             esac",
            dump.display(),
            self.path("ubus-sent").display()
        ));
    }

    /// One interface event, delivered the way netifd → hotplug-call delivers it.
    pub fn hotplug(&self, action: &str, interface: &str, device: Option<&str>) -> Run {
        self.run_cmd(&mut self.hotplug_command(action, interface, device))
    }

    /// The command `hotplug` runs, to spawn.
    pub fn hotplug_command(&self, action: &str, interface: &str, device: Option<&str>) -> Command {
        self.hotplug_command_with(action, interface, device, "")
    }

    /// `hotplug` with more of the event's variables: `extra` is `NAME=value …`, as
    /// mwan3track adds `FIRSTCONNECT` (a test's constant, spliced as it is).
    pub fn hotplug_with(&self, action: &str, interface: &str, device: &str, extra: &str) -> Run {
        self.run_cmd(&mut self.hotplug_command_with(action, interface, Some(device), extra))
    }

    fn hotplug_command_with(
        &self,
        action: &str,
        interface: &str,
        device: Option<&str>,
        extra: &str,
    ) -> Command {
        // The event's variables travel in the environment, never spliced into the script, so
        // names with shell syntax in them reach the binary as they are.
        let device_var = if device.is_some() {
            "DEVICE=\"$EV_DEVICE\""
        } else {
            ""
        };
        let mut cmd = self.router_shell(&format!(
            "exec env -i ACTION=\"$EV_ACTION\" INTERFACE=\"$EV_INTERFACE\" {device_var} {extra} FAKE_BIN={bin} HOTPLUG_DIR={dir} {repo}/tests/support/hotplug-call iface",
            bin = self.path("bin").display(),
            repo = REPO,
            dir = match self.path("hotplug.d").is_dir() {
                true => self.path("hotplug.d").display().to_string(),
                false => format!("{REPO}/files/etc/hotplug.d"),
            },
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
        // A router that has a `varrun` (`Router::own_run`) gets it as its whole /run, where
        // mwan3's directories come and go as on a router.
        if self.path("varrun").is_dir() {
            mounts = format!(
                "mount --bind {} /run; mkdir -p /run/lock; {mounts}",
                self.path("varrun").display()
            );
        }
        // Its own tracking state and mwan3track directory: every router's `watch` publishes
        // to /var/run/ecmp-hotplug, which must not be another test's.
        for (dir, target) in [
            ("run", "/run/ecmp-hotplug"),
            ("mwan3track", "/run/mwan3track"),
        ] {
            mounts += &format!(
                "mkdir -p {target}; mount --bind {} {target}; ",
                self.path(dir).display()
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
    pub fn syslog(&self) -> Syslog {
        fs::create_dir_all(self.path("dev-layer")).unwrap();
        fs::write(self.path("dev-layer/log"), "").unwrap();
        let socket = std::os::unix::net::UnixDatagram::bind(self.path("log.sock")).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Syslog(socket)
    }

    /// The binary as `/usr/sbin/ecmp-hotplug` inside the router's mount namespace (its
    /// /var/run), with the test's config and dump: how procd and a person on the router run
    /// it.
    pub fn on_router(&self, args: &[&str]) -> Command {
        let mut line = String::from("exec /usr/sbin/ecmp-hotplug");
        if self.path("etc-layer/config/ecmp-hotplug").exists() {
            line += &format!(
                " --config {}",
                self.path("etc-layer/config/ecmp-hotplug").display()
            );
        }
        line += &format!(" --dump {}", self.path("dump.json").display());
        for a in args {
            line += &format!(" {a}");
        }
        self.router_shell(&line)
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
        self.route_get(
            &(0..flows)
                .map(|f| {
                    format!(
                        "2001:db8:{:x}::1 ipproto tcp sport {} dport 443",
                        f % 7,
                        1024 + f
                    )
                })
                .collect::<Vec<_>>(),
        )
    }

    /// The device `ip -6 route get QUERY` answers for each of `queries`, in order, from one
    /// `ip -batch`.
    pub fn route_get(&self, queries: &[String]) -> Vec<String> {
        let batch: String = queries.iter().map(|q| format!("route get {q}\n")).collect();
        let mut cmd = Command::new("ip");
        cmd.args(["-n", &self.ns, "-6", "-batch", "-"]);
        let out = with_stdin(&mut cmd, &batch);
        let devs: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split(" dev ").nth(1))
            .map(|rest| rest.split_whitespace().next().unwrap().to_string())
            .collect();
        assert_eq!(
            devs.len(),
            queries.len(),
            "route get answered {} of them",
            devs.len()
        );
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
    /// The devices of the legs of the route at `target`, sorted.
    pub fn leg_devices(&self, family: &str, target: &str) -> Vec<String> {
        self.legs(family, target).into_iter().map(|l| l.0).collect()
    }

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
        s += &self.ip(&["-4", "rule", "show"]);
        s += &self.ip(&["-6", "rule", "show"]);
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
        // As netifd dumps a down interface: the device it is set up on, no l3_device.
        return format!(
            r#"{{"interface":"{name}","up":false,"pending":false,"available":true,"proto":"dhcpv6","device":"{dev}","data":{{}}}}"#
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

/// `let r = test_router!("tag", uplinks);`: the test's router, or the test returns where kernel
/// tests can't run here (never under CI, where `privileged` fails instead).
macro_rules! test_router {
    ($tag:expr, $uplinks:expr) => {
        match $crate::common::router($tag, $uplinks) {
            Some(r) => r,
            None => return,
        }
    };
}
pub(crate) use test_router;

/// A NAT66 home network for the tracking tests and the bench: a LAN namespace (`fd00:1::2`
/// behind the router's `fd00:1::1`), the router (uplinks `wan1..wanN` at `2001:db8:N::2/64`,
/// nft masquerade or per-uplink SNAT out of every uplink), one ISP namespace per uplink
/// (gateway `2001:db8:N::1`) that routes its own prefix only and drops any other source
/// (BCP 38), and a server namespace reachable through every ISP at `2001:db8:ff::1`.
pub struct Nat66 {
    pub r: Router,
    pub lan: String,
    pub isps: Vec<String>,
    pub srv: String,
}

pub const SERVER: &str = "2001:db8:ff::1";

/// In namespace `ns`: `ip ARGS`.
pub fn ip_in(ns: &str, args: &[&str]) -> String {
    ok(Command::new("ip").arg("-n").arg(ns).args(args))
}

/// In namespace `ns`: an nft script.
pub fn nft_in(ns: &str, script: &str) {
    let out = with_stdin(
        Command::new("ip").args(["netns", "exec", ns, "nft", "-f", "-"]),
        script,
    );
    assert!(out.status.success(), "nft in {ns}: {script}");
}

/// Runs `cmd` with `input` on its stdin; its output.
pub fn with_stdin(cmd: &mut Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Waits up to `bound` for `done`; returns how long it took, or panics with `what`.
pub fn within(bound: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < bound, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

impl Nat66 {
    /// `snat`: per-uplink SNAT to the uplink's address instead of masquerade.
    pub fn new(tag: &str, uplinks: usize, snat: bool) -> Nat66 {
        let r = Router::new(tag, uplinks);
        let lan = format!("{}-lan", r.ns);
        let srv = format!("{}-srv", r.ns);
        let isps: Vec<String> = (1..=uplinks).map(|i| format!("{}-isp{i}", r.ns)).collect();
        // The guard first: a set-up that fails half-way still deletes every namespace.
        let n = Nat66 {
            r,
            lan: lan.clone(),
            isps: isps.clone(),
            srv: srv.clone(),
        };
        for ns in isps.iter().chain([&lan, &srv]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            ok(Command::new("ip").args(["netns", "add", ns]));
            ip_in(ns, &["link", "set", "lo", "up"]);
        }
        let sysctl = |ns: &str, kv: &str| {
            ok(Command::new("ip").args(["netns", "exec", ns, "sysctl", "-qw", kv]));
        };
        sysctl(&n.r.ns, "net.ipv6.conf.all.forwarding=1");
        // LAN
        n.r.ip(&["link", "add", "lan", "type", "veth", "peer", "name", "eth0"]);
        n.r.ip(&["link", "set", "eth0", "netns", &lan]);
        n.r.ip(&["addr", "add", "fd00:1::1/64", "dev", "lan", "nodad"]);
        n.r.ip(&["link", "set", "lan", "up"]);
        ip_in(
            &lan,
            &["addr", "add", "fd00:1::2/64", "dev", "eth0", "nodad"],
        );
        ip_in(&lan, &["link", "set", "eth0", "up"]);
        ip_in(&lan, &["-6", "route", "add", "default", "via", "fd00:1::1"]);
        // Server
        ip_in(
            &srv,
            &["addr", "add", &format!("{SERVER}/128"), "dev", "lo"],
        );
        for (i, isp) in isps.iter().enumerate() {
            let k = i + 1;
            sysctl(isp, "net.ipv6.conf.all.forwarding=1");
            n.r.ip(&["link", "set", &format!("peer{k}"), "netns", isp]);
            n.r.ip(&[
                "addr",
                "add",
                &format!("2001:db8:{k}::2/64"),
                "dev",
                &format!("wan{k}"),
                "nodad",
            ]);
            ip_in(
                isp,
                &[
                    "addr",
                    "add",
                    &format!("2001:db8:{k}::1/64"),
                    "dev",
                    &format!("peer{k}"),
                    "nodad",
                ],
            );
            ip_in(isp, &["link", "set", &format!("peer{k}"), "up"]);
            let (up, down) = ("srv".to_string(), format!("isp{k}"));
            ip_in(
                isp,
                &["link", "add", &up, "type", "veth", "peer", "name", &down],
            );
            ip_in(isp, &["link", "set", &down, "netns", &srv]);
            ip_in(
                isp,
                &[
                    "addr",
                    "add",
                    &format!("2001:db8:f{k}::1/64"),
                    "dev",
                    &up,
                    "nodad",
                ],
            );
            ip_in(isp, &["link", "set", &up, "up"]);
            ip_in(
                isp,
                &[
                    "-6",
                    "route",
                    "add",
                    SERVER,
                    "via",
                    &format!("2001:db8:f{k}::2"),
                ],
            );
            ip_in(
                &srv,
                &[
                    "addr",
                    "add",
                    &format!("2001:db8:f{k}::2/64"),
                    "dev",
                    &down,
                    "nodad",
                ],
            );
            ip_in(&srv, &["link", "set", &down, "up"]);
            ip_in(
                &srv,
                &[
                    "-6",
                    "route",
                    "add",
                    &format!("2001:db8:{k}::/64"),
                    "via",
                    &format!("2001:db8:f{k}::1"),
                ],
            );
            nft_in(
                isp,
                &format!(
                    "table ip6 bcp38 {{ chain c {{ type filter hook forward priority 0\niifname \"peer{k}\" ip6 saddr != 2001:db8:{k}::/64 drop\n}}\n}}\n"
                ),
            );
        }
        let nat = if snat {
            (1..=uplinks)
                .map(|n| format!("oifname \"wan{n}\" snat ip6 to 2001:db8:{n}::2\n"))
                .collect::<String>()
        } else {
            "oifname \"wan*\" masquerade\n".to_string()
        };
        nft_in(
            &n.r.ns,
            &format!(
                "table ip6 nat {{ chain post {{ type nat hook postrouting priority srcnat\n{nat}\n}}\n}}\n"
            ),
        );
        let ifaces: Vec<String> = (1..=uplinks)
            .map(|n| {
                v6_uplink(
                    &format!("wan{n}_6"),
                    &format!("wan{n}"),
                    &format!("2001:db8:{n}::1"),
                    true,
                )
            })
            .collect();
        n.r.set_dump(&dump(&ifaces));
        // Link-local addresses finish DAD before anything is sent: on a router they did long
        // before any uplink is tracked.
        let start = std::time::Instant::now();
        for ns in n.isps.iter().chain([&n.r.ns, &n.lan, &n.srv]) {
            while !ip_in(ns, &["-6", "addr", "show", "tentative"])
                .trim()
                .is_empty()
            {
                assert!(start.elapsed() < Duration::from_secs(10), "DAD in {ns}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        n
    }

    /// ISP `n` (1-based) stops forwarding to the server, or forwards again; its link, gateway
    /// and everything else stay up.
    pub fn upstream(&self, n: usize, alive: bool) {
        let isp = &self.isps[n - 1];
        if alive {
            nft_in(isp, "delete table ip6 dead");
        } else {
            nft_in(
                isp,
                &format!(
                    "table ip6 dead {{ chain c {{ type filter hook forward priority -10\nip6 daddr {SERVER} drop\n}}\n}}\n"
                ),
            );
        }
    }

    /// A command in namespace `ns`.
    pub fn in_ns(ns: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).args(args);
        cmd
    }

    /// tests/support/flows.py ARGS in namespace `ns`.
    pub fn flows(ns: &str, args: &[&str]) -> Command {
        let script = format!("{REPO}/tests/support/flows.py");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, "python3", &script])
            .args(args);
        cmd
    }
}

impl Drop for Nat66 {
    fn drop(&mut self) {
        for ns in self.isps.iter().chain([&self.lan, &self.srv]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// `watch` running in a router, killed on drop.
pub struct Watch(pub Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Watch {
    pub fn start(r: &Router) -> Watch {
        Watch::start_with(r, Stdio::null())
    }

    /// `watch` with its log (stderr, as run by hand) in `r`'s `watch.log`.
    pub fn start_logging(r: &Router) -> Watch {
        let log = fs::File::create(r.path("watch.log")).unwrap();
        Watch::start_with(r, log.into())
    }

    /// What `start_logging` has logged so far.
    pub fn log(r: &Router) -> String {
        fs::read_to_string(r.path("watch.log")).unwrap()
    }

    pub fn start_with(r: &Router, stderr: Stdio) -> Watch {
        // In the router's mount namespace, where its tracking state lives; every step of
        // `ip netns exec`, `unshare` and the shell execs the next, so the pid is watch's.
        let child = r
            .on_router(&["--verbose", "watch"])
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        Watch(child)
    }

    /// User and system CPU time so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        // The child is `ip netns exec`, which execs the binary: same pid.
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.0.id())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}

/// A child process killed (and reaped) when dropped, so a failing test leaves none behind.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The router's syslog (`Router::syslog`), a line at a time.
pub struct Syslog(std::os::unix::net::UnixDatagram);

impl Syslog {
    /// The next line the router's runs logged, waiting at most 5 s for it.
    pub fn next(&mut self) -> String {
        let mut buf = [0u8; 2048];
        let n = self.0.recv(&mut buf).expect("a syslog line within 5 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// `ubus call` through rpcd's exec plugin, as rpcd's `plugin.c` turns the plugin's stdout into
/// a reply (exit code and stderr are never read): json-c's tokener takes the first JSON value
/// (what follows it is never read); a complete object is the reply (`UBUS_STATUS_OK`);
/// nothing printed at all, or a bare `null`, is `UBUS_STATUS_NO_DATA` ("No response"), since the
/// tokener starts out at success with no object; anything else, whitespace only included
/// (json-c still waits for a value), is `UBUS_STATUS_INVALID_ARGUMENT`.
pub fn rpcd_reply(stdout: &[u8]) -> Result<Value, u32> {
    const INVALID_ARGUMENT: u32 = 2;
    const NO_DATA: u32 = 9;
    if stdout.is_empty() {
        return Err(NO_DATA);
    }
    match serde_json::Deserializer::from_slice(stdout)
        .into_iter::<Value>()
        .next()
    {
        Some(Ok(Value::Null)) => Err(NO_DATA),
        Some(Ok(object @ Value::Object(_))) => Ok(object),
        Some(Ok(_) | Err(_)) | None => Err(INVALID_ARGUMENT),
    }
}
