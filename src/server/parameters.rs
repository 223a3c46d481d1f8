//! Parameter values of a Bind, as PostgreSQL reads them. arrow-pg decodes each value into
//! the type the statement inferred for it, which for a numeric is not exact: the value is
//! rounded to the column's scale (`amount < $1` with 0.004 against a numeric(12,2) column
//! compared with 0.00 and matched nothing), truncated into an integer column's type (2.5
//! became 2), and read with rust_decimal, which has 28 digits and no exponent (`1E-10`,
//! as psycopg 3 sends it, was refused). PostgreSQL types such a parameter `numeric`
//! without a scale and keeps every digit. A numeric value is decoded here, exactly and at
//! its own scale; the analyzer then coerces it as it would the same literal written in the
//! statement. Every other value is arrow-pg's, read as the client typed it where it did.

use std::str::FromStr;

use bytes::Bytes;
use datafusion::arrow::datatypes::{i256, DataType, DECIMAL128_MAX_PRECISION, DECIMAL256_MAX_PRECISION};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters;
use datafusion_postgres::arrow_pg::datatypes::into_pg_type;
use num_bigint::{BigInt, Sign};
use num_traits::{ToPrimitive, Zero};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::results::FieldFormat;
use pgwire::api::Type;
use pgwire::error::PgWireResult;
use pgwire::messages::extendedquery::Bind;

use super::refused;
use crate::pg::types::declared_parameter;
use crate::engine::error::sqlstate;

/// The values bound to `portal`, `inferred` being the statement's parameter types.
pub(super) fn decode<S: Clone>(portal: &Portal<S>, inferred: &[Option<&DataType>]) -> PgWireResult<ParamValues> {
    let count = portal.parameter_len();
    let numeric: Vec<bool> = (0..count).map(|i| wire_type(portal, inferred, i) == Some(Type::NUMERIC)).collect();
    let declared: Vec<bool> =
        (0..count).map(|i| client_type(portal, i).and_then(|t| declared_parameter(&t)).is_some()).collect();
    if !numeric.contains(&true) && !declared.contains(&true) {
        return deserialize_parameters(portal, inferred);
    }
    // A number the client typed is read as that type, which the analyzer then coerces, as
    // PostgreSQL resolves a parameter of a declared type (arrow-pg would convert it into
    // the inferred type: a float8 2.5 for an int4 column failed, a numeric one became 2).
    let types: Vec<Option<&DataType>> =
        (0..count).map(|i| inferred.get(i).copied().flatten().filter(|_| !numeric[i] && !declared[i])).collect();
    // arrow-pg reads the others from a copy of the Bind with the numerics left NULL.
    let mut parameters = portal.parameters.clone();
    for (i, value) in parameters.iter_mut().enumerate() {
        if numeric[i] {
            *value = None;
        }
    }
    let codes = match &portal.parameter_format {
        Format::UnifiedText => Vec::new(),
        Format::UnifiedBinary => vec![1],
        Format::Individual(codes) => codes.clone(),
    };
    let others = Portal::try_new(&Bind::new(None, None, codes, parameters, Vec::new()), portal.statement.clone())?;
    let ParamValues::List(mut values) = deserialize_parameters(&others, &types)? else {
        unreachable!("positional parameters are a list")
    };
    for i in (0..count).filter(|&i| numeric[i]) {
        let value = match &portal.parameters[i] {
            None => match inferred.get(i).copied().flatten() {
                Some(t @ (DataType::Decimal128(..) | DataType::Decimal256(..))) => ScalarValue::try_from(t).map_err(super::df_error)?,
                _ => ScalarValue::Decimal128(None, DECIMAL128_MAX_PRECISION, 0),
            },
            Some(bytes) => {
                let (unscaled, scale) = match portal.parameter_format.format_for(i) {
                    FieldFormat::Text => from_text(bytes),
                    FieldFormat::Binary => from_binary(bytes),
                }
                .ok_or_else(|| invalid(bytes))?;
                decimal(unscaled, scale).ok_or_else(|| out_of_range(bytes))?
            }
        };
        values[i] = value.into();
    }
    Ok(ParamValues::List(values))
}

/// The type the client gave value `i` in its Parse, if it gave one.
fn client_type<S>(portal: &Portal<S>, i: usize) -> Option<Type> {
    portal.statement.parameter_types.get(i).cloned().flatten().filter(|t| *t != Type::UNKNOWN)
}

/// The type value `i` was sent as: the client's, or else the one the statement described.
fn wire_type<S>(portal: &Portal<S>, inferred: &[Option<&DataType>], i: usize) -> Option<Type> {
    client_type(portal, i).or_else(|| inferred.get(i).copied().flatten().and_then(|t| into_pg_type(t).ok()))
}

fn invalid(bytes: &Bytes) -> pgwire::error::PgWireError {
    let text = String::from_utf8_lossy(bytes);
    refused(sqlstate::INVALID_TEXT_REPRESENTATION, format!("invalid input syntax for type numeric: \"{text}\""))
}

fn out_of_range(bytes: &Bytes) -> pgwire::error::PgWireError {
    let text = String::from_utf8_lossy(bytes);
    refused(sqlstate::NUMERIC_VALUE_OUT_OF_RANGE, format!("numeric parameter {text} has more than {DECIMAL256_MAX_PRECISION} digits"))
}

/// `[-+]digits[.digits][e[-+]digits]`, as PostgreSQL's numeric input reads it: the
/// unscaled digits and the scale.
fn from_text(bytes: &[u8]) -> Option<(BigInt, i64)> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], i64::from_str(&text[at + 1..]).ok()?),
        None => (text, 0),
    };
    let (negative, mantissa) = match mantissa.as_bytes().first()? {
        b'-' => (true, &mantissa[1..]),
        b'+' => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let unscaled = BigInt::from_str(&digits).ok()?;
    let unscaled = if negative { -unscaled } else { unscaled };
    Some((unscaled, fraction.len() as i64 - exponent))
}

/// PostgreSQL's binary numeric: digit count, weight, sign and display scale, then base
/// 10,000 digits, the first one weighted 10,000^weight.
fn from_binary(bytes: &[u8]) -> Option<(BigInt, i64)> {
    let word = |i: usize| bytes.get(2 * i..2 * i + 2).map(|b| i16::from_be_bytes([b[0], b[1]]));
    let (count, weight, sign, dscale) = (word(0)?, word(1)?, word(2)? as u16, word(3)?);
    let negative = match sign {
        0x0000 => false,
        0x4000 => true,
        // NaN and the infinities have no decimal value.
        _ => return None,
    };
    let mut unscaled = BigInt::zero();
    for i in 0..count as usize {
        unscaled = unscaled * 10_000 + word(4 + i)?;
    }
    // The digits read are unscaled * 10,000^(weight - count + 1).
    let scale = 4 * (count as i64 - 1 - weight as i64);
    let unscaled = if negative { -unscaled } else { unscaled };
    // The value has the display scale (1.50 keeps its zero; 0.004 is not 0.0040).
    let shown = (dscale as i64).max(0);
    let step = BigInt::from(10).pow(shown.abs_diff(scale) as u32);
    Some(match shown > scale {
        true => (unscaled * step, shown),
        false if (&unscaled % &step).is_zero() => (unscaled / step, shown),
        false => (unscaled, scale),
    })
}

/// The narrowest decimal type holding `unscaled` at `scale` exactly.
fn decimal(mut unscaled: BigInt, mut scale: i64) -> Option<ScalarValue> {
    if scale < 0 {
        unscaled *= BigInt::from(10).pow((-scale) as u32);
        scale = 0;
    }
    let digits = match unscaled.sign() {
        Sign::NoSign => 1,
        _ => unscaled.magnitude().to_string().len() as i64,
    };
    let precision = digits.max(scale).max(1);
    if precision <= DECIMAL128_MAX_PRECISION as i64 {
        return Some(ScalarValue::Decimal128(Some(unscaled.to_i128()?), precision as u8, scale as i8));
    }
    if precision > DECIMAL256_MAX_PRECISION as i64 {
        return None;
    }
    let value = i256::from_string(&unscaled.to_string())?;
    Some(ScalarValue::Decimal256(Some(value), precision as u8, scale as i8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> ScalarValue {
        from_text(s.as_bytes()).and_then(|(u, s)| decimal(u, s)).unwrap()
    }

    #[test]
    fn text_keeps_every_digit_at_its_own_scale() {
        assert_eq!(text("0.004"), ScalarValue::Decimal128(Some(4), 3, 3));
        assert_eq!(text("-12.50"), ScalarValue::Decimal128(Some(-1250), 4, 2));
        assert_eq!(text("1E-10"), ScalarValue::Decimal128(Some(1), 10, 10));
        assert_eq!(text("2.5e3"), ScalarValue::Decimal128(Some(2500), 4, 0));
        assert_eq!(text("12345678901234567890.0123456789"), ScalarValue::Decimal128(Some(123456789012345678900123456789), 30, 10));
        let wide = text("123456789012345678901234567890123456789.5");
        assert_eq!(wide.data_type(), DataType::Decimal256(40, 1));
        for bad in ["", "1.2.3", "abc", "NaN", "1e", "--1"] {
            assert!(from_text(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn binary_reads_base_10000_digits_and_the_display_scale() {
        // 1234.5670: digits 1234, 5670; weight 0; scale 4.
        let bytes: Vec<u8> = [2i16, 0, 0, 4, 1234, 5670].iter().flat_map(|w| w.to_be_bytes()).collect();
        let (u, s) = from_binary(&bytes).unwrap();
        assert_eq!(decimal(u, s).unwrap(), ScalarValue::Decimal128(Some(12345670), 8, 4));
        // -0.004: digit 40 weighted 10,000^-1; display scale 3.
        let bytes: Vec<u8> = [1i16, -1, 0x4000, 3, 40].iter().flat_map(|w| w.to_be_bytes()).collect();
        let (u, s) = from_binary(&bytes).unwrap();
        assert_eq!(decimal(u, s).unwrap(), ScalarValue::Decimal128(Some(-4), 3, 3));
        // 20000: digit 2 weighted 10,000^1.
        let bytes: Vec<u8> = [1i16, 1, 0, 0, 2].iter().flat_map(|w| w.to_be_bytes()).collect();
        let (u, s) = from_binary(&bytes).unwrap();
        assert_eq!(decimal(u, s).unwrap(), ScalarValue::Decimal128(Some(20000), 5, 0));
        let nan: Vec<u8> = [0i16, 0, 0xC000u16 as i16, 0].iter().flat_map(|w| w.to_be_bytes()).collect();
        assert!(from_binary(&nan).is_none());
    }
}
