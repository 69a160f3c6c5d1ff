//! JavaScript number semantics, which GitHub's expression language inherits:
//! `Number(string)` parsing, `Number.prototype.toString`, and the 15-digit
//! rounding GitHub applies when a number is turned into text.

/// JavaScript's `\s`: the characters `String.prototype.trim` removes and the lexer treats
/// as token boundaries.
pub(crate) fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// `String.prototype.trim`.
pub(crate) fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_space)
}

/// `Number(s)`: NaN when `s` is not a number. Empty or blank text is 0.
pub(crate) fn parse_js_number(s: &str) -> f64 {
    let s = js_trim(s);
    if s.is_empty() {
        return 0.0;
    }
    let bytes = s.as_bytes();
    if bytes.len() > 2 && bytes[0] == b'0' {
        let radix = match bytes[1] {
            b'x' | b'X' => 16,
            b'o' | b'O' => 8,
            b'b' | b'B' => 2,
            _ => 0,
        };
        if radix != 0 {
            return parse_radix(&s[2..], radix);
        }
    }
    let (negative, unsigned) = match bytes[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = if unsigned == "Infinity" {
        f64::INFINITY
    } else if is_decimal_literal(unsigned) {
        unsigned.parse::<f64>().unwrap_or(f64::NAN)
    } else {
        return f64::NAN;
    };
    if negative { -magnitude } else { magnitude }
}

fn parse_radix(digits: &str, radix: u32) -> f64 {
    if digits.is_empty() {
        return f64::NAN;
    }
    let mut value = 0.0f64;
    for c in digits.chars() {
        match c.to_digit(radix) {
            Some(d) => value = value * f64::from(radix) + f64::from(d),
            None => return f64::NAN,
        }
    }
    value
}

/// `StrUnsignedDecimalLiteral` without `Infinity`: `1`, `1.`, `.5`, `1.5e-3`.
fn is_decimal_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = count_digits(b, &mut i);
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(b, &mut i);
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if count_digits(b, &mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

fn count_digits(b: &[u8], i: &mut usize) -> usize {
    let start = *i;
    while b.get(*i).is_some_and(u8::is_ascii_digit) {
        *i += 1;
    }
    *i - start
}

/// `Number.prototype.toString()` (shortest round-trip digits, JavaScript's layout).
pub(crate) fn js_number_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    // `{:e}` gives the shortest round-trip digits as d.ddde±x.
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let n = exp + 1;
    let mut out = String::with_capacity(digits.len() + 8);
    if x < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        out.push_str(&(n - 1).abs().to_string());
    }
    out
}

/// GitHub's number-to-text coercion: round to at most 15 decimals (`toFixed(15)`), drop
/// trailing zeros, then format as JavaScript does. Keeps `0.1 + 0.2`-style noise out of text.
pub(crate) fn coerce_number_to_string(x: f64) -> String {
    if x == 0.0 {
        return "0".to_owned();
    }
    if !x.is_finite() || x.abs() >= 1e21 {
        return js_number_to_string(x);
    }
    let fixed = to_fixed_15(x.abs());
    let rounded: f64 = fixed.parse().unwrap_or(x.abs());
    js_number_to_string(if x < 0.0 { -rounded } else { rounded })
}

/// `toFixed(15)` of a finite non-negative number below 1e21: exact decimal value rounded
/// half away from zero (JavaScript picks the larger candidate on a tie).
fn to_fixed_15(ax: f64) -> String {
    // A tie at the 16th decimal needs exactly 16 decimals: an odd multiple of 2^-16.
    let scaled = ax * 65536.0;
    let is_tie = scaled.fract() == 0.0 && scaled < 9.0e15 && scaled % 2.0 == 1.0;
    if !is_tie {
        return format!("{ax:.15}");
    }
    let mut digits = format!("{ax:.16}").into_bytes();
    digits.pop(); // the trailing '5'
    increment_decimal(&mut digits);
    String::from_utf8(digits).unwrap_or_default()
}

/// Adds one unit in the last place to an ASCII decimal string such as `12.345`.
fn increment_decimal(digits: &mut Vec<u8>) {
    for i in (0..digits.len()).rev() {
        match digits[i] {
            b'.' => continue,
            b'9' => digits[i] = b'0',
            d => {
                digits[i] = d + 1;
                return;
            }
        }
    }
    digits.insert(0, b'1');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_javascript_number() {
        assert_eq!(parse_js_number(" 0xff "), 255.0);
        assert_eq!(parse_js_number("0o10"), 8.0);
        assert_eq!(parse_js_number("0b101"), 5.0);
        assert_eq!(parse_js_number("-Infinity"), f64::NEG_INFINITY);
        assert_eq!(parse_js_number(""), 0.0);
        assert_eq!(parse_js_number("1."), 1.0);
        assert_eq!(parse_js_number("-.5"), -0.5);
        assert!(parse_js_number("-0x10").is_nan());
        assert!(parse_js_number("inf").is_nan());
        assert!(parse_js_number("1e").is_nan());
        assert!(parse_js_number(".").is_nan());
        assert!(parse_js_number("1_000").is_nan());
    }

    #[test]
    fn formats_like_javascript() {
        assert_eq!(js_number_to_string(1e21), "1e+21");
        assert_eq!(js_number_to_string(123456.789), "123456.789");
        assert_eq!(js_number_to_string(0.000001), "0.000001");
        assert_eq!(js_number_to_string(1e-7), "1e-7");
        assert_eq!(js_number_to_string(-1.5e300), "-1.5e+300");
        assert_eq!(js_number_to_string(100.0), "100");
    }

    #[test]
    fn coerces_with_fifteen_decimals() {
        assert_eq!(
            coerce_number_to_string(0.845_512_408_225_570_1),
            "0.84551240822557"
        );
        assert_eq!(coerce_number_to_string(0.1 + 0.2), "0.3");
        assert_eq!(coerce_number_to_string(-0.0), "0");
        assert_eq!(coerce_number_to_string(1.0 / 65536.0), "0.000015258789063");
        assert_eq!(coerce_number_to_string(1e-16), "0");
    }
}
