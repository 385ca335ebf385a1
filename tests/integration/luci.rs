//! luci-app-ecmp-hotplug's views in a real browser (headless Chromium through Selenium,
//! tests/luci/browser.py), as they ship (openwrt/luci-app-ecmp-hotplug/htdocs), on the
//! stand-ins for LuCI's JS API (tests/luci/standin.js, written from luci-base's source) and
//! for uhttpd, rpcd and its uci and session parts (tests/luci/server.py). `ubus call
//! ecmp-hotplug status` is the real rpcd plugin run inside a router namespace with veth
//! uplinks, uci is the router's real config file, and what the pages show is checked against
//! the kernel (`ip -j route`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::*;

/// The poll interval the pages run at here (LuCI's default is 5 s): a change must show
/// within one.
const POLL: u64 = 2;

/// `cmd` as one line for `sh -c`, each argument quoted.
fn shell_line(cmd: &Command) -> String {
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', "'\\''"));
    std::iter::once(quote(cmd.get_program()))
        .chain(cmd.get_args().map(quote))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The web side (server.py) for router `r`, and a browser.
struct Luci {
    server: Child,
    port: u16,
    browser: Child,
    to: ChildStdin,
    from: BufReader<ChildStdout>,
}

impl Luci {
    fn start(r: &Router) -> Luci {
        let env = format!("PATH={}:$PATH;", r.path("bin").display());
        let status = r.router_shell(&format!(
            "{env} echo '{{}}' | {REPO}/files/usr/libexec/rpcd/ecmp-hotplug call status"
        ));
        // procd's config trigger runs the init script's reload: `ecmp-hotplug sync`.
        let reload = r.router_shell(&format!("{env} /usr/sbin/ecmp-hotplug sync"));
        let app = format!("{REPO}/openwrt/luci-app-ecmp-hotplug");
        let mut server = Command::new("python3")
            .arg(format!("{REPO}/tests/luci/server.py"))
            .args(["--htdocs", &format!("{app}/htdocs")])
            .args([
                "--acl",
                &format!("{app}/root/usr/share/rpcd/acl.d/luci-app-ecmp-hotplug.json"),
            ])
            .arg("--config-dir")
            .arg(r.path("etc-layer/config"))
            .args(["--status", &shell_line(&status)])
            .args(["--reload", &shell_line(&reload)])
            .args(["--poll", &POLL.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs tests/luci/server.py");
        let mut line = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the LuCI stand-in server did not start: {line:?}"));
        let mut browser = Command::new("python3")
            .arg(format!("{REPO}/tests/luci/browser.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs tests/luci/browser.py");
        let to = browser.stdin.take().unwrap();
        let mut from = BufReader::new(browser.stdout.take().unwrap());
        let mut ready = String::new();
        from.read_line(&mut ready).unwrap();
        assert!(
            ready.contains("ready"),
            "headless Chromium did not start (chromium, chromium-driver, selenium): {ready:?}"
        );
        Luci {
            server,
            port,
            browser,
            to,
            from,
        }
    }

    fn ask(&mut self, cmd: Value) -> Value {
        writeln!(self.to, "{cmd}").unwrap();
        let mut line = String::new();
        self.from.read_line(&mut line).unwrap();
        let answer: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("browser.py answered {line:?} to {cmd}: {e}"));
        match answer.get("ok") {
            Some(v) => v.clone(),
            None => panic!("{cmd}: {}", answer["error"]),
        }
    }

    /// Opens a page as session `sid` (`rw` or `ro`); it must render without a script error.
    fn open(&mut self, page: &str, sid: &str) {
        let url = format!("http://127.0.0.1:{}/{page}?sid={sid}", self.port);
        let opened = self.ask(json!({ "open": url }));
        assert_eq!(opened["ready"], "1", "{page}: {opened}");
        let errors: Vec<&Value> = opened["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| !e.as_str().unwrap_or_default().contains("favicon"))
            .collect();
        assert!(errors.is_empty(), "{page}: {errors:?}");
    }

    fn texts(&mut self, css: &str) -> Vec<String> {
        let v = self.ask(json!({ "text": css }));
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The status page's rows: (interface, state) in page order.
    fn rows(&mut self) -> Vec<(String, String)> {
        let v = self.ask(json!({ "js": "return [...document.querySelectorAll('tr[data-member]')].map(r => [r.dataset.member, r.dataset.state])" }));
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
            .collect()
    }
}

impl Drop for Luci {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = self.browser.kill();
        let _ = self.browser.wait();
    }
}

/// No page may show what a script failed to fill in.
fn readable(text: &str) {
    for bad in ["undefined", "NaN", "null", "[object"] {
        assert!(!text.contains(bad), "{bad:?} on the page: {text}");
    }
}

const NETWORK: &str = "\nconfig interface 'loopback'\n\toption proto 'static'\n\nconfig interface 'wan1_6'\n\toption proto 'dhcpv6'\n\nconfig interface 'wan2_6'\n\toption proto 'dhcpv6'\n\nconfig interface 'wan3_6'\n\toption proto 'dhcpv6'\n";

fn luci_router(tag: &str) -> Option<Router> {
    let r = router(tag, 3)?;
    r.set_config(
        "config globals 'globals'\n\toption mode 'multipath'\n\nconfig group 'v6'\n\toption target '2000::/3'\n\tlist proto 'dhcpv6'\n",
    );
    fs::write(r.path("etc-layer/config/network"), NETWORK).unwrap();
    r.ubus_prints_dump();
    r.set_dump(&v6_dump(&[true, true, true]));
    Some(r)
}

#[test]
fn luci_status_shows_the_members_the_kernel_has_and_a_downed_uplink_within_one_poll() {
    let Some(r) = luci_router("luci-status") else {
        return;
    };
    let mut luci = Luci::start(&r);
    // Before the first run nothing is installed: out of sync, said as the binary says it.
    luci.open("view/ecmp-hotplug/status", "ro");
    let state = luci.texts(".ecmp-group-state");
    assert_eq!(state, ["out of sync"], "{state:?}");
    assert_eq!(r.cli(&["sync"]).code, 0);
    luci.open("view/ecmp-hotplug/status", "ro");
    let kernel: Vec<String> = r.leg_devices("-6", "2000::/3");
    assert_eq!(kernel, ["wan1", "wan2", "wan3"]);
    let rows = luci.rows();
    let shown: Vec<String> = rows
        .iter()
        .filter(|(_, s)| s == "in")
        .map(|(i, _)| i.trim_end_matches("_6").to_string())
        .collect();
    assert_eq!(shown, kernel, "the page's members are the kernel's legs");
    let page = luci.texts("#ecmp-status").join("\n");
    readable(&page);
    assert!(
        page.contains("in the route") && page.contains("via fe80::2 dev wan2"),
        "{page}"
    );
    assert!(
        page.contains("weight 1, 33% of the group, metric 1"),
        "{page}"
    );
    // wan2 goes down (netifd's ifdown): the next poll shows it left, the kernel agrees.
    r.set_dump(&v6_dump(&[true, false, true]));
    assert_eq!(r.hotplug("ifdown", "wan2_6", None).code, 0);
    assert_eq!(r.leg_devices("-6", "2000::/3"), ["wan1", "wan3"]);
    luci.ask(json!({ "wait_text": ["tr[data-member='wan2_6']", "down", POLL + 3] }));
    assert!(luci.rows().contains(&("wan2_6".into(), "down".into())));
    // The Overview's line.
    luci.open("widget/status/include/35_ecmp-hotplug", "ro");
    assert_eq!(luci.texts("#ecmp-widget"), ["v6: 2 of 3 uplinks"]);
}

#[test]
fn luci_status_renders_each_state_and_reason_in_the_binary_s_words() {
    let Some(r) = luci_router("luci-states") else {
        return;
    };
    // wan3 a backup tier: standby; wan2 down; a fourth interface up without a default route
    // is left out.
    r.set_config(
        "config globals 'globals'\n\toption mode 'multipath'\n\nconfig group 'v6'\n\toption target '2000::/3'\n\tlist proto 'dhcpv6'\n\nconfig member\n\toption interface 'wan3_6'\n\toption metric '2'\n",
    );
    let mut ifaces: Vec<String> = [
        ("wan1_6", "wan1", "fe80::1", true),
        ("wan2_6", "wan2", "fe80::2", false),
        ("wan3_6", "wan3", "fe80::3", true),
    ]
    .iter()
    .map(|(n, d, g, up)| v6_uplink(n, d, g, *up))
    .collect();
    ifaces.push(
        r#"{"interface":"lan6","up":true,"proto":"dhcpv6","l3_device":"wan1","uptime":5,"ipv6-address":[],"route":[]}"#.into(),
    );
    r.set_dump(&dump(&ifaces));
    assert_eq!(r.cli(&["sync"]).code, 0);
    let mut luci = Luci::start(&r);
    luci.open("view/ecmp-hotplug/status", "ro");
    let rows = luci.rows();
    for (iface, state) in [
        ("wan1_6", "in"),
        ("wan2_6", "down"),
        ("wan3_6", "standby"),
        ("lan6", "left_out"),
    ] {
        assert!(
            rows.contains(&(iface.into(), state.into())),
            "{iface} {state}: {rows:?}"
        );
    }
    let page = luci.texts("#ecmp-status").join("\n");
    readable(&page);
    for words in [
        "standby (metric 2): members of metric 1 are usable",
        "no default route of this family",
        "in sync",
    ] {
        assert!(page.contains(words), "{words:?} in {page}");
    }
    // Every state cell says something.
    let states = luci.texts("tr[data-member] td:nth-child(2)");
    assert!(states.iter().all(|s| !s.trim().is_empty()), "{states:?}");
    // A config the binary refuses: its line, with file:line, where the groups were.
    r.set_config("config group 'v6'\n\toption target '2000::/3'\n\toption interval '0'\n");
    luci.open("view/ecmp-hotplug/status", "ro");
    let error = luci.texts("#ecmp-error").join("");
    assert!(
        error.contains("/config/ecmp-hotplug:3: interval '0' is not a number of seconds"),
        "{error}"
    );
    readable(&error);
}

#[test]
fn luci_config_adds_a_member_the_binary_applies_refuses_a_bad_value_and_read_only_cannot_save() {
    let Some(r) = luci_router("luci-config") else {
        return;
    };
    assert_eq!(r.cli(&["sync"]).code, 0);
    let mut luci = Luci::start(&r);
    luci.open("view/ecmp-hotplug/config", "rw");
    // Add a member: wan2_6, weight 2; Save & Apply.
    luci.ask(json!({ "click": "#cbi-ecmp-hotplug-member .cbi-button-add" }));
    let new = luci.ask(json!({ "js": "return [...document.querySelectorAll('#cbi-ecmp-hotplug-member .cbi-section-node')].pop().dataset.sectionId" }));
    let sid = new.as_str().unwrap().to_string();
    luci.ask(
        json!({ "select": [format!("[id='widget.cbid.ecmp-hotplug.{sid}.interface']"), "wan2_6"] }),
    );
    // Out of range first: the form refuses it and nothing is written.
    let weight = format!("[id='widget.cbid.ecmp-hotplug.{sid}.weight']");
    luci.ask(json!({ "type": [weight.clone(), "300"] }));
    let before = fs::read_to_string(r.path("etc-layer/config/ecmp-hotplug")).unwrap();
    luci.ask(json!({ "click": ".cbi-page-actions .cbi-button-apply" }));
    // As the real form.js says it (checked against LuCI itself): a "Save error" dialog.
    luci.ask(json!({ "wait_text": ["#modal_overlay", "Option \"Weight\" contains an invalid input value. Expecting: value between 1 and 256", 5] }));
    let class = luci.ask(json!({ "attr": [weight.clone(), "class"] }));
    assert!(
        class[0].as_str().unwrap().contains("cbi-input-invalid"),
        "{class}"
    );
    assert_eq!(
        fs::read_to_string(r.path("etc-layer/config/ecmp-hotplug")).unwrap(),
        before
    );
    luci.ask(json!({ "type": [weight, "2"] }));
    luci.ask(json!({ "click": ".cbi-page-actions .cbi-button-apply" }));
    // The saved file, as uci commit writes it, and the binary's route from it.
    within(Duration::from_secs(10), "the member in the file", || {
        fs::read_to_string(r.path("etc-layer/config/ecmp-hotplug"))
            .unwrap()
            .contains("\nconfig member\n\toption interface 'wan2_6'\n\toption weight '2'\n")
    });
    within(Duration::from_secs(10), "wan2's leg of weight 2", || {
        r.legs("-6", "2000::/3")
            .iter()
            .any(|(dev, _, w)| dev == "wan2" && *w == 2)
    });
    // A file the form takes but the binary refuses (a second group on the same route key):
    // after Save & Apply the page shows the binary's line, file:line and all.
    luci.open("view/ecmp-hotplug/config", "rw");
    luci.ask(json!({ "type": ["#cbi-ecmp-hotplug-group .cbi-section-create-name", "dup"] }));
    luci.ask(json!({ "click": "#cbi-ecmp-hotplug-group .cbi-section-create .cbi-button-add" }));
    luci.ask(json!({ "type": ["[id='widget.cbid.ecmp-hotplug.dup.target']", "2000::/3"] }));
    luci.ask(json!({ "click": ".cbi-page-actions .cbi-button-apply" }));
    let refused = luci.ask(json!({ "wait_text": ["#ecmp-error", "refuses", 10] }));
    let refused = refused[0].as_str().unwrap().to_string();
    assert!(
        refused.contains("/config/ecmp-hotplug:") && refused.contains("dup"),
        "{refused}"
    );
    assert!(
        r.legs("-6", "2000::/3")
            .iter()
            .any(|(dev, _, w)| dev == "wan2" && *w == 2),
        "the route stays as it was"
    );
    // Read-only (the ACL's read part only): every input and button disabled, and a write
    // through rpc itself is refused by the session.
    luci.open("view/ecmp-hotplug/config", "ro");
    let disabled = luci.ask(json!({ "attr": [".cbi-page-actions button", "disabled"] }));
    assert!(
        disabled.as_array().unwrap().iter().all(|d| !d.is_null()),
        "{disabled}"
    );
    let denied = luci.ask(json!({ "js": "return fetch('/ubus', {method: 'POST', body: JSON.stringify({jsonrpc: '2.0', id: 1, method: 'call', params: ['ro', 'uci', 'set', {config: 'ecmp-hotplug', section: 'globals', values: {enabled: '0'}}]})}).then(r => r.json()).then(m => m.result[0])" }));
    assert_eq!(denied, 6, "UBUS_STATUS_PERMISSION_DENIED");
    assert!(
        !fs::read_to_string(r.path("etc-layer/config/ecmp-hotplug"))
            .unwrap()
            .contains("option enabled '0'")
    );
}

/// Tracking's states on the NAT66 network with `watch` running: every upstream dead at once
/// (held), one back (the others offline, since when), the last one dead too (fail open).
#[test]
fn luci_status_shows_tracking_held_offline_and_fail_open() {
    if !privileged() {
        return;
    }
    let n = Nat66::new("luci-track", 3, false);
    n.r.set_config(&format!(
        "config globals 'globals'\n\toption mode 'resilient'\n\nconfig group 'v6'\n\toption target '2000::/3'\n\tlist proto 'dhcpv6'\n\tlist track_ip '{SERVER}'\n\toption interval '1'\n\toption timeout '1'\n\toption down '2'\n\toption up '2'\n"
    ));
    fs::write(n.r.path("etc-layer/config/network"), NETWORK).unwrap();
    let _watch = Watch::start_logging(&n.r);
    let members = || n.r.leg_devices("-6", "2000::/3");
    within(Duration::from_secs(10), "every uplink a member", || {
        members() == ["wan1", "wan2", "wan3"]
    });
    let mut luci = Luci::start(&n.r);
    luci.open("view/ecmp-hotplug/status", "ro");
    luci.ask(json!({ "wait_text": ["tr[data-member='wan1_6']", "online for", POLL + 5] }));
    // Every upstream at once: all held, none taken out.
    for i in 1..=3 {
        n.upstream(i, false);
    }
    luci.ask(json!({ "wait_text": ["tr[data-member='wan3_6']", "held", 15] }));
    assert_eq!(members(), ["wan1", "wan2", "wan3"], "held members stay");
    // wan1 back: the others are offline, and since when.
    n.upstream(1, true);
    within(Duration::from_secs(15), "wan1 alone", || {
        members() == ["wan1"]
    });
    luci.ask(json!({ "wait_text": ["tr[data-member='wan2_6']", "offline for", POLL + 5] }));
    let rows = luci.rows();
    assert!(
        rows.contains(&("wan2_6".into(), "offline".into())),
        "{rows:?}"
    );
    let line = luci.texts("tr[data-member='wan2_6']").join(" ");
    assert!(line.contains("offline: 0 of 1 targets answered"), "{line}");
    assert!(line.contains(SERVER) && line.contains(" lost"), "{line}");
    // wan1 dead too: nobody passes, so all are kept (fail open), said in the group's line.
    n.upstream(1, false);
    luci.ask(json!({ "wait_text": [".ecmp-group-state", "fail open", 20] }));
    assert!(
        luci.rows().iter().all(|(_, s)| s == "fail_open"),
        "{:?}",
        luci.rows()
    );
    assert_eq!(members(), ["wan1", "wan2", "wan3"]);
    let page = luci.texts("#ecmp-status").join("\n");
    readable(&page);
    assert!(page.contains("kept (fail open)"), "{page}");
}
