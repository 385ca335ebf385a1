//! The UCI file format (`/etc/config/*`), read by libuci's rules (uci `file.c`), without meaning.
//!
//! Tokens are unquoted (a backslash takes the next character literally), `'single'` (no
//! escapes) or `"double"` (backslash escapes); quoted parts may span lines and adjacent parts
//! concatenate. An unquoted `#` starts a comment, `;` ends a statement, a backslash before a
//! newline continues the line. `config` sections with the same name merge; a later `option`
//! overwrites, each `list` appends. Errors carry the line they were found on.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub kind: String,
    /// `None` for an anonymous section (`config member`).
    pub name: Option<String>,
    pub line: usize,
    pub options: Vec<Opt>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opt {
    pub name: String,
    pub value: Value,
    pub line: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Single(String),
    List(Vec<String>),
}

impl Value {
    /// Every element: a single option reads as a one-element list, as `config_get` does.
    pub fn items(&self) -> &[String] {
        match self {
            Value::Single(s) => std::slice::from_ref(s),
            Value::List(v) => v,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.line, self.message)
    }
}

fn fail<T>(line: usize, message: impl Into<String>) -> Result<T, SyntaxError> {
    Err(SyntaxError {
        line,
        message: message.into(),
    })
}

/// One token of a statement, with the line it started on.
struct Word {
    text: String,
    line: usize,
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl Lexer<'_> {
    /// The words of the next statement; `None` at end of input.
    fn statement(&mut self) -> Result<Option<Vec<Word>>, SyntaxError> {
        let mut words = Vec::new();
        loop {
            match self.chars.peek() {
                None => return Ok((!words.is_empty()).then_some(words)),
                Some('\n') => {
                    self.chars.next();
                    self.line += 1;
                    if !words.is_empty() {
                        return Ok(Some(words));
                    }
                }
                Some(';') => {
                    self.chars.next();
                    if !words.is_empty() {
                        return Ok(Some(words));
                    }
                }
                Some(c) if c.is_whitespace() => {
                    self.chars.next();
                }
                Some('#') => self.skip_comment(),
                Some(_) => words.push(self.word()?),
            }
        }
    }

    fn skip_comment(&mut self) {
        while self.chars.next_if(|&c| c != '\n').is_some() {}
    }

    fn word(&mut self) -> Result<Word, SyntaxError> {
        let line = self.line;
        let mut text = String::new();
        while let Some(&c) = self.chars.peek() {
            match c {
                '\'' | '"' => {
                    self.chars.next();
                    self.quoted(c, &mut text)?;
                }
                '#' => {
                    self.skip_comment();
                    break;
                }
                ';' => break,
                '\\' => {
                    self.chars.next();
                    self.escaped(&mut text);
                }
                c if c.is_whitespace() => break,
                c => {
                    self.chars.next();
                    text.push(c);
                }
            }
        }
        Ok(Word { text, line })
    }

    /// After a backslash: a newline continues the line, anything else is taken literally.
    fn escaped(&mut self, text: &mut String) {
        match self.chars.next() {
            Some('\n') => self.line += 1,
            Some('\r') if self.chars.peek() == Some(&'\n') => {
                self.chars.next();
                self.line += 1;
            }
            Some(c) => text.push(c),
            None => {}
        }
    }

    fn quoted(&mut self, quote: char, text: &mut String) -> Result<(), SyntaxError> {
        let start = self.line;
        loop {
            match self.chars.next() {
                None => return fail(start, format!("unterminated {quote} quote")),
                Some(c) if c == quote => return Ok(()),
                Some('\\') if quote == '"' => self.escaped(text),
                Some(c) => {
                    if c == '\n' {
                        self.line += 1;
                    }
                    text.push(c);
                }
            }
        }
    }
}

/// libuci's `uci_validate_name`: `[A-Za-z0-9_]+`.
fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// libuci's `uci_validate_type`: printable, no spaces or quotes.
fn valid_type(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_graphic() && c != '\'' && c != '"')
}

/// Parses a whole file into its sections.
pub fn parse(bytes: &[u8]) -> Result<Vec<Section>, SyntaxError> {
    let text = std::str::from_utf8(bytes).or_else(|e| {
        let line = bytes
            .get(..e.valid_up_to())
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
            + 1;
        fail(line, "not UTF-8 text")
    })?;
    if text.contains('\0') {
        let line = text
            .split('\0')
            .next()
            .map_or(0, |b| b.matches('\n').count())
            + 1;
        return fail(line, "NUL byte in file");
    }
    let mut lexer = Lexer {
        chars: text.chars().peekable(),
        line: 1,
    };
    let mut sections: Vec<Section> = Vec::new();
    // Index into `sections` of the section that options go to.
    let mut current: Option<usize> = None;
    while let Some(words) = lexer.statement()? {
        let [keyword, args @ ..] = words.as_slice() else {
            continue;
        };
        let line = keyword.line;
        match keyword.text.as_str() {
            "package" | "p" => match args {
                [name] if valid_name(&name.text.replace('-', "_")) => {}
                [_] => return fail(line, "invalid character in package name"),
                [] => return fail(line, "package without name"),
                _ => return fail(line, "too many arguments"),
            },
            "config" | "c" => {
                let (kind, name) = match args {
                    [] => return fail(line, "config without type"),
                    [kind] => (kind, None),
                    [kind, name] if name.text.is_empty() => (kind, None),
                    [kind, name] => (kind, Some(name)),
                    _ => return fail(line, "too many arguments"),
                };
                if !valid_type(&kind.text) {
                    return fail(
                        line,
                        format!("invalid character in section type '{}'", kind.text),
                    );
                }
                if let Some(name) = name {
                    if !valid_name(&name.text) {
                        return fail(
                            line,
                            format!("invalid character in section name '{}'", name.text),
                        );
                    }
                    // A second `config` with the same name continues the first (uci_set).
                    if let Some(i) = sections
                        .iter()
                        .position(|s| s.name.as_deref() == Some(&name.text))
                    {
                        if sections.get(i).is_some_and(|s| s.kind != kind.text) {
                            return fail(
                                line,
                                format!("section '{}' redefined with a different type", name.text),
                            );
                        }
                        current = Some(i);
                        continue;
                    }
                }
                sections.push(Section {
                    kind: kind.text.clone(),
                    name: name.map(|n| n.text.clone()),
                    line,
                    options: Vec::new(),
                });
                current = Some(sections.len() - 1);
            }
            "option" | "o" | "list" | "l" => {
                let list = keyword.text.starts_with('l');
                let Some(section) = current.and_then(|i| sections.get_mut(i)) else {
                    return fail(line, "option/list before the first section");
                };
                let (name, value) = match args {
                    [] => return fail(line, "option without name"),
                    [name] => (name, String::new()),
                    [name, value] => (name, value.text.clone()),
                    _ => return fail(line, "too many arguments"),
                };
                if !valid_name(&name.text) {
                    return fail(
                        line,
                        format!("invalid character in option name '{}'", name.text),
                    );
                }
                set(section, &name.text, value, list, line);
            }
            other => return fail(line, format!("invalid command '{other}'")),
        }
    }
    Ok(sections)
}

fn set(section: &mut Section, name: &str, value: String, list: bool, line: usize) {
    let existing = section.options.iter_mut().find(|o| o.name == name);
    match (existing, list) {
        // `option x ''` unsets x, as `uci set` with an empty value deletes.
        (Some(_), false) if value.is_empty() => section.options.retain(|o| o.name != name),
        (None, false) if value.is_empty() => {}
        (Some(opt), false) => {
            opt.value = Value::Single(value);
            opt.line = line;
        }
        (Some(opt), true) => {
            let mut items = opt.value.items().to_vec();
            items.push(value);
            opt.value = Value::List(items);
            opt.line = line;
        }
        (None, list) => section.options.push(Opt {
            name: name.to_string(),
            value: if list {
                Value::List(vec![value])
            } else {
                Value::Single(value)
            },
            line,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Vec<Section> {
        parse(s.as_bytes()).unwrap()
    }

    fn opt<'a>(s: &'a Section, name: &str) -> &'a Value {
        &s.options.iter().find(|o| o.name == name).unwrap().value
    }

    #[test]
    fn sections_options_lists_and_comments() {
        let s = ok(
            "# header\npackage ecmp-hotplug\n\nconfig globals 'globals'\n\toption enabled '1' # on\n\nconfig group v6\n\tlist proto 'dhcpv6'\n\tlist proto dhcp\n\toption target \"2000::/3\"\nconfig member\n\toption interface wan_6\n",
        );
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[0].kind.as_str(), s[0].name.as_deref(), s[0].line),
            ("globals", Some("globals"), 4)
        );
        assert_eq!(opt(&s[0], "enabled"), &Value::Single("1".into()));
        assert_eq!(
            opt(&s[1], "proto"),
            &Value::List(vec!["dhcpv6".into(), "dhcp".into()])
        );
        assert_eq!(opt(&s[1], "target"), &Value::Single("2000::/3".into()));
        assert_eq!(s[2].name, None);
        assert_eq!(s[2].options[0].line, 12);
    }

    #[test]
    fn quoting_follows_libuci() {
        let s = ok(
            "config a b\n o x 'it'\\''s'\n o y \"a\\\"b\\\\c\"\n o z ab'c d'\"e\"\n o w 'two\nlines'\n o v \"#not a comment\"\n o u plain#comment\n o t 'a;b'\n",
        );
        assert_eq!(opt(&s[0], "x"), &Value::Single("it's".into()));
        assert_eq!(opt(&s[0], "y"), &Value::Single("a\"b\\c".into()));
        assert_eq!(opt(&s[0], "z"), &Value::Single("abc de".into()));
        assert_eq!(opt(&s[0], "w"), &Value::Single("two\nlines".into()));
        assert_eq!(opt(&s[0], "v"), &Value::Single("#not a comment".into()));
        assert_eq!(opt(&s[0], "u"), &Value::Single("plain".into()));
        assert_eq!(opt(&s[0], "t"), &Value::Single("a;b".into()));
        // The multi-line value moved the line count on.
        assert_eq!(s[0].options.iter().find(|o| o.name == "v").unwrap().line, 7);
    }

    #[test]
    fn semicolons_split_and_backslash_newline_continues() {
        let s =
            ok("config a b; option x 1; option y 2\nconfig c d\n option z ab\\\ncd\n option q 4\n");
        assert_eq!(opt(&s[0], "x"), &Value::Single("1".into()));
        assert_eq!(opt(&s[0], "y"), &Value::Single("2".into()));
        assert_eq!(opt(&s[1], "z"), &Value::Single("abcd".into()));
        assert_eq!(s[1].options.iter().find(|o| o.name == "q").unwrap().line, 5);
    }

    #[test]
    fn same_name_merges_and_later_values_win() {
        let s = ok(
            "config g v6\n option metric 1\n list proto a\nconfig g v6\n option metric 2\n list proto b\n option empty ''\n option metric ''\n",
        );
        assert_eq!(s.len(), 1);
        assert_eq!(
            opt(&s[0], "proto"),
            &Value::List(vec!["a".into(), "b".into()])
        );
        assert!(
            s[0].options
                .iter()
                .all(|o| o.name != "metric" && o.name != "empty")
        );
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line, msg) in [
            ("config a b\n option x 'open\n\n", 2, "unterminated ' quote"),
            ("config a b\n option x \"open\n", 2, "unterminated \" quote"),
            ("\n\n option x 1\n", 3, "before the first section"),
            ("config a b\n bogus x 1\n", 2, "invalid command 'bogus'"),
            ("config a b\n option x 1 2\n", 2, "too many arguments"),
            (
                "config a b\n option x-y 1\n",
                2,
                "invalid character in option name",
            ),
            ("config a b-c\n", 1, "invalid character in section name"),
            ("config\n", 1, "config without type"),
            ("config a\n option\n", 2, "option without name"),
            ("config a x\nconfig b x\n", 2, "different type"),
        ] {
            let e = parse(text.as_bytes()).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(msg), "{text:?}: {e}");
        }
        let e = parse(b"config a b\n\n option x \xff\xfe\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (3, "not UTF-8 text"));
        assert_eq!(parse(b"config a b\n\0").unwrap_err().line, 2);
    }

    #[test]
    fn empty_and_comment_only_files_have_no_sections() {
        assert!(ok("").is_empty());
        assert!(ok("# nothing\n\n   \n;;\n").is_empty());
    }
}
