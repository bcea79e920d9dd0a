//! Rows in `LOAD DATA`'s default text format, and an order-independent checksum over them.
//!
//! Fields are separated by tab, rows end with newline, NULL is `\N`, and backslash, tab, newline,
//! carriage return and NUL are escaped, so any byte string survives.

use sha2::{Digest, Sha256};

/// Appends one field, escaped.
pub fn push_field(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.extend_from_slice(b"\\N"),
        Some(v) => {
            for &b in v {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    0 => out.extend_from_slice(b"\\0"),
                    _ => out.push(b),
                }
            }
        }
    }
}

/// Sum (mod 2^128) of the first 16 bytes of each row's SHA-256: independent of row order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum(pub u128);

impl Checksum {
    pub fn add_row(&mut self, encoded_row: &[u8]) {
        let d = Sha256::digest(encoded_row);
        let mut first = [0u8; 16];
        first.copy_from_slice(&d[..16]);
        self.0 = self.0.wrapping_add(u128::from_be_bytes(first));
    }

    pub fn hex(&self) -> String {
        format!("{:032x}", self.0)
    }
}

/// Encodes one row (without its newline) into `line`.
pub fn encode_row(line: &mut Vec<u8>, values: &[mysql::Value]) {
    line.clear();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            line.push(b'\t');
        }
        match v {
            mysql::Value::NULL => push_field(line, None),
            mysql::Value::Bytes(b) => push_field(line, Some(b)),
            other => push_field(line, Some(other.as_sql(true).trim_matches('\'').as_bytes())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_byte_and_null() {
        let mut out = Vec::new();
        push_field(&mut out, Some(b"a\tb\nc\\d\0e\rf"));
        out.push(b'\t');
        push_field(&mut out, None);
        assert_eq!(out, b"a\\tb\\nc\\\\d\\0e\\rf\t\\N".to_vec());
    }

    #[test]
    fn checksum_ignores_order_but_not_content() {
        let (mut a, mut b, mut c) = (Checksum::default(), Checksum::default(), Checksum::default());
        a.add_row(b"1\tx");
        a.add_row(b"2\ty");
        b.add_row(b"2\ty");
        b.add_row(b"1\tx");
        c.add_row(b"1\tx");
        c.add_row(b"2\tz");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
