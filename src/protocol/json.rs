//! Messages as one line of proto3 canonical JSON, byte for byte what grpcurl prints once
//! its indentation is removed: field names in lowerCamelCase in declaration order, zero
//! values omitted, 64-bit integers as strings, enums by name (all from pbjson), and
//! numbers written the way grpcurl (Go's `%g`) writes them — the shortest digits that
//! read back to the same `float`, in plain notation from 1e-4 up to 1e6 (`0.00041`,
//! `1`), in exponent notation with at least two exponent digits outside it (`6.9e-05`,
//! `1e+06`).

use std::io::Write;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter};

/// serde_json's compact output with Go's number formatting.
struct GoNumbers;

impl Formatter for GoNumbers {
    fn write_f32<W: ?Sized + Write>(&mut self, writer: &mut W, value: f32) -> std::io::Result<()> {
        write_go_number(writer, format_args!("{value:e}"))
    }

    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> std::io::Result<()> {
        write_go_number(writer, format_args!("{value:e}"))
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        CompactFormatter.write_char_escape(writer, escape)
    }
}

/// Writes Rust's shortest round-trip digits (`shortest`, as `{:e}` writes them:
/// `4.1643798e-4`) in Go's `%g` notation, without allocating (a result line holds a
/// dozen numbers; `classify --jsonl` writes thousands of lines a second).
fn write_go_number<W: ?Sized + Write>(
    writer: &mut W,
    shortest: std::fmt::Arguments<'_>,
) -> std::io::Result<()> {
    // `{:e}` of an f64 is at most 17 digits, a point, a sign and `e-324`: 25 bytes.
    let mut buf = [0u8; 32];
    let len = {
        let mut cursor = &mut buf[..];
        cursor.write_fmt(shortest)?;
        32 - cursor.len()
    };
    let text = &buf[..len];
    let e_at = text
        .iter()
        .position(|&b| b == b'e')
        .expect("`{:e}` always writes an exponent");
    let (mantissa, exp) = (&text[..e_at], &text[e_at + 1..]);
    let exp: i32 = std::str::from_utf8(exp)
        .ok()
        .and_then(|e| e.parse().ok())
        .expect("an integer exponent");
    let (sign, mantissa): (&[u8], &[u8]) = match mantissa.strip_prefix(b"-") {
        Some(m) => (b"-", m),
        None => (b"", mantissa),
    };
    // The digits without the point: the first digit, then what follows the point.
    let (first, rest) = mantissa.split_at(1);
    let rest = rest.strip_prefix(b".").unwrap_or(rest);
    writer.write_all(sign)?;
    if first == b"0" {
        return writer.write_all(b"0");
    }
    if !(-4..6).contains(&exp) {
        writer.write_all(mantissa)?;
        return write!(
            writer,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        );
    }
    let n_digits = 1 + rest.len();
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        writer.write_all(b"0.")?;
        for _ in 0..-point {
            writer.write_all(b"0")?;
        }
        writer.write_all(first)?;
        writer.write_all(rest)
    } else if point as usize >= n_digits {
        writer.write_all(first)?;
        writer.write_all(rest)?;
        for _ in n_digits..point as usize {
            writer.write_all(b"0")?;
        }
        Ok(())
    } else {
        let (int, frac) = rest.split_at(point as usize - 1);
        writer.write_all(first)?;
        writer.write_all(int)?;
        writer.write_all(b".")?;
        writer.write_all(frac)
    }
}

/// Appends `message` as one line of canonical JSON (no newline) to `out`.
pub fn write_json<M: Serialize>(out: &mut Vec<u8>, message: &M) {
    let mut ser = serde_json::Serializer::with_formatter(out, GoNumbers);
    message
        .serialize(&mut ser)
        .expect("protocol messages serialize into memory");
}

/// `message` as one line of canonical JSON.
pub fn to_json<M: Serialize>(message: &M) -> String {
    let mut out = Vec::new();
    write_json(&mut out, message);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(v: f32) -> String {
        to_json(&v)
    }

    #[test]
    fn numbers_are_written_as_go_writes_them() {
        // Expected values are what grpcurl prints for a float (seen in its output, and
        // Go's strconv.FormatFloat(x, 'g', -1, 32)).
        assert_eq!(f32s(1.0), "1");
        assert_eq!(f32s(0.0), "0");
        assert_eq!(f32s(0.38063815), "0.38063815");
        assert_eq!(f32s(0.00041643798), "0.00041643798");
        assert_eq!(f32s(6.9255075e-5), "6.9255075e-05");
        assert_eq!(f32s(9.021269e-7), "9.021269e-07");
        assert_eq!(f32s(1.5e-10), "1.5e-10");
        assert_eq!(f32s(-2.5), "-2.5");
        assert_eq!(f32s(123456.0), "123456");
        assert_eq!(f32s(1234567.0), "1.234567e+06");
        assert_eq!(f32s(1e21), "1e+21");
        assert_eq!(to_json(&0.1f64), "0.1");
        assert_eq!(to_json(&1e-7f64), "1e-07");
        assert_eq!(f32s(-0.0), "-0");
        assert_eq!(f32s(-0.00012), "-0.00012");
        assert_eq!(f32s(100.0), "100");
        assert_eq!(f32s(0.5), "0.5");
        assert_eq!(to_json(&-1.5e-300f64), "-1.5e-300");
        assert_eq!(to_json(&f64::MIN_POSITIVE), "2.2250738585072014e-308");
        assert_eq!(to_json(&5e-324f64), "5e-324");
    }

    #[test]
    fn every_float_reads_back_to_itself() {
        let mut x = 1.0e-9f32;
        while x < 1.0e9 {
            let s = f32s(x);
            assert_eq!(s.parse::<f32>().unwrap(), x, "{s}");
            x *= 1.37;
        }
    }

    #[test]
    fn messages_use_lower_camel_case_and_omit_zero_values() {
        let r = crate::protocol::ClassifyResponse {
            primary: "military".into(),
            segment_count: 2,
            truncated: false,
            ..Default::default()
        };
        assert_eq!(to_json(&r), r#"{"primary":"military","segmentCount":2}"#);
        let limits = crate::protocol::Limits {
            max_request_bytes: 4_194_304,
            ..Default::default()
        };
        assert_eq!(to_json(&limits), r#"{"maxRequestBytes":"4194304"}"#);
    }
}
