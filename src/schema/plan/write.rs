//! Running a [`Plan`]: every connection it selects is loaded concurrently (as async-graphql
//! resolves sibling fields), then the response is written in one pass over the plan.

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;

use async_graphql::{InputType, Value, Variables};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::SessionField;
use super::{
    Arg, ConnectionField, Cost, EdgeField, Keyed, Limits, List, PageInfoField, ParticipantField, Plan, QueryField,
};
use crate::error::AppError;
use crate::pagination::{CursorCodec, Slice};
use crate::schema::connection::{complexity, load_slice, ConnectionArgs};
use crate::schema::filters::{RoomParticipantFilter, RoomParticipantsFilter};
use crate::schema::ids::parse_uuid;
use crate::schema::scalars::write_timestamp;
use crate::schema::Upstream;
use crate::telnyx::{wire, ListEndpoint, Participants, SessionParticipants};

type Participant = Arc<wire::RoomParticipant>;

/// One connection's window, loaded.
struct Window {
    slice: Slice<Participant>,
    codec: CursorCodec,
    /// The session it lists the participants of, for a participant without `session_id`.
    listed_under: Option<Uuid>,
}

type Load<'a> = Pin<Box<dyn Future<Output = Result<Window, AppError>> + Send + 'a>>;

impl Plan {
    /// The response's JSON (`{"data":{...}}`), or `None` where async-graphql must answer
    /// instead (see [`super`]): loads made so far stay in `upstream`'s cache for it.
    pub async fn run(&self, upstream: &Upstream, variables: &Variables, limits: Limits) -> Option<Vec<u8>> {
        let arguments = Arguments(variables);
        if let Some(cost) = &self.cost {
            // Over the limit, async-graphql refuses the request ("Query is too complex.").
            if arguments.cost(cost)? > limits.max_complexity {
                return None;
            }
        }
        let max_first_last = limits.max_first_last;
        let mut loads: Vec<Load<'_>> = Vec::new();
        for field in &self.root {
            match &field.field {
                QueryField::Typename => {}
                QueryField::RoomSession { id, fields } => {
                    let session = arguments.uuid(id)?;
                    for field in fields {
                        if let SessionField::Participants(list) = &field.field {
                            let filter = arguments.parse::<Option<RoomParticipantFilter>>(&list.filter)?;
                            let endpoint = SessionParticipants {
                                session_id: session,
                                filter: filter.unwrap_or_default().parse().ok()?,
                            };
                            loads.push(load(
                                upstream,
                                max_first_last,
                                endpoint,
                                arguments.paging(list)?,
                                list,
                                Some(session),
                            ));
                        }
                    }
                }
                QueryField::RoomParticipants(list) => {
                    let filter = arguments.parse::<Option<RoomParticipantsFilter>>(&list.filter)?;
                    let endpoint = Participants { filter: filter.unwrap_or_default().parse().ok()? };
                    loads.push(load(upstream, max_first_last, endpoint, arguments.paging(list)?, list, None));
                }
            }
        }
        let windows = futures::future::try_join_all(loads).await.ok()?;
        let items: usize = windows.iter().map(|window| window.slice.items.len()).sum();
        let mut writer = Writer { out: Vec::with_capacity(256 + items * 320), windows: windows.iter() };
        writer.out.extend_from_slice(b"{\"data\":");
        writer.object(&self.root, |writer, field| match field {
            QueryField::Typename => writer.string("Query"),
            QueryField::RoomSession { id, fields } => {
                let session = arguments.uuid(id)?;
                writer.object(fields, |writer, field| match field {
                    SessionField::Typename => writer.string("RoomSession"),
                    SessionField::Id => writer.display_string(session.hyphenated()),
                    SessionField::Participants(list) => writer.connection(list),
                })
            }
            QueryField::RoomParticipants(list) => writer.connection(list),
        })?;
        writer.out.push(b'}');
        Some(writer.out)
    }
}

/// Loads one connection's window exactly as the resolver would.
fn load<'a, E>(
    upstream: &'a Upstream,
    max_first_last: u64,
    endpoint: E,
    args: ConnectionArgs,
    list: &'a List,
    listed_under: Option<Uuid>,
) -> Load<'a>
where
    E: ListEndpoint<Item = wire::RoomParticipant> + 'a,
{
    Box::pin(async move {
        let (slice, codec) = load_slice(upstream, max_first_last, &endpoint, args, list.needs).await?;
        Ok(Window { slice, codec, listed_under })
    })
}

/// A request's argument values: the document's literals and the request's variables.
struct Arguments<'a>(&'a Variables);

impl Arguments<'_> {
    /// `arg` as async-graphql's resolvers receive it; `None` where that would be an error.
    fn parse<T: InputType>(&self, arg: &Arg) -> Option<T> {
        T::parse(self.value(arg).cloned()).ok()
    }

    fn value<'v>(&'v self, arg: &'v Arg) -> Option<&'v Value> {
        match arg {
            Arg::Absent => None,
            Arg::Literal(value) => Some(value),
            Arg::Variable(name, default) => self.0.get(name).or(default.as_ref()),
        }
    }

    /// `cost` with these arguments; `None` where a `first` or `last` is not an `Int`.
    fn cost(&self, cost: &Cost) -> Option<usize> {
        Some(match cost {
            Cost::Fixed(n) => *n,
            Cost::Sum(parts) => {
                parts.iter().try_fold(0usize, |sum, part| Some(sum.saturating_add(self.cost(part)?)))?
            }
            Cost::Connection { first, last, child } => {
                complexity(self.parse(first)?, self.parse(last)?, self.cost(child)?)
            }
        })
    }

    /// An `ID` argument as a UUID, read in place. `ID` also takes an integer, never a UUID.
    fn uuid(&self, arg: &Arg) -> Option<Uuid> {
        match self.value(arg)? {
            Value::String(id) => parse_uuid("id", id).ok(),
            _ => None,
        }
    }

    fn paging(&self, list: &List) -> Option<ConnectionArgs> {
        Some(ConnectionArgs {
            first: self.parse(&list.first)?,
            after: self.parse(&list.after)?,
            last: self.parse(&list.last)?,
            before: self.parse(&list.before)?,
        })
    }
}

/// The response being written, and the loaded windows in the order the plan meets them.
struct Writer<'a> {
    out: Vec<u8>,
    windows: std::slice::Iter<'a, Window>,
}

impl Writer<'_> {
    fn object<T>(&mut self, fields: &[Keyed<T>], mut field: impl FnMut(&mut Self, &T) -> Option<()>) -> Option<()> {
        self.out.push(b'{');
        for (index, keyed) in fields.iter().enumerate() {
            if index > 0 {
                self.out.push(b',');
            }
            self.out.extend_from_slice(keyed.member.as_bytes());
            field(self, &keyed.field)?;
        }
        self.out.push(b'}');
        Some(())
    }

    fn list<T>(
        &mut self,
        items: impl Iterator<Item = T>,
        mut item: impl FnMut(&mut Self, T) -> Option<()>,
    ) -> Option<()> {
        self.out.push(b'[');
        for (index, value) in items.enumerate() {
            if index > 0 {
                self.out.push(b',');
            }
            item(self, value)?;
        }
        self.out.push(b']');
        Some(())
    }

    fn string(&mut self, value: &str) -> Option<()> {
        serde_json::to_writer(&mut self.out, value).ok()
    }

    /// A string that needs no escaping (a UUID).
    fn display_string(&mut self, value: impl std::fmt::Display) -> Option<()> {
        write!(self.out, "\"{value}\"").ok()
    }

    fn cursor(&mut self, codec: &CursorCodec, offset: u64) -> Option<()> {
        self.out.push(b'"');
        codec.write(offset, &mut self.out);
        self.out.push(b'"');
        Some(())
    }

    fn number(&mut self, value: i64) -> Option<()> {
        write!(self.out, "{value}").ok()
    }

    fn null(&mut self) -> Option<()> {
        self.out.extend_from_slice(b"null");
        Some(())
    }

    fn time(&mut self, value: Option<DateTime<Utc>>) -> Option<()> {
        let Some(time) = value else { return self.null() };
        self.out.push(b'"');
        write_timestamp(&time, &mut self.out);
        self.out.push(b'"');
        Some(())
    }

    fn connection(&mut self, list: &List) -> Option<()> {
        let window = self.windows.next()?;
        let (slice, codec) = (&window.slice, &window.codec);
        let (start, end) = (slice.start, slice.end());
        self.object(&list.fields, |writer, field| match field {
            ConnectionField::Typename => writer.string("RoomParticipantConnection"),
            ConnectionField::TotalCount => writer.number(i64::try_from(slice.total).unwrap_or(i64::MAX)),
            ConnectionField::PageInfo(fields) => writer.object(fields, |writer, field| match field {
                PageInfoField::Typename => writer.string("PageInfo"),
                PageInfoField::HasPreviousPage => writer.boolean(slice.has_previous_page()),
                PageInfoField::HasNextPage => writer.boolean(slice.has_next_page()),
                PageInfoField::StartCursor if end > start => writer.cursor(codec, start),
                PageInfoField::EndCursor if end > start => writer.cursor(codec, end - 1),
                PageInfoField::StartCursor | PageInfoField::EndCursor => writer.null(),
            }),
            ConnectionField::Edges(fields) => {
                writer.list(slice.offsets().zip(&slice.items), |writer, (offset, item)| {
                    writer.object(fields, |writer, field| match field {
                        EdgeField::Typename => writer.string("RoomParticipantEdge"),
                        EdgeField::Cursor => writer.cursor(codec, offset),
                        EdgeField::Node(fields) => writer.participant(item, window.listed_under, fields),
                    })
                })
            }
            ConnectionField::Nodes(fields) => {
                writer.list(slice.items.iter(), |writer, item| writer.participant(item, window.listed_under, fields))
            }
        })
    }

    fn boolean(&mut self, value: bool) -> Option<()> {
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
        Some(())
    }

    /// A listed participant, as `RoomParticipant`'s resolvers show it. Its `id` and
    /// `sessionId` are non-null: where upstream left them out, the reference answers.
    fn participant(
        &mut self,
        item: &wire::RoomParticipant,
        listed_under: Option<Uuid>,
        fields: &[Keyed<ParticipantField>],
    ) -> Option<()> {
        self.object(fields, |writer, field| match field {
            ParticipantField::Typename => writer.string("RoomParticipant"),
            ParticipantField::Id => writer.string(item.id.as_deref()?),
            ParticipantField::SessionId => match (&item.session_id, listed_under) {
                (Some(id), _) => writer.string(id),
                (None, Some(session)) => writer.display_string(session.hyphenated()),
                (None, None) => None,
            },
            ParticipantField::Context => match &item.context {
                Some(context) => writer.string(context),
                None => writer.null(),
            },
            ParticipantField::JoinedAt => writer.time(item.joined_at),
            ParticipantField::UpdatedAt => writer.time(item.updated_at),
            ParticipantField::LeftAt => writer.time(item.left_at),
        })
    }
}
