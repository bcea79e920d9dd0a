//! Rows in `LOAD DATA`'s default text format, and an order-independent checksum over them.
//!
//! Fields are separated by tab, rows end with newline, NULL is `\N`, and backslash, tab, newline,
//! carriage return and NUL are escaped, so any byte string survives (the server reads it back with
//! `FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'`). The same bytes feed the
//! checksum, both when dumping and when verifying, so drain and verify agree by construction.

use crate::error::{Result, SqlContext};
use mysql::prelude::Queryable;
use sha2::{Digest, Sha256};

/// What the manifest says about chunk contents.
pub const ENCODING: &str =
    "LOAD DATA text (tab-separated, newline-terminated, backslash-escaped, \\N for NULL), zstd";

/// Appends one field, escaped; `None` is SQL NULL.
pub fn push_field(out: &mut Vec<u8>, value: Option<&[u8]>) {
    let Some(v) = value else {
        out.extend_from_slice(b"\\N");
        return;
    };
    let mut start = 0;
    for (i, &b) in v.iter().enumerate() {
        let esc: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            0 => b"\\0",
            _ => continue,
        };
        out.extend_from_slice(&v[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&v[start..]);
}

/// Encodes one row (without its newline) into `line`, replacing what was there.
///
/// Rows come from the text protocol, where every value is bytes or NULL; other variants (from the
/// binary protocol) are written in their SQL literal form without quotes.
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

/// Runs `sql` and hands each row, encoded, to `each`. Drain and verify both read through here, so
/// their checksums are over the same bytes.
pub(crate) fn scan(
    conn: &mut mysql::Conn,
    sql: &str,
    mut each: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut line = Vec::with_capacity(256);
    for row in conn.query_iter(sql).sql(|| format!("running {sql}"))? {
        let row = row.sql(|| format!("reading the rows of {sql}"))?;
        encode_row(&mut line, &row.unwrap());
        each(&line)?;
    }
    Ok(())
}

/// Lower-case hex of a SHA-256 digest of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Sum (mod 2^128) of the first 16 bytes of each encoded row's SHA-256. Independent of row order,
/// so parallel readers can each sum their share; any changed, lost or added row changes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum(pub u128);

impl Checksum {
    pub fn add_row(&mut self, encoded_row: &[u8]) {
        let d = Sha256::digest(encoded_row);
        let mut first = [0u8; 16];
        first.copy_from_slice(&d[..16]);
        self.0 = self.0.wrapping_add(u128::from_be_bytes(first));
    }

    pub fn merge(&mut self, other: Checksum) {
        self.0 = self.0.wrapping_add(other.0);
    }

    pub fn hex(&self) -> String {
        format!("{:032x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// How `LOAD DATA … FIELDS TERMINATED BY '\t' ESCAPED BY '\\'` reads a line back.
    fn load_data_fields(line: &[u8]) -> Vec<Option<Vec<u8>>> {
        let mut fields = Vec::new();
        let (mut field, mut escaped_null, mut i) = (Vec::new(), false, 0);
        while i <= line.len() {
            match line.get(i) {
                None | Some(b'\t') => {
                    fields.push(if escaped_null && field.is_empty() {
                        None
                    } else {
                        Some(std::mem::take(&mut field))
                    });
                    escaped_null = false;
                }
                Some(b'\\') => {
                    i += 1;
                    match line.get(i) {
                        Some(b'N') if field.is_empty() => escaped_null = true,
                        Some(b't') => field.push(b'\t'),
                        Some(b'n') => field.push(b'\n'),
                        Some(b'r') => field.push(b'\r'),
                        Some(b'0') => field.push(0),
                        Some(&b) => field.push(b),
                        None => field.push(b'\\'),
                    }
                }
                Some(&b) => field.push(b),
            }
            i += 1;
        }
        fields
    }

    proptest! {
        #[test]
        fn any_bytes_survive_the_text_format(
            values in proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)), 1..8)
        ) {
            let row: Vec<mysql::Value> =
                values.iter().map(|v| v.clone().map_or(mysql::Value::NULL, mysql::Value::Bytes)).collect();
            let mut line = Vec::new();
            encode_row(&mut line, &row);
            prop_assert!(!line.contains(&b'\n'), "a row is one line");
            prop_assert_eq!(load_data_fields(&line), values);
        }

        #[test]
        fn the_checksum_is_the_same_in_any_order(rows in proptest::collection::vec(".{0,20}", 0..30), seed in any::<u64>()) {
            let mut shuffled = rows.clone();
            // A deterministic shuffle driven by the seed.
            let n = shuffled.len();
            for i in (1..n).rev() {
                let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % (i as u64 + 1)) as usize;
                shuffled.swap(i, j);
            }
            let (mut a, mut b) = (Checksum::default(), Checksum::default());
            rows.iter().for_each(|r| a.add_row(r.as_bytes()));
            shuffled.iter().for_each(|r| b.add_row(r.as_bytes()));
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn escapes_every_special_byte_and_null() {
        let mut out = Vec::new();
        push_field(&mut out, Some(b"a\tb\nc\\d\0e\rf"));
        out.push(b'\t');
        push_field(&mut out, None);
        out.push(b'\t');
        push_field(&mut out, Some(b"\\N"));
        assert_eq!(out, b"a\\tb\\nc\\\\d\\0e\\rf\t\\N\t\\\\N".to_vec());
    }

    #[test]
    fn a_null_and_the_text_backslash_n_differ() {
        let (mut null, mut text) = (Vec::new(), Vec::new());
        encode_row(&mut null, &[mysql::Value::NULL]);
        encode_row(&mut text, &[mysql::Value::Bytes(b"\\N".to_vec())]);
        assert_ne!(null, text);
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
        let (mut left, mut right) = (Checksum::default(), Checksum::default());
        left.add_row(b"1\tx");
        right.add_row(b"2\ty");
        left.merge(right);
        assert_eq!(left, a, "partial sums merge into the whole");
    }
}
