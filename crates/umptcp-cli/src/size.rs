//! Parsing of the numbers people type: byte counts with binary suffixes
//! (`64M`, `1GiB`, `512K`, `1000`) and percentages (`2`, `2%`, `0.5`).
//!
//! Both return a `String` error that says what was expected; clap puts it
//! after the value it names (`invalid value '12Q' for '--bytes <N>': ...`)
//! on the one error line.

/// Parse a byte count: decimal digits, then optionally `K`, `M` or `G`
/// (powers of 1024, either case), then optionally `iB`. `1000` is 1000
/// bytes, `512K` and `512KiB` are 524 288, `64M` is 67 108 864, `1G` is
/// 1 073 741 824.
///
/// # Errors
///
/// A message saying what was expected if `text` is not of that form or
/// does not fit in a `u64`.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || {
        "expected a whole number of bytes with an optional K, M or G suffix \
         (powers of 1024, optionally followed by iB), e.g. 1000, 512K, 64M, 1GiB"
            .to_owned()
    };
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(bad());
    }
    let shift = match suffix {
        "" => 0,
        _ => {
            let mut chars = suffix.chars();
            let shift = match chars.next() {
                Some('k' | 'K') => 10,
                Some('m' | 'M') => 20,
                Some('g' | 'G') => 30,
                _ => return Err(bad()),
            };
            match chars.as_str() {
                "" | "iB" => shift,
                _ => return Err(bad()),
            }
        }
    };
    let too_large = || "too large: at most 18446744073709551615 bytes".to_owned();
    let number: u64 = digits.parse().map_err(|_| too_large())?;
    number.checked_mul(1u64 << shift).ok_or_else(too_large)
}

/// Parse a percentage from 0 to 100, with or without a trailing `%`, and
/// return it as a probability: `2` and `2%` give 0.02, `0.5` gives 0.005.
///
/// # Errors
///
/// A message saying what was expected if `text` is not a number, or not
/// in `0..=100`.
pub(crate) fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.strip_suffix('%').unwrap_or(text);
    let bad = || "expected a percentage from 0 to 100, e.g. 2, 2% or 0.5".to_owned();
    // `f64::from_str` also takes "inf", "NaN" and exponents; a percentage is
    // plain digits with at most one decimal point.
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') || number == "."
    {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    if !(0.0..=100.0).contains(&value) {
        return Err("a percentage must be from 0 to 100".to_owned());
    }
    Ok(value / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_byte_counts() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn binary_suffixes() {
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("512k"), Ok(512 * 1024));
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("3g"), Ok(3 << 30));
    }

    #[test]
    fn bad_sizes_are_rejected() {
        for bad in [
            "", "12Q", "M", "-1", "1.5M", " 1", "1 M", "1MB", "1Mi", "1KK", "0x10", "64M ",
        ] {
            let err = parse_size(bad).unwrap_err();
            assert!(err.starts_with("expected a whole number"), "{bad}: {err}");
        }
        assert!(parse_size("12Q").unwrap_err().contains("K, M or G"));
    }

    #[test]
    fn sizes_that_overflow_are_rejected() {
        assert!(
            parse_size("18446744073709551616")
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            parse_size("17179869184G")
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(parse_size("17179869183G"), Ok(17_179_869_183 << 30));
    }

    #[test]
    fn percentages() {
        assert_eq!(parse_percent("2"), Ok(0.02));
        assert_eq!(parse_percent("2%"), Ok(0.02));
        assert_eq!(parse_percent("0.5"), Ok(0.005));
        assert_eq!(parse_percent("0"), Ok(0.0));
        assert_eq!(parse_percent("100"), Ok(1.0));
        assert_eq!(parse_percent("100%"), Ok(1.0));
        assert_eq!(parse_percent(".5"), Ok(0.005));
    }

    #[test]
    fn bad_percentages_are_rejected() {
        assert!(parse_percent("150").unwrap_err().contains("from 0 to 100"));
        assert!(
            parse_percent("100.1")
                .unwrap_err()
                .contains("from 0 to 100")
        );
        for bad in [
            "", "%", ".", "-1", "abc", "inf", "NaN", "1e1", "2%%", "2 %", "0.5.5",
        ] {
            let err = parse_percent(bad).unwrap_err();
            assert!(err.starts_with("expected a percentage"), "{bad}: {err}");
        }
    }
}
