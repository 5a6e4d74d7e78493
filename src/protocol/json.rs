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
        writer.write_all(go_number(format!("{value:e}")).as_bytes())
    }

    fn write_f64<W: ?Sized + Write>(&mut self, writer: &mut W, value: f64) -> std::io::Result<()> {
        writer.write_all(go_number(format!("{value:e}")).as_bytes())
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        CompactFormatter.write_char_escape(writer, escape)
    }
}

/// Rust's shortest round-trip digits (`{:e}`: `4.1643798e-4`) in Go's `%g` notation.
fn go_number(shortest: String) -> String {
    let (mantissa, exp) = shortest
        .split_once('e')
        .expect("`{:e}` always writes an exponent");
    let exp: i32 = exp.parse().expect("an integer exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if digits == "0" {
        return format!("{sign}0");
    }
    if !(-4..6).contains(&exp) {
        let e = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{e}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    if point <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!(
            "{sign}{digits}{}",
            "0".repeat(point as usize - digits.len())
        )
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{sign}{int}.{frac}")
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
