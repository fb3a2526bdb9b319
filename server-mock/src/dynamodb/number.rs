//! DynamoDB numbers: up to 38 significant digits, normalized so that equal values
//! compare equal whatever their spelling, added and ordered exactly (never through
//! floating point), with DynamoDB's limits and error messages.

use std::cmp::Ordering;
use std::fmt;

use crate::error::AwsError;

/// A DynamoDB number: `0.DIGITS × 10^exp`, normalized so equal values compare equal
/// whatever their spelling (`1`, `1.0`, `10E-1`). At most 38 significant digits, as
/// DynamoDB stores them; comparing never goes through floating point.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct Number {
    negative: bool,
    /// Significant digits (ASCII), no leading or trailing zeros; empty means zero.
    digits: Vec<u8>,
    /// Decimal exponent of the digit string read as a fraction `0.DIGITS`.
    exp: i32,
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

impl Number {
    /// Parse and normalize a number as DynamoDB does, with its error messages.
    pub(crate) fn parse(text: &str) -> Result<Self, AwsError> {
        let invalid = || AwsError::validation("A value provided cannot be converted into a number");
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut negative = false;
        if let Some(&c) = bytes.first() {
            if c == b'-' || c == b'+' {
                negative = c == b'-';
                i = 1;
            }
        }
        let mut mantissa = Vec::new();
        let mut point: Option<usize> = None;
        let mut seen_digit = false;
        while i < bytes.len() {
            match bytes[i] {
                c @ b'0'..=b'9' => {
                    mantissa.push(c);
                    seen_digit = true;
                }
                b'.' if point.is_none() => point = Some(mantissa.len()),
                b'e' | b'E' => break,
                _ => return Err(invalid()),
            }
            i += 1;
        }
        if !seen_digit {
            return Err(invalid());
        }
        let mut exponent: i64 = 0;
        if i < bytes.len() {
            // bytes[i] is 'e' or 'E'.
            let rest = &text[i + 1..];
            let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            // Anything longer is out of range whatever the mantissa.
            let magnitude: i64 = if digits.len() > 6 {
                1_000_000
            } else {
                digits.parse().map_err(|_| invalid())?
            };
            exponent = if rest.starts_with('-') {
                -magnitude
            } else {
                magnitude
            };
        }
        let int_len = point.unwrap_or(mantissa.len()) as i64;
        let leading = mantissa.iter().take_while(|&&c| c == b'0').count();
        let digits: Vec<u8> = mantissa[leading..].to_vec();
        let trailing = digits.iter().rev().take_while(|&&c| c == b'0').count();
        let digits = digits[..digits.len() - trailing].to_vec();
        if digits.is_empty() {
            return Ok(Self::zero());
        }
        if digits.len() > 38 {
            return Err(AwsError::validation(
                "Attempting to store more than 38 significant digits in a Number",
            ));
        }
        let exp = int_len - leading as i64 + exponent;
        // Magnitude is in [10^(exp-1), 10^exp): DynamoDB allows 1E-130 up to < 1E+126.
        if exp > 126 {
            return Err(AwsError::validation(
                "Number overflow. Attempting to store a number with magnitude larger than supported range",
            ));
        }
        if exp < -129 {
            return Err(AwsError::validation(
                "Number underflow. Attempting to store a number with magnitude smaller than supported range",
            ));
        }
        Ok(Self {
            negative,
            digits,
            exp: exp as i32,
        })
    }

    /// Zero.
    pub(crate) fn zero() -> Self {
        Self {
            negative: false,
            digits: Vec::new(),
            exp: 0,
        }
    }

    /// A small non-negative integer (sizes, counts).
    pub(crate) fn from_usize(n: usize) -> Self {
        Self::parse(&n.to_string()).unwrap_or_else(|_| Self::zero())
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Bytes this number counts for in an item: one per two significant digits, plus one.
    pub(crate) fn size(&self) -> usize {
        self.digits.len().div_ceil(2) + 1
    }

    /// The exact sum, or an error when it needs more than 38 digits or leaves the range.
    pub(crate) fn add(&self, other: &Number) -> Result<Number, AwsError> {
        if self.is_zero() {
            return Ok(other.clone());
        }
        if other.is_zero() {
            return Ok(self.clone());
        }
        // Align both on the smallest unit 10^(exp - len) and add as digit vectors.
        let low = |n: &Number| n.exp as i64 - n.digits.len() as i64;
        let unit = low(self).min(low(other));
        let high = self.exp.max(other.exp) as i64;
        let width = (high - unit) as usize;
        let spread = |n: &Number| {
            let mut v = vec![0i32; width];
            let start = (high - n.exp as i64) as usize;
            for (k, d) in n.digits.iter().enumerate() {
                v[start + k] = i32::from(d - b'0');
            }
            v
        };
        let (a, b) = (spread(self), spread(other));
        let (negative, mut out) = if self.negative == other.negative {
            (self.negative, digit_add(&a, &b))
        } else {
            match a.cmp(&b) {
                Ordering::Equal => return Ok(Self::zero()),
                Ordering::Greater => (self.negative, digit_sub(&a, &b)),
                Ordering::Less => (other.negative, digit_sub(&b, &a)),
            }
        };
        // `out` has one extra leading position for a carry.
        let mut text = String::with_capacity(out.len() + 8);
        if negative {
            text.push('-');
        }
        text.push_str("0.");
        for d in out.drain(..) {
            text.push(char::from(b'0' + d as u8));
        }
        text.push_str(&format!("E{}", high + 1));
        Number::parse(&text).map_err(|e| {
            if e.message.contains("38 significant") {
                AwsError::validation(
                    "Number overflow. Attempting to store a number with more than 38 significant digits",
                )
            } else {
                e
            }
        })
    }

    /// The negated number.
    pub(crate) fn negate(&self) -> Number {
        let mut n = self.clone();
        if !n.is_zero() {
            n.negative = !n.negative;
        }
        n
    }
}

/// Add two equally long big-endian digit vectors; the result has one more digit.
fn digit_add(a: &[i32], b: &[i32]) -> Vec<i32> {
    let mut out = vec![0; a.len() + 1];
    let mut carry = 0;
    for k in (0..a.len()).rev() {
        let s = a[k] + b[k] + carry;
        out[k + 1] = s % 10;
        carry = s / 10;
    }
    out[0] = carry;
    out
}

/// Subtract `b` from the larger-or-equal `a`; the result has one more (zero) digit.
fn digit_sub(a: &[i32], b: &[i32]) -> Vec<i32> {
    let mut out = vec![0; a.len() + 1];
    let mut borrow = 0;
    for k in (0..a.len()).rev() {
        let mut s = a[k] - b[k] - borrow;
        borrow = 0;
        if s < 0 {
            s += 10;
            borrow = 1;
        }
        out[k + 1] = s;
    }
    out
}

impl fmt::Display for Number {
    /// Plain decimal notation, as DynamoDB returns numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        if self.negative {
            f.write_str("-")?;
        }
        let digits = std::str::from_utf8(&self.digits).map_err(|_| fmt::Error)?;
        let len = digits.len() as i32;
        if self.exp <= 0 {
            write!(f, "0.{}{digits}", "0".repeat((-self.exp) as usize))
        } else if self.exp >= len {
            write!(f, "{digits}{}", "0".repeat((self.exp - len) as usize))
        } else {
            let (int, frac) = digits.split_at(self.exp as usize);
            write!(f, "{int}.{frac}")
        }
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        let sign = |n: &Number| -> i8 {
            if n.is_zero() {
                0
            } else if n.negative {
                -1
            } else {
                1
            }
        };
        let (sa, sb) = (sign(self), sign(other));
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        // Same sign, both non-zero: compare magnitudes.
        let magnitude = self
            .exp
            .cmp(&other.exp)
            .then_with(|| self.digits.cmp(&other.digits));
        if sa < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn numbers_normalize() {
        assert_eq!(n("1.0"), n("1"));
        assert_eq!(n("10E-1"), n("1"));
        assert_eq!(n("-0"), n("0"));
        assert_eq!(n("001.500").to_string(), "1.5");
        assert_eq!(n("1E+2").to_string(), "100");
        assert_eq!(n("-0.0025").to_string(), "-0.0025");
        assert_eq!(n("123.456").to_string(), "123.456");
        assert_eq!(n("+7").to_string(), "7");
    }

    #[test]
    fn numbers_order_numerically() {
        let mut v: Vec<Number> = ["10", "9", "-1", "0", "-10", "0.5", "1e1", "-0.01", "1E-130"]
            .iter()
            .map(|s| n(s))
            .collect();
        v.sort();
        let out: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(out[0], "-10");
        assert_eq!(out[1], "-1");
        assert_eq!(out[2], "-0.01");
        assert_eq!(out[3], "0");
        assert_eq!(out[5], "0.5");
        assert_eq!(out[6], "9");
        assert_eq!(&out[7..], ["10", "10"]);
        // 38 digits, differing only in the last: f64 would call them equal.
        let a = n("12345678901234567890123456789012345678");
        let b = n("12345678901234567890123456789012345679");
        assert!(a < b);
    }

    #[test]
    fn numbers_reject_bad_input() {
        for bad in [
            "", "abc", "1..2", "1e", "--1", "1 ", "NaN", "Infinity", "0x10",
        ] {
            assert!(Number::parse(bad).is_err(), "{bad}");
        }
        let e = Number::parse("123456789012345678901234567890123456789").unwrap_err();
        assert!(e.message.contains("38 significant digits"));
        assert!(Number::parse("1E126")
            .unwrap_err()
            .message
            .contains("overflow"));
        assert!(Number::parse("9.9E125").is_ok());
        assert!(Number::parse("1E-131")
            .unwrap_err()
            .message
            .contains("underflow"));
        assert!(Number::parse("1E-130").is_ok());
        // Trailing zeros are not significant.
        assert!(Number::parse("1000000000000000000000000000000000000000000").is_ok());
    }

    #[test]
    fn number_order_and_addition_agree_with_exact_integers() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..5000 {
            let a: i64 = rng.gen_range(-1_000_000_000..1_000_000_000);
            let b: i64 = rng.gen_range(-1_000_000_000..1_000_000_000);
            // The same integers spelled with a shared decimal scale and exponent.
            let scale = rng.gen_range(0..6);
            let spell = |v: i64| format!("{v}{}E-{scale}", "0".repeat(scale));
            let (na, nb) = (n(&spell(a)), n(&spell(b)));
            assert_eq!(na.cmp(&nb), a.cmp(&b), "{a} vs {b}");
            assert_eq!(na.add(&nb).unwrap(), n(&(a + b).to_string()), "{a} + {b}");
        }
    }

    #[test]
    fn number_addition() {
        assert_eq!(n("1").add(&n("2")).unwrap().to_string(), "3");
        assert_eq!(n("9.99").add(&n("0.01")).unwrap().to_string(), "10");
        assert_eq!(n("5").add(&n("-7.5")).unwrap().to_string(), "-2.5");
        assert_eq!(n("-5").add(&n("5")).unwrap().to_string(), "0");
        assert_eq!(
            n("1e20").add(&n("1")).unwrap().to_string(),
            "100000000000000000001"
        );
        assert_eq!(n("0.1").add(&n("0.2")).unwrap(), n("0.3"));
    }
}
