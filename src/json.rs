//! A strict JSON reader (RFC 8259) for netifd's dump: a small tree, integers as `i64`, other
//! numbers validated but not converted (netifd prints none the tool reads).
//!
//! serde_json with its float parsing and formatting cost ~30 KiB of the 256 KiB mipsel budget
//! (`nm --size-sort`); this reader is a few KiB. It accepts exactly what serde_json accepts
//! (the tests compare the two on a corpus), nests at most [`MAX_DEPTH`] deep, and reports the
//! line and column of the first error. It never panics on any input.

use std::fmt;

/// Containers may nest 127 deep, as in serde_json (whose limit is 128 counting the value).
pub const MAX_DEPTH: usize = 127;

#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    /// A number that is not an integer in `i64` range (`1.5`, `1e3`, `2e40`).
    Number,
    Str(String),
    Array(Vec<Json>),
    /// Members in document order; a repeated key is found at its last occurrence.
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// A short rendering for messages: scalars as written, containers by kind.
    pub fn describe(&self) -> String {
        match self {
            Json::Null => "null".into(),
            Json::Bool(b) => b.to_string(),
            Json::Int(n) => n.to_string(),
            Json::Number => "a number".into(),
            Json::Str(s) => s.clone(),
            Json::Array(_) => "an array".into(),
            Json::Object(_) => "an object".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError {
    pub message: &'static str,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.message, self.line, self.column
        )
    }
}

pub fn parse(bytes: &[u8]) -> Result<Json, JsonError> {
    let mut p = Parser { bytes, pos: 0 };
    if let Err(e) = std::str::from_utf8(bytes) {
        p.pos = e.valid_up_to();
        return Err(p.error("invalid UTF-8"));
    }
    p.skip_ws();
    let value = p.value(0)?;
    p.skip_ws();
    if p.pos < bytes.len() {
        return Err(p.error("trailing characters"));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, message: &'static str) -> JsonError {
        let before = self.bytes.get(..self.pos).unwrap_or(self.bytes);
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
        JsonError {
            message,
            line,
            column,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, word: &'static [u8], value: Json) -> Result<Json, JsonError> {
        match self.bytes.get(self.pos..self.pos + word.len()) {
            Some(w) if w == word => {
                self.pos += word.len();
                Ok(value)
            }
            _ => Err(self.error("expected a value")),
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, JsonError> {
        match self.peek() {
            None => Err(self.error("EOF while parsing a value")),
            Some(b'n') => self.expect(b"null", Json::Null),
            Some(b't') => self.expect(b"true", Json::Bool(true)),
            Some(b'f') => self.expect(b"false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => {
                self.enter(depth)?;
                let mut items = Vec::new();
                if !self.close(b']')? {
                    loop {
                        self.skip_ws();
                        items.push(self.value(depth + 1)?);
                        if self.separator(b']')? {
                            break;
                        }
                    }
                }
                Ok(Json::Array(items))
            }
            Some(b'{') => {
                self.enter(depth)?;
                let mut members = Vec::new();
                if !self.close(b'}')? {
                    loop {
                        self.skip_ws();
                        if self.peek() != Some(b'"') {
                            return Err(self.error("key must be a string"));
                        }
                        let key = self.string()?;
                        self.skip_ws();
                        if self.next() != Some(b':') {
                            return Err(self.error("expected ':'"));
                        }
                        self.skip_ws();
                        members.push((key, self.value(depth + 1)?));
                        if self.separator(b'}')? {
                            break;
                        }
                    }
                }
                Ok(Json::Object(members))
            }
            Some(_) => Err(self.error("expected a value")),
        }
    }

    fn enter(&mut self, depth: usize) -> Result<(), JsonError> {
        if depth >= MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    /// Consumes `end` if the container is empty.
    fn close(&mut self, end: u8) -> Result<bool, JsonError> {
        if self.peek() == Some(end) {
            self.pos += 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// After an element: `,` continues (false), `end` finishes (true).
    fn separator(&mut self, end: u8) -> Result<bool, JsonError> {
        self.skip_ws();
        match self.next() {
            Some(b',') => Ok(false),
            Some(b) if b == end => Ok(true),
            None => Err(self.error("EOF while parsing a list or object")),
            Some(_) => Err(self.error("expected ',' or the end of the list or object")),
        }
    }

    fn number(&mut self) -> Result<Json, JsonError> {
        let start = self.pos;
        let digits = |p: &mut Parser| {
            let from = p.pos;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.pos += 1;
            }
            p.pos > from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.error("invalid number")),
        }
        if matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.error("invalid number"));
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            integer = false;
            if !digits(self) {
                return Err(self.error("invalid number"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            integer = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return Err(self.error("invalid number"));
            }
        }
        let text = self
            .bytes
            .get(start..self.pos)
            .and_then(|t| std::str::from_utf8(t).ok())
            .unwrap_or("");
        Ok(match (integer, text.parse::<i64>()) {
            (true, Ok(n)) => Json::Int(n),
            _ => Json::Number,
        })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut n = 0;
        for _ in 0..4 {
            let d = match self.next() {
                Some(b @ b'0'..=b'9') => b - b'0',
                Some(b @ b'a'..=b'f') => b - b'a' + 10,
                Some(b @ b'A'..=b'F') => b - b'A' + 10,
                _ => return Err(self.error("invalid escape")),
            };
            n = n * 16 + u32::from(d);
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            let b = self
                .next()
                .ok_or_else(|| self.error("EOF while parsing a string"))?;
            match b {
                b'"' => break,
                b'\\' => {
                    let c = match self.next() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode()?,
                        _ => return Err(self.error("invalid escape")),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return Err(self.error("control character in a string")),
                b => out.push(b),
            }
        }
        // The input was checked to be UTF-8 and escapes add whole characters.
        String::from_utf8(out).map_err(|_| self.error("invalid UTF-8"))
    }

    /// After `\u`: one character, from a surrogate pair where needed.
    fn unicode(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.next() != Some(b'\\') || self.next() != Some(b'u') {
                    return Err(self.error("lone leading surrogate in hex escape"));
                }
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error("lone leading surrogate in hex escape"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("lone trailing surrogate in hex escape")),
            n => n,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid escape"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our tree and serde_json's agree on what they accept and what they read.
    fn same_as_serde(input: &str) {
        let ours = parse(input.as_bytes());
        let theirs: Result<serde_json::Value, _> = serde_json::from_str(input);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert!(equal(a, b), "{input:?}: {a:?} vs {b:?}"),
            (Err(_), Err(_)) => {}
            _ => panic!("{input:?}: ours {ours:?}, serde_json {theirs:?}"),
        }
    }

    fn equal(a: &Json, b: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match (a, b) {
            (Json::Null, V::Null) => true,
            (Json::Bool(x), V::Bool(y)) => x == y,
            // serde_json reads `-0` as a float; both are zero.
            (Json::Int(x), V::Number(y)) => y.as_i64() == Some(*x) || y.as_f64() == Some(*x as f64),
            (Json::Number, V::Number(y)) => y.as_i64().is_none(),
            (Json::Str(x), V::String(y)) => x == y,
            (Json::Array(x), V::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
            }
            (Json::Object(_), V::Object(y)) => {
                y.iter().all(|(k, v)| a.get(k).is_some_and(|a| equal(a, v)))
            }
            _ => false,
        }
    }

    #[test]
    fn agrees_with_serde_json() {
        for input in [
            "null",
            "true",
            "false",
            "0",
            "-0",
            "12",
            "-12",
            "1.5",
            "-1.5e3",
            "1E+2",
            "1e-2",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "18446744073709551616",
            "\"\"",
            "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
            "\"\\u00e9\\u4e2d\\ud83d\\ude00\"",
            "\"é中😀\"",
            "[]",
            "[ ]",
            "[1,2,3]",
            "[1, [2, [3]]]",
            "{}",
            "{ }",
            "{\"a\":1}",
            "{\"a\":1,\"a\":2}",
            " {\"a\" : [true , null] } \n",
            "{\"interface\":[{\"interface\":\"wan\",\"up\":true}]}",
            // and what both refuse
            "",
            " ",
            "nul",
            "tru",
            "nulll",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "0x10",
            "NaN",
            "\"abc",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"a\nb\"",
            "[",
            "[1",
            "[1,",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{",
            "{\"a\"",
            "{\"a\":",
            "{\"a\":1,}",
            "{a:1}",
            "{\"a\" 1}",
            "{1:2}",
            "1 2",
            "[]]",
            "{}}",
            "\u{feff}{}",
            "'a'",
        ] {
            same_as_serde(input);
        }
    }

    #[test]
    fn nesting_is_limited_like_serde_json() {
        for depth in [127, 128, 129, 5000] {
            same_as_serde(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
            same_as_serde(&format!(
                "{}1{}",
                "{\"a\":".repeat(depth),
                "}".repeat(depth)
            ));
        }
    }

    #[test]
    fn errors_say_where() {
        let e = parse(b"{\n  \"a\": tru\n}").unwrap_err();
        assert_eq!((e.message, e.line, e.column), ("expected a value", 2, 8));
        assert_eq!(
            parse(b"[1,2").unwrap_err().to_string(),
            "EOF while parsing a list or object at line 1 column 5"
        );
        assert_eq!(parse(b"\"\xff\"").unwrap_err().message, "invalid UTF-8");
    }

    #[test]
    fn every_prefix_of_a_dump_is_handled() {
        let doc = include_str!("../tests/fixtures/dump-multiwan.json");
        same_as_serde(doc);
        for cut in 0..doc.len() {
            if doc.is_char_boundary(cut) {
                same_as_serde(&doc[..cut]);
            }
        }
    }
}
