//! The UCI file format (`/etc/config/*`) exactly as libuci reads it in strict mode (as `uci`,
//! rpcd and LuCI load files), without meaning: what this module accepts, libuci accepts, with
//! the same sections, options and values; what libuci refuses is an error naming the line.
//!
//! libuci's parser (openwrt/uci `file.c`: `uci_getln`, `parse_str`, `next_arg`, `assert_eol`,
//! `uci_parse_line`; `list.c`: `uci_set`, `uci_add_list`, `uci_fixup_section`) is the
//! specification, and this is a port of it onto a byte buffer: it rewrites the line in place
//! while it reads words, and several of its results follow from that, not from a grammar (an
//! unquoted word's `;` is overwritten by the word's end, so the rest of that line is never
//! read; a quoted word's is not). Values are bytes, as libuci has them: whether they are text
//! is the config's question, per value.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The section type, checked as libuci does (`uci_validate_type`: printable ASCII).
    pub kind: String,
    /// `None` for an anonymous section (`config member`), also when a later `config` with
    /// libuci's generated name for it (`cfg026fdd`) added to it.
    pub name: Option<String>,
    pub line: usize,
    pub options: Vec<Opt>,
    /// libuci's name for it: its own, or `cfgNNHHHH` for an anonymous one.
    uci_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opt {
    /// Checked as libuci does: `[A-Za-z0-9_]+`.
    pub name: String,
    pub value: Value,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Single(Vec<u8>),
    List(Vec<Vec<u8>>),
}

impl Section {
    /// libuci's name for it, as `uci -X show` prints it: its own, or `cfgNNHHHH`.
    pub fn uci_name(&self) -> &str {
        &self.uci_name
    }
}

impl Value {
    /// Every element: a single option reads as a one-element list, as `config_get` does.
    pub fn items(&self) -> &[Vec<u8>] {
        match self {
            Value::Single(s) => std::slice::from_ref(s),
            Value::List(v) => v,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// libuci's line (`pctx->line`: lines read that ended in a newline, so an error on a last
    /// line without one names the line before it, and a file without any newline line 0); for
    /// an unterminated quote, the line where it opened.
    pub line: usize,
    /// libuci's reason, as `uci` prints it ("Parse error (too many arguments) at line 3").
    pub message: &'static str,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.line, self.message)
    }
}

/// Parses a whole file into its sections, as `uci_import` does in strict mode.
pub fn parse(file: &[u8]) -> Result<Vec<Section>, SyntaxError> {
    let mut p = Parser {
        file,
        at: 0,
        eof: false,
        buf: Vec::new(),
        size: LINEBUF,
        filled: 0,
        pos: 0,
        lines: 0,
        sections: Vec::new(),
        current: None,
        counter: 0,
        newlines: (0, 0),
    };
    while !p.eof {
        p.pos = 0;
        p.getln(0)?;
        if p.byte(0) != 0 {
            p.parse_line()?;
        }
    }
    Ok(p.sections)
}

/// libuci's first line buffer; it doubles as lines need (the size decides how `fgets` splits
/// a line, which shows where a NUL byte sits in one).
const LINEBUF: usize = 32;
/// Where libuci's doubling fails: `uci_realloc` throws `UCI_ERR_MEM` when realloc can't have
/// the block. On every 32-bit router (MIPS32 and ARMv7 give a process 2 GiB of addresses, less
/// what is mapped) no 2 GiB block exists, so that is the size no router's libuci reaches; one
/// with little memory fails earlier, at a size that depends on its RAM. Here the size is only
/// a number: what is stored is the bytes `fgets` wrote, never more than the file.
const MAX_LINEBUF: usize = 1 << 31;

/// The C locale's `isspace`, which libuci's word splitting uses.
fn isspace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `uci_validate_str`: names are `[A-Za-z0-9_]+`; types may also hold printable ASCII.
fn valid(s: &[u8], name: bool) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || (!name && (33..=126).contains(&c)))
}

/// libuci's hash for anonymous section names (`djbhash`), over the section type.
fn djbhash(s: &[u8]) -> u32 {
    let hash = s.iter().fold(5381_u32, |h, &c| {
        // C adds a `char`, signed on the targets OpenWrt runs on; types are ASCII anyway.
        h.wrapping_shl(5)
            .wrapping_add(h)
            .wrapping_add(i32::from(c as i8) as u32)
    });
    hash & 0x7FFF_FFFF
}

struct Parser<'a> {
    file: &'a [u8],
    /// Where `fgets` reads next.
    at: usize,
    /// `feof`: a read hit the end of the file.
    eof: bool,
    /// The line buffer's bytes as far as they were ever written; what lies past the line's
    /// NUL is never read.
    buf: Vec<u8>,
    /// `bufsz`, the size libuci has allocated, which bounds each `fgets`.
    size: usize,
    /// `buf_filled`: the end of what `uci_getln` read.
    filled: usize,
    pos: usize,
    /// `pctx->line`: lines read that ended with a newline.
    lines: usize,
    sections: Vec<Section>,
    /// The section options go to.
    current: Option<usize>,
    /// `n_section`: sections allocated so far, named or not (`uci_alloc_section`).
    counter: u32,
    /// Newlines in the file before `.0`, for `line`: `.1`.
    newlines: (usize, usize),
}

impl Parser<'_> {
    fn byte(&self, i: usize) -> u8 {
        self.buf.get(i).copied().unwrap_or(0)
    }

    fn set(&mut self, i: usize, c: u8) {
        if i >= self.size {
            return;
        }
        if i >= self.buf.len() {
            self.buf.resize(i + 1, 0);
        }
        if let Some(b) = self.buf.get_mut(i) {
            *b = c;
        }
    }

    /// The NUL-terminated string at `i`.
    fn str_at(&self, i: usize) -> &[u8] {
        let rest = self.buf.get(i..).unwrap_or_default();
        let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
        rest.get(..end).unwrap_or_default()
    }

    /// The line a person would name: the last one read (libuci's count, plus the last line
    /// of a file that doesn't end in a newline). Newlines are counted once, as reading moves
    /// on: a file of many statements is not read again for each.
    fn line(&mut self) -> usize {
        let (from, to) = (self.newlines.0, self.at);
        let more = self.file.get(from..to).unwrap_or_default();
        self.newlines = (
            to,
            self.newlines.1 + more.iter().filter(|&&c| c == b'\n').count(),
        );
        let ended = to.checked_sub(1).and_then(|i| self.file.get(i)) == Some(&b'\n');
        self.newlines.1 + usize::from(!ended)
    }

    fn error<T>(&self, message: &'static str) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            line: self.lines,
            message,
        })
    }

    /// libuci's `bufsz *= 2` and `uci_realloc`. It doubles the buffer for every read that
    /// doesn't end a line, and a NUL byte mid-line makes every line such a read, so a few
    /// dozen of those lines exhaust memory: libuci then fails the load (`UCI_ERR_MEM`), and so
    /// does this, at `MAX_LINEBUF`.
    fn grow(&mut self) -> Result<(), SyntaxError> {
        // Doubling to MAX_LINEBUF is what fails; checked before, as 2^31 doubled is no
        // 32-bit `usize`.
        if self.size >= MAX_LINEBUF / 2 {
            return self.error("Out of memory");
        }
        self.size *= 2;
        Ok(())
    }

    /// `fgets(&buf[ofs], size, file)`: up to `size - 1` bytes, through a newline, then a NUL.
    /// `false` where it returns NULL (end of file before any byte).
    fn fgets(&mut self, ofs: usize, size: usize) -> bool {
        let mut n = 0;
        while n + 1 < size {
            let Some(&c) = self.file.get(self.at) else {
                self.eof = true;
                break;
            };
            self.at += 1;
            self.set(ofs + n, c);
            n += 1;
            if c == b'\n' {
                break;
            }
        }
        self.set(ofs + n, 0);
        n > 0 || !self.eof
    }

    /// `uci_getln`: reads the next line into the buffer at `offset`.
    fn getln(&mut self, offset: usize) -> Result<(), SyntaxError> {
        if offset + 1 >= self.size {
            self.grow()?;
        }
        let mut ofs = offset;
        loop {
            self.set(ofs, 0);
            let size = self.size.saturating_sub(ofs);
            if !self.fgets(ofs, size) || self.byte(ofs) == 0 {
                return Ok(());
            }
            ofs += self.str_at(ofs).len();
            self.filled = ofs;
            if self.byte(ofs.wrapping_sub(1)) == b'\n' {
                self.lines += 1;
                return Ok(());
            }
            self.grow()?;
        }
    }

    fn skip_whitespace(&mut self) {
        while self.byte(self.pos) != 0 && isspace(self.byte(self.pos)) {
            self.pos += 1;
        }
    }

    /// `parse_backslash`: `false` where it joined the next line instead.
    fn backslash(&mut self) -> Result<bool, SyntaxError> {
        self.pos += 1;
        let c = self.byte(self.pos);
        if c == 0
            || c == b'\n'
            || (c == b'\r' && self.byte(self.pos + 1) == b'\n' && self.byte(self.pos + 2) == 0)
        {
            self.getln(self.pos)?;
            return Ok(false);
        }
        Ok(true)
    }

    fn addc(&mut self, target: &mut usize) {
        self.set(*target, self.byte(self.pos));
        *target += 1;
        self.pos += 1;
    }

    /// `parse_single_quote` / `parse_double_quote`; only double quotes take backslashes.
    fn quoted(&mut self, quote: u8, target: &mut usize) -> Result<(), SyntaxError> {
        // libuci names the end of the file; a person wants the quote that never closed.
        let opened = self.line();
        self.pos += 1;
        loop {
            match self.byte(self.pos) {
                c if c == quote => {
                    self.pos += 1;
                    return Ok(());
                }
                0 => {
                    // A quoted value goes on over the next line.
                    self.getln(self.pos)?;
                    if self.byte(self.pos) == 0 {
                        return Err(SyntaxError {
                            line: opened,
                            message: if quote == b'"' {
                                "EOF with unterminated \" (it opens on this line)"
                            } else {
                                "EOF with unterminated ' (it opens on this line)"
                            },
                        });
                    }
                }
                b'\\' if quote == b'"' => {
                    if self.backslash()? {
                        self.addc(target);
                    }
                }
                _ => self.addc(target),
            }
        }
    }

    /// `parse_str`: one word into `target`, in place.
    fn word(&mut self, target: &mut usize) -> Result<(), SyntaxError> {
        let mut next = true;
        loop {
            match self.byte(self.pos) {
                q @ (b'\'' | b'"') => self.quoted(q, target)?,
                b'#' => {
                    self.set(self.pos, 0);
                    break;
                }
                0 => break,
                b';' => {
                    next = false;
                    break;
                }
                b'\\' => {
                    if self.backslash()? {
                        self.addc(target);
                    }
                }
                _ => self.addc(target),
            }
            let c = self.byte(self.pos);
            if c == 0 || isspace(c) {
                break;
            }
        }
        // Stopped at a blank: skip it, as the word's end is written over it.
        if self.byte(self.pos) != 0 && next {
            self.pos += 1;
        }
        self.set(*target, 0);
        Ok(())
    }

    /// `next_arg`: the next word's start in the buffer (empty at the statement's end).
    fn next_arg(&mut self, required: bool, name: bool) -> Result<usize, SyntaxError> {
        self.skip_whitespace();
        let val = self.pos;
        let mut target = self.pos;
        if self.byte(self.pos) == b';' {
            self.set(self.pos, 0);
            self.pos += 1;
        } else {
            self.word(&mut target)?;
        }
        if self.byte(val) == 0 {
            if required {
                return self.error("insufficient arguments");
            }
            return Ok(val);
        }
        if name && !valid(self.str_at(val), true) {
            return self.error("invalid character in name field");
        }
        Ok(val)
    }

    /// `assert_eol`: nothing but an empty word may follow.
    fn assert_eol(&mut self) -> Result<(), SyntaxError> {
        self.skip_whitespace();
        let extra = self.next_arg(false, false)?;
        if !self.str_at(extra).is_empty() {
            return self.error("too many arguments");
        }
        Ok(())
    }

    /// `uci_increase_pos`: past the command word (`strtok` ended it with a NUL).
    fn past_command(&mut self, missing: &'static str) -> Result<(), SyntaxError> {
        let add = self.str_at(self.pos).len() + 1;
        if self.pos + add > self.filled {
            return self.error(missing);
        }
        self.pos += add;
        Ok(())
    }

    /// `uci_parse_line`: the statements of one line, `;` apart.
    fn parse_line(&mut self) -> Result<(), SyntaxError> {
        self.skip_whitespace();
        loop {
            // strtok(cur, " \t"): the next word, ended with a NUL; `pos` stays put.
            let mut start = self.pos;
            while matches!(self.byte(start), b' ' | b'\t') {
                start += 1;
            }
            if self.byte(start) == 0 {
                return Ok(());
            }
            let mut end = start;
            while !matches!(self.byte(end), 0 | b' ' | b'\t') {
                end += 1;
            }
            self.set(end, 0);
            let word = self.str_at(start);
            let is = |full: &[u8]| {
                word.first() == full.first() && (word.len() == 1 || word.get(1..) == full.get(1..))
            };
            if word.first() == Some(&b'#') {
                return Ok(());
            } else if is(b"package") {
                self.package()?;
            } else if is(b"config") {
                self.config()?;
            } else if is(b"option") {
                self.option(false)?;
            } else if is(b"list") {
                self.option(true)?;
            } else {
                return self.error("invalid command");
            }
        }
    }

    /// `uci_parse_package`: a file loaded by name ignores it, once it reads.
    fn package(&mut self) -> Result<(), SyntaxError> {
        self.past_command("package without name")?;
        let name = self.next_arg(true, false)?;
        let ok = self
            .str_at(name)
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-');
        if !ok {
            return self.error("invalid character in name field");
        }
        self.assert_eol()
    }

    /// `uci_parse_config`: a new section, or more of a named one.
    fn config(&mut self) -> Result<(), SyntaxError> {
        self.past_command("config without name")?;
        let line = self.line();
        let kind = self.next_arg(true, false)?;
        if !valid(self.str_at(kind), false) {
            return self.error("invalid character in type field");
        }
        let name = self.next_arg(false, true)?;
        self.assert_eol()?;
        // Both are validated ASCII.
        let kind = String::from_utf8_lossy(self.str_at(kind)).into_owned();
        let name = String::from_utf8_lossy(self.str_at(name)).into_owned();
        if name.is_empty() {
            // uci_add_section: uci_alloc_section counts it (`n_section++`), then
            // uci_fixup_section names it from that count (`%02x`: three digits past 255) and
            // a hash of its type (it has no options yet).
            self.counter += 1;
            let uci_name = format!(
                "cfg{:02x}{:04x}",
                self.counter,
                djbhash(kind.as_bytes()) % (1 << 16)
            );
            self.sections.push(Section {
                kind,
                name: None,
                line,
                options: Vec::new(),
                uci_name,
            });
            self.current = Some(self.sections.len() - 1);
            return Ok(());
        }
        match self.sections.iter().position(|s| s.uci_name == name) {
            Some(i) => {
                if self.sections.get(i).is_some_and(|s| s.kind != kind) {
                    return self.error(
                        "section of different type overwrites prior section with same name",
                    );
                }
                self.current = Some(i);
            }
            None => {
                self.counter += 1;
                self.sections.push(Section {
                    kind,
                    name: Some(name.clone()),
                    line,
                    options: Vec::new(),
                    uci_name: name,
                });
                self.current = Some(self.sections.len() - 1);
            }
        }
        Ok(())
    }

    /// `uci_parse_option`: `uci_set` or `uci_add_list` on the current section.
    fn option(&mut self, list: bool) -> Result<(), SyntaxError> {
        let Some(index) = self.current else {
            return self.error("option/list command found before the first section");
        };
        self.past_command("option without name")?;
        let line = self.line();
        let name = self.next_arg(true, true)?;
        let value = self.next_arg(false, false)?;
        self.assert_eol()?;
        let name = String::from_utf8_lossy(self.str_at(name)).into_owned();
        let value = self.str_at(value).to_vec();
        let Some(section) = self.sections.get_mut(index) else {
            return Ok(());
        };
        let existing = section.options.iter().position(|o| o.name == name);
        match (existing, list) {
            // uci_set with an empty value on a pointer the parser filled (never "complete"):
            // nothing happens, whatever the option held.
            (_, false) if value.is_empty() => {}
            (Some(i), false) => {
                // uci_set allocates the new option after the old one, then frees the old: it
                // keeps its place.
                if let Some(opt) = section.options.get_mut(i) {
                    opt.value = Value::Single(value);
                    opt.line = line;
                }
            }
            (Some(i), true) => {
                if let Some(opt) = section.options.get_mut(i) {
                    let mut items = opt.value.items().to_vec();
                    items.push(value);
                    opt.value = Value::List(items);
                    opt.line = line;
                }
            }
            (None, list) => section.options.push(Opt {
                name,
                value: if list {
                    Value::List(vec![value])
                } else {
                    Value::Single(value)
                },
                line,
            }),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &[u8]) -> Vec<Section> {
        parse(s).unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(s)))
    }

    fn opt<'a>(s: &'a Section, name: &str) -> Option<&'a Value> {
        s.options.iter().find(|o| o.name == name).map(|o| &o.value)
    }

    fn single(v: &str) -> Option<Value> {
        Some(Value::Single(v.as_bytes().to_vec()))
    }

    fn list(v: &[&str]) -> Option<Value> {
        Some(Value::List(
            v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ))
    }

    #[test]
    fn what_uci_commit_writes() {
        // uci_export: `config TYPE 'NAME'`, tab-indented `option`/`list` with single quotes,
        // a quote inside a value as '\'', a blank line between sections.
        let s = ok(b"\nconfig globals 'globals'\n\toption enabled '1'\n\toption hash_policy 'l4'\n\nconfig group 'v6'\n\toption target '2000::/3'\n\tlist proto 'dhcpv6'\n\tlist proto 'dhcp'\n\toption note 'it'\\''s'\n\nconfig member\n\toption interface 'wan_6'\n\toption weight '2'\n\n");
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].kind.as_str(), s[0].name.as_deref(), s[0].line),
            ("globals", Some("globals"), 2)
        );
        assert_eq!(opt(&s[0], "enabled"), single("1").as_ref());
        assert_eq!(opt(&s[1], "proto"), list(&["dhcpv6", "dhcp"]).as_ref());
        assert_eq!(opt(&s[1], "note"), single("it's").as_ref());
        assert_eq!(s[2].name, None);
        assert_eq!(s[2].options[1].line, 14);
    }

    #[test]
    fn quoting_comments_and_continuations_as_libuci_reads_them() {
        let s = ok(b"config a b\n o x 'it'\\''s'\n o y \"a\\\"b\\\\c\"\n o z ab'c d'\"e\"\n o w 'two\nlines'\n o v \"#not a comment\"\n o u plain#comment\n o t 'a;b'\n o s \"con\\\ntinued\"\n o r ab\\\ncd\n");
        let v = |n: &str| opt(&s[0], n).cloned();
        assert_eq!(v("x"), single("it's"));
        assert_eq!(v("y"), single("a\"b\\c"));
        assert_eq!(v("z"), single("abc de"));
        assert_eq!(v("w"), single("two\nlines"));
        assert_eq!(v("v"), single("#not a comment"));
        assert_eq!(v("u"), single("plain"));
        assert_eq!(v("t"), single("a;b"));
        assert_eq!(v("s"), single("continued"));
        assert_eq!(v("r"), single("abcd"));
        // The multi-line value moved the line count on.
        assert_eq!(s[0].options.iter().find(|o| o.name == "v").unwrap().line, 7);
    }

    /// The forms hand-edited files take, each read as libuci reads it (file.c, list.c).
    #[test]
    fn hand_edited_forms_as_libuci_reads_them() {
        // (form, file, Ok(the option's value in section 0, or None) | Err(libuci's reason))
        type Case = (
            &'static str,
            &'static [u8],
            &'static str,
            Result<Option<Value>, &'static str>,
        );
        let cases: Vec<Case> = vec![
            // parse_str: an unquoted word stopped by `;` writes its end over it, so the rest
            // of the line is never read.
            (
                "plain word, then ;",
                b"config g v\noption metric 512; option table 100\n",
                "table",
                Ok(None),
            ),
            (
                "plain word, then ; (the first statement counts)",
                b"config g v\noption metric 512; option table 100\n",
                "metric",
                Ok(single("512")),
            ),
            // A quoted or escaped word's end lags behind: its `;` survives and ends the
            // statement, and the next one is read.
            (
                "quoted word, then ;",
                b"config g v\noption metric '512'; option table 100\n",
                "table",
                Ok(single("100")),
            ),
            (
                "escaped word, then ;",
                b"config g v\noption note a\\b; option table 100\n",
                "table",
                Ok(single("100")),
            ),
            // next_arg takes the `;` as an empty name, assert_eol finds the next statement.
            (
                "config TYPE ; option",
                b"config member ; option interface 'wan6'\n",
                "interface",
                Err("too many arguments"),
            ),
            (
                "config 'TYPE'; option",
                b"config 'group';option target '2000::/3'\n",
                "target",
                Err("too many arguments"),
            ),
            // uci_parse_line: a statement is a word of its own, `;` is no command.
            ("a lone ;", b"config g v\n;\n", "x", Err("invalid command")),
            (";;", b"config g v\n;;\n", "x", Err("invalid command")),
            (
                " ;option",
                b"config g v\n ;option x 1\n",
                "x",
                Err("invalid command"),
            ),
            // uci_set with an empty value from the parser changes nothing.
            (
                "an empty value keeps the old one",
                b"config g v\noption weight '3'\noption weight ''\n",
                "weight",
                Ok(single("3")),
            ),
            (
                "an empty value alone sets nothing",
                b"config g v\noption weight ''\n",
                "weight",
                Ok(None),
            ),
            // Words split on space and tab only (strtok, and isspace in the C locale).
            (
                "NBSP is part of the word",
                b"config g v\nlist interface wan6\xc2\xa0\n",
                "interface",
                Ok(list(&["wan6\u{a0}"])),
            ),
            (
                "U+3000 is part of the word",
                b"config g v\noption x a\xe3\x80\x80\n",
                "x",
                Ok(single("a\u{3000}")),
            ),
            (
                "U+2003, U+0085 and U+2028 too",
                b"config g v\noption x a\xe2\x80\x83\xc2\x85\xe2\x80\xa8b\n",
                "x",
                Ok(single("a\u{2003}\u{85}\u{2028}b")),
            ),
            // A keyword is matched as written: quotes and backslashes are no part of it.
            (
                "'option'",
                b"config g v\n'option' x 1\n",
                "x",
                Err("invalid command"),
            ),
            (
                "\"config\"",
                b"\"config\" g v\n",
                "x",
                Err("invalid command"),
            ),
            ("c\\onfig", b"c\\onfig g v\n", "x", Err("invalid command")),
            // strtok splits on space and tab only: \v, \f, \r stay in the keyword.
            (
                "\\v after a keyword",
                b"config g v\noption\x0bx 1\n",
                "x",
                Err("invalid command"),
            ),
            (
                "\\f after a keyword",
                b"config\x0cg v\n",
                "x",
                Err("invalid command"),
            ),
            (
                "\\r after a keyword",
                b"config g v\noption\rx 1\n",
                "x",
                Err("invalid command"),
            ),
            // parse_backslash at the end of a line reads the next one into the same buffer.
            (
                "space, backslash, newline joins the lines",
                b"config g v\nlist interface wan6 \\\n\tlist interface wan7\n",
                "interface",
                Ok(list(&["wan6", "wan7"])),
            ),
            // assert_eol: an empty word is no argument.
            (
                "a trailing ''",
                b"config g v\noption target '2000::/3' ''\n",
                "target",
                Ok(single("2000::/3")),
            ),
            // Bytes, not text.
            (
                "Latin-1 in a comment",
                b"# caf\xe9\nconfig g v\noption x 1\n",
                "x",
                Ok(single("1")),
            ),
            (
                "Latin-1 in a value",
                b"config g v\noption x caf\xe9\n",
                "x",
                Ok(Some(Value::Single(b"caf\xe9".to_vec()))),
            ),
            // fgets reads the NUL, strlen stops at it, and the next read lands on it: the
            // rest of that line is gone, its newline too, and the next line joins it.
            (
                "a NUL byte at the end: read up to it",
                b"config g v\noption x 1\n\0",
                "x",
                Ok(single("1")),
            ),
            (
                "a NUL byte in a line joins the next one",
                b"config g v\noption x ab\0junk\noption y 2\n",
                "x",
                Err("too many arguments"),
            ),
            (
                "a NUL byte in a line joins the next one (accepted)",
                b"config g v\noption x ab\0junk\n\n",
                "x",
                Ok(single("ab")),
            ),
            (
                "a NUL at a line's start drops that line",
                b"config g v\n\0option x 1\noption y 2\n",
                "x",
                Ok(None),
            ),
            // uci_validate_type takes printable ASCII; the section is just of another type.
            ("config it\\'s", b"config it\\'s\noption x 1\n", "x", Ok(single("1"))),
            // uci_add_section names an anonymous section cfgNNHHHH (its count, then a hash
            // of its type), and a named `config` with that name continues it.
            (
                "libuci's generated name",
                b"config member\noption interface 'wan'\nconfig member 'cfg016fdd'\noption weight '2'\n",
                "weight",
                Ok(single("2")),
            ),
        ];
        for (form, file, option, want) in cases {
            let got = parse(file);
            match want {
                Ok(value) => {
                    let sections =
                        got.unwrap_or_else(|e| panic!("{form}: libuci accepts it, got {e}"));
                    let first = sections.first().unwrap_or_else(|| panic!("{form}"));
                    assert_eq!(opt(first, option), value.as_ref(), "{form}");
                }
                Err(reason) => {
                    let e = got.expect_err(form);
                    assert_eq!(e.message, reason, "{form}");
                }
            }
        }
        // The generated name made one section of the two.
        let s = ok(b"config member\noption interface 'wan'\nconfig member 'cfg016fdd'\noption weight '2'\n");
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[0].name, None);
        assert_eq!(djbhash(b"member") % (1 << 16), 0x6fdd);
    }

    /// Each case is what the `uci` command built from openwrt/uci (66127cd) printed for the same
    /// file with `uci -X export` (or its parse error), and names the libuci code that does it.
    #[test]
    fn anonymous_names_option_order_buffers_and_lines_as_libuci_has_them() {
        let sections = |file: &[u8]| -> Vec<(Option<String>, String)> {
            ok(file).into_iter().map(|s| (s.name, s.uci_name)).collect()
        };
        // uci_alloc_section counts every section by one (`n_section++`), named or not, and
        // uci_fixup_section names an anonymous one from that count: the first is cfg01.
        assert_eq!(
            sections(b"config member\nconfig member 'cfg026fdd'\noption weight '2'\n"),
            [
                (None, "cfg016fdd".into()),
                (Some("cfg026fdd".into()), "cfg026fdd".into())
            ],
            "the second is a section of its own"
        );
        assert_eq!(
            sections(b"config group 'v6'\nconfig member\nconfig member\n"),
            [
                (Some("v6".into()), "v6".into()),
                (None, "cfg026fdd".into()),
                (None, "cfg036fdd".into())
            ],
            "a named section counts too"
        );
        // uci_parse_config (strict): a named `config` of another type at a generated name.
        let e = parse(b"config member\noption interface 'wan'\nconfig group 'cfg016fdd'\n")
            .unwrap_err();
        assert_eq!(
            (e.line, e.message),
            (
                3,
                "section of different type overwrites prior section with same name"
            )
        );
        // `%02x` of the whole count: three digits past 255 (djbhash("m") % 65536 is b612).
        let mut many = b"config m\n".repeat(256);
        many.extend_from_slice(b"config m 'cfg100b612'\noption x 1\n");
        let s = ok(&many);
        assert_eq!(s.len(), 256, "the named one continues the 256th");
        assert_eq!(s[255].uci_name, "cfg100b612");
        assert_eq!(opt(&s[255], "x"), single("1").as_ref());

        // uci_set allocates a replaced option after the old one and frees the old: it keeps
        // its first place; uci_add_list turns a string into a list in place.
        let s = ok(b"config a\noption x 1\noption y 2\noption x 33\nlist z 1\noption z 3\n");
        let order: Vec<(&str, &Value)> = s[0]
            .options
            .iter()
            .map(|o| (o.name.as_str(), &o.value))
            .collect();
        assert_eq!(
            order,
            [
                ("x", &Value::Single(b"33".to_vec())),
                ("y", &Value::Single(b"2".to_vec())),
                ("z", &Value::Single(b"3".to_vec()))
            ]
        );
        assert_eq!(s[0].options[0].line, 4, "the value's own line");

        // uci_getln doubles its buffer as a line needs; libuci reads what realloc gives.
        let mut nul_lines = b"config a b\n".to_vec();
        nul_lines.extend_from_slice(&b"#\0\n".repeat(16));
        nul_lines.extend_from_slice(b"option x 1\n");
        // Read, not "Out of memory"; each NUL line joins the next, so the comment swallows
        // the option (libuci's export: `config a 'b'` alone).
        assert_eq!(opt(&ok(&nul_lines)[0], "x"), None);
        let mut long = b"config a b\noption x ".to_vec();
        long.extend(std::iter::repeat_n(b'v', 1_100_000));
        long.push(b'\n');
        let s = ok(&long);
        assert_eq!(opt(&s[0], "x").map(|v| v.items()[0].len()), Some(1_100_000));

        // pctx->line counts the lines read that ended in a newline.
        for (file, line) in [
            (&b"config a b\n option x 1 2"[..], 1),
            (b"config a b option x 1 2", 0),
            (b"config a b\n option x ab\0junk\n\n\noption y 1 2\n", 4),
            (b"config a b\n option x 1 2\n", 2),
        ] {
            let e = parse(file).unwrap_err();
            assert_eq!(
                (e.line, e.message),
                (line, "too many arguments"),
                "{:?}",
                String::from_utf8_lossy(file)
            );
        }
    }

    #[test]
    fn merges_lists_and_replaced_options() {
        let s = ok(b"config g v6\n option metric 1\n list proto a\nconfig g v6\n option metric 2\n list proto b\n option metric ''\n option x a\n list x b\n list y c\n option y d\n");
        assert_eq!(s.len(), 1);
        assert_eq!(opt(&s[0], "proto"), list(&["a", "b"]).as_ref());
        assert_eq!(opt(&s[0], "metric"), single("2").as_ref());
        assert_eq!(
            opt(&s[0], "x"),
            list(&["a", "b"]).as_ref(),
            "option then list"
        );
        assert_eq!(opt(&s[0], "y"), single("d").as_ref(), "list then option");
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line, msg) in [
            // libuci says line 3 (the end of the file): this names where the quote opened.
            (
                &b"config a b\n option x 'open\n\n"[..],
                2,
                "EOF with unterminated ' (it opens on this line)",
            ),
            (
                b"config a b\n option x \"open\n",
                2,
                "EOF with unterminated \" (it opens on this line)",
            ),
            (
                b"\n\n option x 1\n",
                3,
                "option/list command found before the first section",
            ),
            (b"config a b\n bogus x 1\n", 2, "invalid command"),
            (b"config a b\n option x 1 2\n", 2, "too many arguments"),
            (b"config a b\n option x 1 2", 1, "too many arguments"),
            (
                b"config a b\n option x-y 1\n",
                2,
                "invalid character in name field",
            ),
            (b"config a b-c\n", 1, "invalid character in name field"),
            (b"config a\x01 b\n", 1, "invalid character in type field"),
            // strtok leaves the newline in a keyword that ends the line.
            (b"config\n", 1, "invalid command"),
            (b"config a\n option\n", 2, "invalid command"),
            (b"config a\n option", 1, "option without name"),
            (
                b"config a x\nconfig b x\n",
                2,
                "section of different type overwrites prior section with same name",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(
                (e.line, e.message),
                (line, msg),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        // A name may be quoted, and an option without a value is none.
        let s = ok(b"config a 'b'\n option x\n");
        assert_eq!((s[0].name.as_deref(), s[0].options.len()), (Some("b"), 0));
    }

    #[test]
    fn a_nul_byte_on_every_line_runs_out_of_memory_as_libuci_does() {
        // Found by the fuzzer: each such line doubles libuci's line buffer.
        let mut file = b"config g v\n".to_vec();
        for _ in 0..40 {
            file.extend_from_slice(b"# a\0b\n");
        }
        assert_eq!(parse(&file).unwrap_err().message, "Out of memory");
        // A few are fine.
        let few = b"config g v\n# a\0b\n# a\0b\noption x 1\n";
        assert!(parse(few).is_ok());
    }

    #[test]
    fn empty_and_comment_only_files_have_no_sections() {
        assert!(ok(b"").is_empty());
        assert!(ok(b"# nothing\n\n   \n").is_empty());
    }
}
