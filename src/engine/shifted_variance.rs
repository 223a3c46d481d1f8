//! The variance family of doubles: Welford's algorithm over each value minus the group's
//! first value.
//!
//! DataFusion runs Welford's algorithm on the values themselves. Values that share a large
//! offset (epoch milliseconds, 1e15 + x) then lose most of their significant digits in the
//! running mean, and copies of one value (1e150) give a variance of noise instead of 0.
//! Subtracting a value of the same magnitude first is exact for nearby values (Sterbenz),
//! so the running moments only carry the spread.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, UInt64Array};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, UInt64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

use super::exact_variance::Statistic;

/// Deviations from the mean are kept below this, in units of `scale`: their squares, and
/// 2^60 rows' worth of them, stay finite.
const LIMIT: f64 = 3.121748550315992e144; // 2^480
/// What `scale` grows by, a power of two: dividing by it is exact.
const STEP: f64 = 1.157920892373162e77; // 2^256

/// The moments of the values seen, shifted by `shift`, in units of `scale` (a power of
/// two, grown while deviations would overflow their squares: the stddev of 1e165 and
/// -1e-135 is 7e164, and was `inf`).
#[derive(Debug, Clone, Copy)]
struct Moments {
    count: u64,
    shift: f64,
    scale: f64,
    mean: f64,
    m2: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments { count: 0, shift: 0.0, scale: 1.0, mean: 0.0, m2: 0.0 }
    }
}

impl Moments {
    fn rescale_to(&mut self, scale: f64) {
        let f = scale / self.scale;
        self.mean /= f;
        self.m2 = self.m2 / f / f;
        self.scale = scale;
    }

    /// `d` (a value minus the shift) in units of a scale where its deviation fits.
    fn scaled(&mut self, d: f64) -> f64 {
        while (d / self.scale - self.mean).abs() > LIMIT && d.is_finite() {
            self.rescale_to(self.scale * STEP);
        }
        d / self.scale
    }

    fn update(&mut self, x: f64) {
        if self.count == 0 {
            *self = Moments { shift: x, ..Moments::default() };
        }
        let d = self.scaled(x - self.shift);
        self.count += 1;
        let delta = d - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (d - self.mean);
    }

    fn retract(&mut self, x: f64) {
        if self.count <= 1 {
            *self = Moments::default();
            return;
        }
        let d = self.scaled(x - self.shift);
        let count = self.count - 1;
        let delta = self.mean - d;
        let mean = self.mean + delta / count as f64;
        self.m2 -= delta * (mean - d);
        self.mean = mean;
        self.count = count;
    }

    /// Chan's pairwise combination, with the other side re-shifted to this one's shift.
    fn merge(&mut self, mut other: Moments) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other;
            return;
        }
        let scale = self.scale.max(other.scale);
        self.rescale_to(scale);
        other.rescale_to(scale);
        // The other's mean, from this one's shift, in this one's units.
        let other_mean = self.scaled(other.shift - self.shift + other.mean * other.scale);
        other.rescale_to(self.scale);
        let count = self.count + other.count;
        let delta = other_mean - self.mean;
        self.mean += delta * (other.count as f64 / count as f64);
        self.m2 += other.m2 + delta * delta * (self.count as f64 * other.count as f64 / count as f64);
        self.count = count;
    }

    fn value(&self, statistic: Statistic) -> Option<f64> {
        let divisor = match (statistic.sample, self.count) {
            (_, 0) | (true, 1) => return None,
            (true, n) => (n - 1) as f64,
            (false, n) => n as f64,
        };
        // Retracting can leave a rounding error below zero.
        let variance = (self.m2 / divisor).max(0.0);
        Some(if statistic.sqrt { variance.sqrt() * self.scale } else { variance * self.scale * self.scale })
    }
}

pub fn state_fields(name: &str) -> Vec<FieldRef> {
    let field = |part: &str, t: DataType| Arc::new(Field::new(format_state_name(name, part), t, true));
    vec![
        field("count", DataType::UInt64),
        field("shift", DataType::Float64),
        field("scale", DataType::Float64),
        field("mean", DataType::Float64),
        field("m2", DataType::Float64),
    ]
}

/// The states in `states` (as `state_fields` lays them out), row by row.
fn state_rows(states: &[ArrayRef]) -> Result<impl Iterator<Item = Moments> + '_> {
    let (Some(counts), Some(shifts), Some(scales), Some(means), Some(m2s)) = (
        states[0].as_primitive_opt::<UInt64Type>(),
        states[1].as_primitive_opt::<Float64Type>(),
        states[2].as_primitive_opt::<Float64Type>(),
        states[3].as_primitive_opt::<Float64Type>(),
        states[4].as_primitive_opt::<Float64Type>(),
    ) else {
        return datafusion::common::internal_err!("shifted variance: unexpected state types");
    };
    Ok((0..counts.len()).map(move |i| Moments {
        count: if counts.is_null(i) { 0 } else { counts.value(i) },
        shift: shifts.value(i),
        scale: scales.value(i),
        mean: means.value(i),
        m2: m2s.value(i),
    }))
}

fn state_arrays(moments: &[Moments]) -> Vec<ArrayRef> {
    let f64s = |f: fn(&Moments) -> f64| -> ArrayRef { Arc::new(Float64Array::from_iter_values(moments.iter().map(f))) };
    vec![
        Arc::new(UInt64Array::from_iter_values(moments.iter().map(|m| m.count))),
        f64s(|m| m.shift),
        f64s(|m| m.scale),
        f64s(|m| m.mean),
        f64s(|m| m.m2),
    ]
}

fn doubles(values: &[ArrayRef]) -> Result<&Float64Array> {
    match values.first().and_then(|v| v.as_primitive_opt::<Float64Type>()) {
        Some(a) => Ok(a),
        None => datafusion::common::internal_err!("shifted variance of a non-double"),
    }
}

#[derive(Debug)]
pub struct ShiftedVariance {
    statistic: Statistic,
    moments: Moments,
}

impl ShiftedVariance {
    pub fn new(statistic: Statistic) -> Self {
        ShiftedVariance { statistic, moments: Moments::default() }
    }
}

impl Accumulator for ShiftedVariance {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        doubles(values)?.iter().flatten().for_each(|x| self.moments.update(x));
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        doubles(values)?.iter().flatten().for_each(|x| self.moments.retract(x));
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let m = self.moments;
        Ok(vec![
            ScalarValue::UInt64(Some(m.count)),
            ScalarValue::Float64(Some(m.shift)),
            ScalarValue::Float64(Some(m.scale)),
            ScalarValue::Float64(Some(m.mean)),
            ScalarValue::Float64(Some(m.m2)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        state_rows(states)?.for_each(|m| self.moments.merge(m));
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(self.moments.value(self.statistic)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}

#[derive(Debug)]
pub struct ShiftedVarianceGroups {
    statistic: Statistic,
    groups: Vec<Moments>,
}

impl ShiftedVarianceGroups {
    pub fn new(statistic: Statistic) -> Self {
        ShiftedVarianceGroups { statistic, groups: Vec::new() }
    }
}

impl GroupsAccumulator for ShiftedVarianceGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let values = doubles(values)?;
        self.groups.resize(total_num_groups, Moments::default());
        for (row, &group) in group_indices.iter().enumerate() {
            let selected = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if selected && values.is_valid(row) {
                self.groups[group].update(values.value(row));
            }
        }
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize(total_num_groups, Moments::default());
        for (&group, m) in group_indices.iter().zip(state_rows(values)?) {
            self.groups[group].merge(m);
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let groups = emit_to.take_needed(&mut self.groups);
        let values: Vec<Option<f64>> = groups.iter().map(|m| m.value(self.statistic)).collect();
        let nulls = NullBuffer::from_iter(values.iter().map(Option::is_some));
        let values: Vec<f64> = values.into_iter().map(|v| v.unwrap_or_default()).collect();
        Ok(Arc::new(Float64Array::new(values.into(), Some(nulls))))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(state_arrays(&emit_to.take_needed(&mut self.groups)))
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let values = doubles(values)?;
        let moments: Vec<Moments> = (0..values.len())
            .map(|row| {
                let mut m = Moments::default();
                if values.is_valid(row) && opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row)) {
                    m.update(values.value(row));
                }
                m
            })
            .collect();
        Ok(state_arrays(&moments))
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<Moments>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variance(values: &[f64], sample: bool) -> Option<f64> {
        let mut m = Moments::default();
        values.iter().for_each(|&x| m.update(x));
        m.value(Statistic { sample, sqrt: false })
    }

    #[test]
    fn a_shared_offset_keeps_the_spread() {
        use datafusion::functions_aggregate::variance::VarianceAccumulator;
        use datafusion::physical_expr::expressions::StatsType;
        let values: Vec<f64> = [0.5, 1.25, -3.0, 7.75, 2.0].iter().map(|x| 1e15 + x).collect();
        // var_samp(0.5, 1.25, -3, 7.75, 2) = 60.425 / 4.
        let exact = 15.10625;
        let ours = variance(&values, true).unwrap();
        assert!((ours - exact).abs() < 1e-12 * exact, "{ours}");
        // DataFusion's running mean of the values themselves loses the spread.
        let mut theirs = VarianceAccumulator::try_new(StatsType::Sample).unwrap();
        theirs.update_batch(&[Arc::new(Float64Array::from(values)) as ArrayRef]).unwrap();
        let ScalarValue::Float64(Some(theirs)) = theirs.evaluate().unwrap() else { panic!() };
        assert!((theirs - exact).abs() > 1e-3 * exact, "{theirs}");
        assert_eq!(variance(&[1e150; 7], false), Some(0.0));
    }

    #[test]
    fn merged_halves_equal_one_pass() {
        let values: Vec<f64> = (0..100).map(|i| 1.7e12 + (i * i % 37) as f64 * 0.25).collect();
        let mut one = Moments::default();
        values.iter().for_each(|&x| one.update(x));
        let (mut a, mut b) = (Moments::default(), Moments::default());
        values[..40].iter().for_each(|&x| a.update(x));
        values[40..].iter().rev().for_each(|&x| b.update(x));
        a.merge(b);
        let (x, y) = (one.value(Statistic { sample: true, sqrt: true }), a.value(Statistic { sample: true, sqrt: true }));
        assert!((x.unwrap() - y.unwrap()).abs() < 1e-12 * x.unwrap(), "{x:?} vs {y:?}");
    }

    #[test]
    fn huge_deviations_do_not_overflow() {
        // stddev_samp(1e165, -1e-135, 1e165 * 0.5): PostgreSQL's exact answer 5e164 (= sqrt(0.25e330)).
        let values = [1e165, -1e-135, 5e164];
        let mut m = Moments::default();
        values.iter().for_each(|&x| m.update(x));
        let sd = m.value(Statistic { sample: true, sqrt: true }).unwrap();
        assert!((sd - 5e164).abs() < 1e-12 * 5e164, "{sd}");
        let (mut a, mut b) = (Moments::default(), Moments::default());
        a.update(values[1]);
        values[..1].iter().chain(&values[2..]).for_each(|&x| b.update(x));
        a.merge(b);
        let merged = a.value(Statistic { sample: true, sqrt: true }).unwrap();
        assert!((merged - 5e164).abs() < 1e-12 * 5e164, "{merged}");
        // Past the largest double the variance is infinite, not an overflow of its parts.
        assert_eq!(m.value(Statistic { sample: true, sqrt: false }), Some(f64::INFINITY));
    }
}
