//! PostgreSQL's text form (DateStyle ISO) of timestamps and times: fractional seconds
//! without trailing zeros and offsets as `+09` or `+05:30`. pgwire always prints six
//! fractional digits (`00:00:00.000000`) and parses the zone name again for every value.

use std::fmt::Write;
use std::sync::Arc;

use chrono::{DateTime, Offset, TimeZone};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Time64MicrosecondType, TimeUnit, TimestampMicrosecondType};
use datafusion::arrow::error::ArrowError;

/// Whether this module writes the text of a column of type `t`.
pub fn handles(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(..) | DataType::Time32(_) | DataType::Time64(_))
}

fn fraction(out: &mut String, micros: u32) {
    if micros != 0 {
        // Six digits without trailing zeros, written in place (this runs once per value).
        let (mut value, mut width) = (micros, 6);
        while value % 10 == 0 {
            value /= 10;
            width -= 1;
        }
        let _ = write!(out, ".{value:0width$}");
    }
}

fn offset(out: &mut String, seconds: i32) {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    let _ = write!(out, "{sign}{:02}", s / 3600);
    if s % 3600 != 0 {
        let _ = write!(out, ":{:02}", s % 3600 / 60);
        if s % 60 != 0 {
            let _ = write!(out, ":{:02}", s % 60);
        }
    }
}

fn timestamp(out: &mut String, micros: i64, zone: Option<&Tz>) -> Result<(), ArrowError> {
    let utc = DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| ArrowError::ComputeError(format!("timestamp out of range: {micros} µs")))?;
    let (local, shift) = match zone {
        Some(tz) => {
            let t = tz.from_utc_datetime(&utc.naive_utc());
            (t.naive_local(), Some(t.offset().fix().local_minus_utc()))
        }
        None => (utc.naive_utc(), None),
    };
    let _ = write!(out, "{}", local.format("%Y-%m-%d %H:%M:%S"));
    fraction(out, local.and_utc().timestamp_subsec_micros());
    if let Some(s) = shift {
        offset(out, s);
    }
    Ok(())
}

/// The column as PostgreSQL would print it.
pub fn column(col: &ArrayRef) -> Result<ArrayRef, ArrowError> {
    let mut b = StringBuilder::with_capacity(col.len(), col.len() * 26);
    let mut s = String::with_capacity(40);
    match col.data_type() {
        DataType::Timestamp(_, zone) => {
            let zone = zone.as_deref().map(str::parse::<Tz>).transpose()?;
            let micros = cast(col, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            for v in micros.as_primitive::<TimestampMicrosecondType>() {
                match v {
                    Some(v) => {
                        s.clear();
                        timestamp(&mut s, v, zone.as_ref())?;
                        b.append_value(&s);
                    }
                    None => b.append_null(),
                }
            }
        }
        _ => {
            let micros = cast(col, &DataType::Time64(TimeUnit::Microsecond))?;
            for v in micros.as_primitive::<Time64MicrosecondType>() {
                match v {
                    Some(v) => {
                        s.clear();
                        let secs = v.div_euclid(1_000_000);
                        let _ = write!(s, "{:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60);
                        fraction(&mut s, v.rem_euclid(1_000_000) as u32);
                        b.append_value(&s);
                    }
                    None => b.append_null(),
                }
            }
        }
    }
    Ok(Arc::new(b.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Time64MicrosecondArray, TimestampMicrosecondArray, TimestampNanosecondArray};

    fn texts(col: ArrayRef) -> Vec<Option<String>> {
        let out = column(&col).unwrap();
        out.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn timestamps_print_like_postgres() {
        // 2026-09-01 00:00:00, then + 26.352 s
        let ts = TimestampMicrosecondArray::from(vec![Some(1_788_220_800_000_000), Some(1_788_220_826_352_000), None]);
        assert_eq!(texts(Arc::new(ts.clone())), vec![
            Some("2026-09-01 00:00:00".into()),
            Some("2026-09-01 00:00:26.352".into()),
            None
        ]);
        let seoul = Arc::new(ts.with_timezone("Asia/Seoul"));
        assert_eq!(texts(seoul)[1].as_deref(), Some("2026-09-01 09:00:26.352+09"));
        let kolkata = TimestampNanosecondArray::from(vec![1_788_220_800_000_001_000]).with_timezone("Asia/Kolkata");
        assert_eq!(texts(Arc::new(kolkata))[0].as_deref(), Some("2026-09-01 05:30:00.000001+05:30"));
        let before_1970 = TimestampMicrosecondArray::from(vec![-1_500_000]);
        assert_eq!(texts(Arc::new(before_1970))[0].as_deref(), Some("1969-12-31 23:59:58.5"));
    }

    #[test]
    fn times_print_like_postgres() {
        let t = Time64MicrosecondArray::from(vec![Some(0), Some(45_296_500_000), None]);
        assert_eq!(texts(Arc::new(t)), vec![Some("00:00:00".into()), Some("12:34:56.5".into()), None]);
    }
}
