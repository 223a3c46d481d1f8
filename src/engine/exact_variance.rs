//! The variance family (`stddev`, `stddev_pop`, `var_samp`, `var_pop`) of an exact type
//! (numeric or integer) computed exactly, as PostgreSQL computes it in numeric.
//!
//! DataFusion casts the input to double and runs Welford's algorithm: values that share a
//! large offset (amounts of 12345678901234567890.x) lose every significant digit, and a
//! variance that PostgreSQL gives as 0.25 comes out as 0 or as noise. Here the moments of
//! the values, shifted by the first value seen, are summed in integers at the input's
//! scale; the only rounding is the final division. Doubles run Welford's algorithm over
//! shifted values (`shifted_variance`); DISTINCT doubles keep DataFusion's.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, UInt64Array};
use datafusion::arrow::datatypes::{
    i256, DataType, Decimal128Type, Decimal256Type, Field, FieldRef, Int16Type, Int32Type, Int64Type,
    Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use datafusion::common::{plan_err, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};
use num_bigint::BigInt;

use super::shifted_variance::{self, ShiftedVariance, ShiftedVarianceGroups};
use num_traits::{ToPrimitive, Zero};

/// What a member of the family returns from the moments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Statistic {
    pub sample: bool,
    pub sqrt: bool,
}

/// `inner` (one of DataFusion's) with exact arithmetic for exact inputs.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ExactVariance {
    inner: AggregateUDF,
    statistic: Statistic,
    aliases: Vec<String>,
    signature: Signature,
}

/// The family, to register in place of DataFusion's functions of the same names.
/// PostgreSQL's `variance` is the sample variance; DataFusion lacks the name.
pub fn udafs() -> Vec<AggregateUDF> {
    use datafusion::functions_aggregate::{stddev, variance};
    let members = [
        (stddev::stddev_udaf(), Statistic { sample: true, sqrt: true }, &[][..]),
        (stddev::stddev_pop_udaf(), Statistic { sample: false, sqrt: true }, &[][..]),
        (variance::var_samp_udaf(), Statistic { sample: true, sqrt: false }, &["variance"][..]),
        (variance::var_pop_udaf(), Statistic { sample: false, sqrt: false }, &[][..]),
    ];
    members
        .into_iter()
        .map(|(inner, statistic, extra)| {
            let mut aliases = inner.aliases().to_vec();
            aliases.extend(extra.iter().map(|a| a.to_string()));
            AggregateUDF::new_from_impl(ExactVariance {
                inner: inner.as_ref().clone(),
                statistic,
                aliases,
                signature: Signature::user_defined(Volatility::Immutable),
            })
        })
        .collect()
}

/// The scale of an input summed exactly, or None for inputs taken as doubles.
fn exact_scale(t: &DataType) -> Option<i8> {
    match t {
        DataType::Decimal128(_, s) | DataType::Decimal256(_, s) => Some(*s),
        t if t.is_integer() => Some(0),
        _ => None,
    }
}

impl AggregateUDFImpl for ExactVariance {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        &self.aliases
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if exact_scale(t).is_some() => Ok(vec![t.clone()]),
            [t] if t.is_numeric() || t.is_null() => Ok(vec![DataType::Float64]),
            [t] => plan_err!("function {}({t}) does not exist", self.name()),
            _ => plan_err!("{} takes one argument", self.name()),
        }
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let exact = args.input_fields.first().and_then(|f| exact_scale(f.data_type()));
        if args.is_distinct {
            return self.inner.inner().state_fields(args);
        }
        if exact.is_none() {
            return Ok(shifted_variance::state_fields(args.name));
        }
        let field = |part: &str, t: DataType| Arc::new(Field::new(format_state_name(args.name, part), t, true));
        Ok(vec![
            field("count", DataType::UInt64),
            field("shift", DataType::Binary),
            field("sum", DataType::Binary),
            field("sum_squares", DataType::Binary),
        ])
    }
    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        match args.expr_fields.first().and_then(|f| exact_scale(f.data_type())) {
            _ if args.is_distinct => self.inner.inner().accumulator(args),
            Some(scale) => Ok(Box::new(ExactMoments::new(self.statistic, scale))),
            None => Ok(Box::new(ShiftedVariance::new(self.statistic))),
        }
    }
    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        let exact = args.expr_fields.first().and_then(|f| exact_scale(f.data_type()));
        exact.is_none() && !args.is_distinct
    }
    fn create_groups_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(ShiftedVarianceGroups::new(self.statistic)))
    }
}

/// Σd and Σd², with d = value − shift, in 256 bits until they overflow.
#[derive(Debug, Clone)]
enum Sums {
    Fixed { sum: i256, squares: i256 },
    Big { sum: BigInt, squares: BigInt },
}

fn big(v: i256) -> BigInt {
    BigInt::from_signed_bytes_le(&v.to_le_bytes())
}

impl Sums {
    fn zero() -> Self {
        Sums::Fixed { sum: i256::ZERO, squares: i256::ZERO }
    }

    fn into_big(self) -> (BigInt, BigInt) {
        match self {
            Sums::Fixed { sum, squares } => (big(sum), big(squares)),
            Sums::Big { sum, squares } => (sum, squares),
        }
    }

    /// Adds (or, with `retract`, removes) one shifted value.
    fn add(&mut self, d: BigOrFixed, retract: bool) {
        if let (Sums::Fixed { sum, squares }, BigOrFixed::Fixed(d)) = (&mut *self, &d) {
            let sq = d.checked_mul(*d);
            let (s, q) = if retract {
                (sum.checked_sub(*d), sq.and_then(|sq| squares.checked_sub(sq)))
            } else {
                (sum.checked_add(*d), sq.and_then(|sq| squares.checked_add(sq)))
            };
            if let (Some(s), Some(q)) = (s, q) {
                *sum = s;
                *squares = q;
                return;
            }
        }
        let (mut sum, mut squares) = std::mem::replace(self, Sums::zero()).into_big();
        let d = d.into_big();
        let sq = &d * &d;
        if retract {
            sum -= d;
            squares -= sq;
        } else {
            sum += d;
            squares += sq;
        }
        *self = Sums::Big { sum, squares };
    }
}

enum BigOrFixed {
    Fixed(i256),
    Big(BigInt),
}

impl BigOrFixed {
    fn into_big(self) -> BigInt {
        match self {
            BigOrFixed::Fixed(v) => big(v),
            BigOrFixed::Big(v) => v,
        }
    }
}

#[derive(Debug)]
struct ExactMoments {
    statistic: Statistic,
    scale: i8,
    count: u64,
    shift: Option<i256>,
    sums: Sums,
}

impl ExactMoments {
    fn new(statistic: Statistic, scale: i8) -> Self {
        ExactMoments { statistic, scale, count: 0, shift: None, sums: Sums::zero() }
    }

    fn values(array: &ArrayRef) -> Result<Vec<Option<i256>>> {
        fn collect<T, F>(a: &dyn Array, f: F) -> Vec<Option<i256>>
        where
            T: datafusion::arrow::datatypes::ArrowPrimitiveType,
            F: Fn(T::Native) -> i256,
        {
            a.as_primitive::<T>().iter().map(|v| v.map(&f)).collect()
        }
        let a = array.as_ref();
        Ok(match a.data_type() {
            DataType::Decimal128(..) => collect::<Decimal128Type, _>(a, i256::from_i128),
            DataType::Decimal256(..) => collect::<Decimal256Type, _>(a, |v| v),
            DataType::Int8 => collect::<Int8Type, _>(a, i256::from),
            DataType::Int16 => collect::<Int16Type, _>(a, i256::from),
            DataType::Int32 => collect::<Int32Type, _>(a, i256::from),
            DataType::Int64 => collect::<Int64Type, _>(a, i256::from),
            DataType::UInt8 => collect::<UInt8Type, _>(a, |v| i256::from(v as i64)),
            DataType::UInt16 => collect::<UInt16Type, _>(a, |v| i256::from(v as i64)),
            DataType::UInt32 => collect::<UInt32Type, _>(a, |v| i256::from(v as i64)),
            DataType::UInt64 => collect::<UInt64Type, _>(a, |v| i256::from_i128(v as i128)),
            t => return datafusion::common::internal_err!("exact variance of {t}"),
        })
    }

    fn shifted(&self, v: i256) -> BigOrFixed {
        let shift = self.shift.unwrap_or(i256::ZERO);
        match v.checked_sub(shift) {
            Some(d) => BigOrFixed::Fixed(d),
            None => BigOrFixed::Big(big(v) - big(shift)),
        }
    }

    fn apply(&mut self, values: &[ArrayRef], retract: bool) -> Result<()> {
        for v in Self::values(&values[0])?.into_iter().flatten() {
            if self.shift.is_none() {
                self.shift = Some(v);
            }
            let d = self.shifted(v);
            self.sums.add(d, retract);
            if retract {
                self.count -= 1;
            } else {
                self.count += 1;
            }
        }
        Ok(())
    }
}

fn bytes(b: &BigInt) -> ScalarValue {
    ScalarValue::Binary(Some(b.to_signed_bytes_le()))
}

impl Accumulator for ExactMoments {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.apply(values, false)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.apply(values, true)
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (sum, squares) = self.sums.clone().into_big();
        Ok(vec![
            ScalarValue::UInt64(Some(self.count)),
            ScalarValue::Binary(self.shift.map(|s| s.to_le_bytes().to_vec())),
            bytes(&sum),
            bytes(&squares),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let counts = states[0].as_any().downcast_ref::<UInt64Array>();
        let binary = |i: usize| states[i].as_any().downcast_ref::<BinaryArray>();
        let (Some(counts), Some(shifts), Some(sums), Some(squares)) = (counts, binary(1), binary(2), binary(3)) else {
            return datafusion::common::internal_err!("exact variance: unexpected state types");
        };
        for row in 0..counts.len() {
            let n = counts.value(row);
            if counts.is_null(row) || n == 0 || shifts.is_null(row) {
                continue;
            }
            let other_shift = i256::from_le_bytes(shifts.value(row).try_into().map_err(|_| {
                datafusion::error::DataFusionError::Internal("exact variance: shift of 32 bytes".into())
            })?);
            let s1 = BigInt::from_signed_bytes_le(sums.value(row));
            let s2 = BigInt::from_signed_bytes_le(squares.value(row));
            let shift = *self.shift.get_or_insert(other_shift);
            // The other side's values re-shifted: d' = d + c.
            let c = big(other_shift) - big(shift);
            let n_big = BigInt::from(n);
            let s2 = s2 + BigInt::from(2) * &c * &s1 + &n_big * &c * &c;
            let s1 = s1 + &n_big * &c;
            let (mut sum, mut sq) = std::mem::replace(&mut self.sums, Sums::zero()).into_big();
            sum += s1;
            sq += s2;
            self.sums = Sums::Big { sum, squares: sq };
            self.count += n;
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let n = self.count;
        let denominator = match (self.statistic.sample, n) {
            (_, 0) | (true, 1) => return Ok(ScalarValue::Float64(None)),
            (true, n) => n as f64 * (n - 1) as f64,
            (false, n) => n as f64 * n as f64,
        };
        let (sum, squares) = self.sums.clone().into_big();
        // n·Σd² − (Σd)², exact and never negative.
        let numerator = BigInt::from(n) * squares - &sum * &sum;
        let variance = if numerator.is_zero() {
            0.0
        } else {
            let unscaled = numerator.to_f64().unwrap_or(f64::INFINITY) / denominator;
            unscaled / 10f64.powi(2 * self.scale as i32)
        };
        Ok(ScalarValue::Float64(Some(if self.statistic.sqrt { variance.sqrt() } else { variance })))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + match &self.sums {
                Sums::Fixed { .. } => 0,
                Sums::Big { sum, squares } => ((sum.bits() + squares.bits()) / 8) as usize,
            }
    }
}
