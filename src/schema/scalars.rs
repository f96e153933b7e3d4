//! The `Date` and `DateTime` scalars, with the exact formats the contract promises.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{NaiveDate, SecondsFormat, Utc};

/// An ISO 8601 calendar date, e.g. `2021-04-16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

/// ISO 8601 calendar date, e.g. `2021-04-16`. Filters compare it with the calendar date (UTC) of a timestamp.
#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => parse_date(s).map(Date).ok_or_else(|| InputValueError::custom(invalid_date(s))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    /// Checked during validation, so a bad date is refused before anything executes, with
    /// the argument's path in the message.
    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(s) if parse_date(s).is_some())
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// Strictly `YYYY-MM-DD` (chrono alone would also accept e.g. `2021-4-6`).
fn parse_date(s: &str) -> Option<NaiveDate> {
    let well_formed = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    well_formed.then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()).flatten()
}

fn invalid_date(s: &str) -> String {
    format!("\"{s}\" is not a calendar date in the form YYYY-MM-DD")
}

/// An RFC 3339 timestamp in UTC with microseconds, e.g. `2021-04-16T09:46:20.954863Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// RFC 3339 timestamp in UTC with microsecond precision, e.g. `2021-04-16T09:46:20.954863Z`.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| DateTime(t.with_timezone(&Utc)))
                .map_err(|_| InputValueError::custom(format!("\"{s}\" is not an RFC 3339 timestamp"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        let mut text = Vec::with_capacity(TIMESTAMP_LEN);
        write_timestamp(&self.0, &mut text);
        Value::String(String::from_utf8(text).unwrap_or_else(|_| self.0.to_rfc3339_opts(SecondsFormat::Micros, true)))
    }
}

/// `2021-04-16T09:46:20.954863Z`.
const TIMESTAMP_LEN: usize = 27;

/// Appends `time` as the `DateTime` scalar shows it, e.g. `2021-04-16T09:46:20.954863Z`
/// (chrono's `to_rfc3339_opts(Micros, true)`, which goes through `fmt` and a new `String`:
/// a tenth of writing a participant). Years beyond four digits and leap seconds are left
/// to chrono.
pub fn write_timestamp(time: &chrono::DateTime<Utc>, out: &mut Vec<u8>) {
    use chrono::{Datelike, Timelike};
    let (year, nanos) = (time.year(), time.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        out.extend_from_slice(time.to_rfc3339_opts(SecondsFormat::Micros, true).as_bytes());
        return;
    }
    // Two digits at a time, into the timestamp's template, appended once.
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    let micros = nanos / 1000;
    let pairs = [
        (0, year as u32 / 100),
        (2, year as u32 % 100),
        (5, time.month()),
        (8, time.day()),
        (11, time.hour()),
        (14, time.minute()),
        (17, time.second()),
        (20, micros / 10_000),
        (22, micros / 100 % 100),
        (24, micros % 100),
    ];
    for (at, value) in pairs {
        text[at] = b'0' + (value / 10) as u8;
        text[at + 1] = b'0' + (value % 10) as u8;
    }
    out.extend_from_slice(&text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_be_exactly_yyyy_mm_dd_and_real() {
        assert_eq!(parse_date("2021-04-16"), NaiveDate::from_ymd_opt(2021, 4, 16));
        for bad in ["2021-4-16", "2021-02-30", "2021-13-01", "16/04/2021", "2021-04-16T00:00:00Z", "", "２０２１-04-16"]
        {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn timestamps_are_written_as_chrono_writes_them(seconds in -80_000_000_000i64..300_000_000_000, nanos in 0u32..2_000_000_000) {
            if let Some(time) = chrono::DateTime::from_timestamp(seconds, nanos) {
                let mut ours = Vec::new();
                write_timestamp(&time, &mut ours);
                proptest::prop_assert_eq!(String::from_utf8(ours).unwrap(), time.to_rfc3339_opts(SecondsFormat::Micros, true));
            }
        }
    }

    #[test]
    fn timestamps_keep_microseconds_and_use_z() {
        let t = chrono::DateTime::parse_from_rfc3339("2021-04-16T09:46:20.954863Z").unwrap().to_utc();
        assert_eq!(DateTime(t).to_value(), Value::String("2021-04-16T09:46:20.954863Z".into()));
        let whole = chrono::DateTime::parse_from_rfc3339("2021-04-16T11:46:20+02:00").unwrap().to_utc();
        assert_eq!(DateTime(whole).to_value(), Value::String("2021-04-16T09:46:20.000000Z".into()));
    }
}
