//! The hotplug event: `ACTION`, `INTERFACE` and `DEVICE` as netifd's `interface-event.c` (or
//! mwan3track, or a person) sets them for `/etc/hotplug.d/iface`.
//!
//! The event is only a trigger: every reconciling action rereads the whole state, because
//! netifd merges and drops queued events. `DEVICE` is set only for ifup/ifupdate and is used
//! for nothing but the log.

use std::ffi::OsString;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Ifup,
    Ifdown,
    Ifupdate,
    IfupFailed,
    /// mwan3track's tracking results.
    Connected,
    Disconnected,
    /// Anything else (`iflink`, mwan3's `connecting`, …): ignored.
    Other(String),
}

impl Action {
    fn parse(s: &str) -> Action {
        match s {
            "ifup" => Action::Ifup,
            "ifdown" => Action::Ifdown,
            "ifupdate" => Action::Ifupdate,
            "ifup-failed" => Action::IfupFailed,
            "connected" => Action::Connected,
            "disconnected" => Action::Disconnected,
            other => Action::Other(other.to_string()),
        }
    }

    pub fn reconciles(&self) -> bool {
        !matches!(self, Action::Other(_))
    }

    /// Whether the event takes its interface out (netifd's ifdown and ifup-failed,
    /// mwan3track's disconnected): its leg may already be gone with its device, and the event
    /// is then the only word of it for the log.
    pub fn takes_down(&self) -> bool {
        matches!(
            self,
            Action::Ifdown | Action::IfupFailed | Action::Disconnected
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub action: Action,
    /// Set for every action this tool acts on; `None` only for ignored actions.
    pub interface: Option<String>,
    pub device: Option<String>,
    /// The `ACTION` text, for the log.
    pub raw_action: String,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.raw_action,
            self.interface.as_deref().unwrap_or("-")
        )?;
        if let Some(dev) = &self.device {
            write!(f, " ({dev})")?;
        }
        Ok(())
    }
}

fn text(name: &str, value: Option<OsString>) -> Result<Option<String>, String> {
    match value {
        None => Ok(None),
        Some(v) => match v.into_string() {
            Ok(s) if s.is_empty() => Ok(None),
            Ok(s) if s.chars().any(char::is_control) => {
                Err(format!("{name} contains control characters"))
            }
            Ok(s) => Ok(Some(s)),
            Err(_) => Err(format!("{name} is not valid UTF-8")),
        },
    }
}

impl Event {
    /// Reads the event through `var` (`std::env::var_os` outside tests).
    pub fn from_env(var: impl Fn(&str) -> Option<OsString>) -> Result<Event, String> {
        let raw_action = text("ACTION", var("ACTION"))?
            .ok_or("ACTION is not set: the hotplug command is meant to be run by hotplug-call")?;
        let action = Action::parse(&raw_action);
        let interface = text("INTERFACE", var("INTERFACE"))?;
        let device = text("DEVICE", var("DEVICE"))?;
        if action.reconciles() && interface.is_none() {
            return Err(format!("ACTION={raw_action} without INTERFACE"));
        }
        Ok(Event {
            action,
            interface,
            device,
            raw_action,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::os::unix::ffi::OsStringExt;

    fn event(vars: &[(&str, &[u8])]) -> Result<Event, String> {
        let env: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from_vec(v.to_vec())))
            .collect();
        Event::from_env(|k| env.get(k).cloned())
    }

    #[test]
    fn actions() {
        // (ACTION, the action, takes its interface out)
        for (action, want, down) in [
            ("ifup", Action::Ifup, false),
            ("ifdown", Action::Ifdown, true),
            ("ifupdate", Action::Ifupdate, false),
            ("ifup-failed", Action::IfupFailed, true),
            ("connected", Action::Connected, false),
            ("disconnected", Action::Disconnected, true),
        ] {
            let e = event(&[("ACTION", action.as_bytes()), ("INTERFACE", b"wan6")]).unwrap();
            assert_eq!(e.action, want);
            assert!(e.action.reconciles());
            assert_eq!(e.action.takes_down(), down, "{action}");
        }
        let e = event(&[("ACTION", b"iflink")]).unwrap();
        assert_eq!(e.action, Action::Other("iflink".into()));
        assert!(!e.action.reconciles());
    }

    #[test]
    fn device_is_optional_and_only_logged() {
        let e = event(&[("ACTION", b"ifdown"), ("INTERFACE", b"wan_6")]).unwrap();
        assert_eq!(e.device, None);
        let e = event(&[
            ("ACTION", b"ifup"),
            ("INTERFACE", b"wan_6"),
            ("DEVICE", b"pppoe-wan"),
        ])
        .unwrap();
        assert_eq!(e.to_string(), "ifup wan_6 (pppoe-wan)");
    }

    #[test]
    fn odd_environments_are_errors() {
        for (vars, msg) in [
            (vec![], "ACTION is not set"),
            (vec![("ACTION", &b""[..])], "ACTION is not set"),
            (vec![("ACTION", &b"ifup"[..])], "without INTERFACE"),
            (
                vec![("ACTION", &b"ifup"[..]), ("INTERFACE", &b""[..])],
                "without INTERFACE",
            ),
            (
                vec![("ACTION", &b"if\xffup"[..]), ("INTERFACE", &b"w"[..])],
                "ACTION is not valid UTF-8",
            ),
            (
                vec![("ACTION", &b"ifup"[..]), ("INTERFACE", &b"w\nx"[..])],
                "INTERFACE contains control",
            ),
        ] {
            assert!(event(&vars).unwrap_err().contains(msg), "{vars:?}");
        }
    }
}
