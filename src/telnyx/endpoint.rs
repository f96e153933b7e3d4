//! The list endpoints, described well enough to page through them generically.

use chrono::NaiveDate;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::wire;

/// A page-number REST list: `GET {path}?filter[...]&page[size]=&page[number]=`.
///
/// Implementors are values (ids and filters included), so they double as cache keys and as
/// what binds a cursor to its connection.
pub trait ListEndpoint: Clone + Eq + std::hash::Hash + Send + Sync + 'static {
    /// The wire type of one item.
    type Item: DeserializeOwned + Clone + Send + Sync + 'static;

    /// The route with placeholders, for logs and metrics (never an id or a credential).
    const ROUTE: &'static str;

    /// The path under the API base URL; ids are typed, so nothing unvalidated reaches it.
    fn path(&self) -> String;

    /// The `filter[...]` query parameters, unencoded, in a fixed order.
    fn filter_params(&self) -> Vec<(String, String)>;

    /// What identifies the list: path and filter, without paging. Equal identities are the
    /// same list, which is what cursors are bound to.
    fn identity(&self) -> String {
        let mut identity = self.path();
        for (key, value) in self.filter_params() {
            identity.push_str(&format!("\n{key}={value}"));
        }
        identity
    }
}

/// A `filter[<field>][eq|gte|lte]` date range; the upstream compares calendar dates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DateRange {
    /// On that date.
    pub eq: Option<NaiveDate>,
    /// On or after that date.
    pub gte: Option<NaiveDate>,
    /// On or before that date.
    pub lte: Option<NaiveDate>,
}

impl DateRange {
    fn push_params(&self, field: &str, params: &mut Vec<(String, String)>) {
        for (op, date) in [("eq", self.eq), ("gte", self.gte), ("lte", self.lte)] {
            if let Some(date) = date {
                params.push((format!("filter[{field}][{op}]"), date.format("%Y-%m-%d").to_string()));
            }
        }
    }
}

/// The filters of the participant lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ParticipantFilter {
    /// `filter[date_joined_at]`.
    pub date_joined_at: DateRange,
    /// `filter[date_updated_at]`.
    pub date_updated_at: DateRange,
    /// `filter[date_left_at]`.
    pub date_left_at: DateRange,
    /// `filter[context]`, an exact match.
    pub context: Option<String>,
}

impl ParticipantFilter {
    fn params(&self) -> Vec<(String, String)> {
        let mut params = Vec::new();
        self.date_joined_at.push_params("date_joined_at", &mut params);
        self.date_updated_at.push_params("date_updated_at", &mut params);
        self.date_left_at.push_params("date_left_at", &mut params);
        if let Some(context) = &self.context {
            params.push(("filter[context]".to_owned(), context.clone()));
        }
        params
    }
}

/// `GET /room_sessions/{room_session_id}/participants`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionParticipants {
    /// The room session whose participants are listed.
    pub session_id: Uuid,
    /// Which participants to list.
    pub filter: ParticipantFilter,
}

impl ListEndpoint for SessionParticipants {
    type Item = wire::RoomParticipant;
    const ROUTE: &'static str = "/room_sessions/{room_session_id}/participants";

    fn path(&self) -> String {
        format!("/room_sessions/{}/participants", self.session_id)
    }

    fn filter_params(&self) -> Vec<(String, String)> {
        self.filter.params()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_filters_given_become_parameters_in_a_fixed_order() {
        let date = NaiveDate::from_ymd_opt(2021, 4, 16).unwrap();
        let filter = ParticipantFilter {
            date_joined_at: DateRange { gte: Some(date), ..Default::default() },
            date_left_at: DateRange { eq: Some(date), lte: Some(date), ..Default::default() },
            context: Some("Alice".into()),
            ..Default::default()
        };
        let params: Vec<_> = filter.params().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            params,
            [
                "filter[date_joined_at][gte]=2021-04-16",
                "filter[date_left_at][eq]=2021-04-16",
                "filter[date_left_at][lte]=2021-04-16",
                "filter[context]=Alice",
            ]
        );
    }
}
