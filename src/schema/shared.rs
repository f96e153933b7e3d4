//! Results of streaming operations as frames, serialised once, and shared between identical
//! subscriptions.
//!
//! A room of 50 people holds 50 subscriptions to the same events with the same document; each
//! used to resolve and serialise every event for itself. Subscriptions with the same document,
//! operation, variables and audience (who they read as: the upstream credential and the room
//! scope; see [`super::Executor::execute_stream`]) now share one source: it resolves each
//! event once, serialises it once, and hands the frame to every subscriber through a bounded
//! channel. A subscriber that falls more than the buffer behind gets `SLOW_CONSUMER` and ends,
//! as with live events; the others are not slowed. Different audiences never share anything.
//!
//! Only subscriptions from now share: one that resumes after a cursor replays its own history.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use futures::stream::{BoxStream, StreamExt};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::error::AppError;
use crate::live::Cursor;

/// One result of a streaming operation, serialised once for everyone who receives it.
#[derive(Debug)]
pub struct Frame {
    /// The response (`data`, `errors`, `extensions`) as JSON.
    pub json: String,
    /// Set when the operation was refused before it ran (parse, validation, limits): its
    /// errors as JSON, for transports that answer that apart (graphql-ws's `error`).
    pub refused: Option<String>,
    /// The cursor of the event it tells of, if any.
    pub cursor: Option<Cursor>,
    /// When that event reached this process.
    pub received: Option<Instant>,
}

impl Frame {
    /// The frame of `response`; `first` tells whether it is the operation's first result (only
    /// that one can be a refusal).
    pub fn of(response: &async_graphql::Response, first: bool) -> Self {
        let json = serde_json::to_string(response)
            .unwrap_or_else(|_| r#"{"errors":[{"message":"response not serialisable"}]}"#.to_owned());
        let refused = (first && is_request_error(response))
            .then(|| serde_json::to_string(&response.errors).unwrap_or_else(|_| "[]".to_owned()));
        Self { json, refused, cursor: None, received: None }
    }

    /// The error that ends a subscriber more than its buffer behind.
    fn slow_consumer(missed: u64) -> Self {
        let error = AppError::SlowConsumer(missed);
        let error = super::spec::coded(async_graphql::ServerError::new(error.to_string(), None), error.code());
        Self::of(&async_graphql::Response::from_errors(vec![error]), false)
    }
}

/// A request that failed before execution (parse or validation): no `data` at all, and the
/// errors have no `path`. A field error that nulls the whole result still has a path.
pub fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}

/// The sources running now, by the key of what they resolve.
#[derive(Default)]
pub struct Shared {
    sources: Arc<Mutex<HashMap<[u8; 32], Weak<Source>>>>,
}

/// One shared resolution; it stops when its last subscriber goes.
struct Source {
    key: [u8; 32],
    /// Where subscribers attach; taken when the operation ends, so that then the channel
    /// closes and no one attaches to what will send nothing more.
    frames: Arc<Mutex<Option<broadcast::Sender<Arc<Frame>>>>>,
    sources: Weak<Mutex<HashMap<[u8; 32], Weak<Source>>>>,
    task: tokio::task::AbortHandle,
}

impl Drop for Source {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(sources) = self.sources.upgrade() {
            let mut sources = sources.lock().expect("shared sources lock");
            if sources.get(&self.key).is_some_and(|source| source.strong_count() == 0) {
                sources.remove(&self.key);
            }
        }
        metrics::gauge!("live_shared_sources").decrement(1.0);
    }
}

impl Shared {
    /// The frames of the source resolving `key`: the running one, else a new one resolving
    /// `results()`, each subscriber holding `buffer` frames at most. Joining and starting are
    /// one step, so identical subscriptions arriving together still share one source.
    pub fn join_or_start(
        &self,
        key: [u8; 32],
        buffer: usize,
        results: impl FnOnce() -> BoxStream<'static, Arc<Frame>>,
    ) -> BoxStream<'static, Arc<Frame>> {
        let mut sources = self.sources.lock().expect("shared sources lock");
        if let Some(source) = sources.get(&key).and_then(Weak::upgrade) {
            // `None` once its operation ended: then a new one starts.
            let receiver = source.frames.lock().expect("shared frames lock").as_ref().map(|s| s.subscribe());
            if let Some(receiver) = receiver {
                metrics::counter!("live_shared_subscriptions_total", "outcome" => "attached").increment(1);
                return frames(source, receiver);
            }
        }
        let results = results();
        let (sender, first) = broadcast::channel(buffer.max(1));
        let slot = Arc::new(Mutex::new(Some(sender.clone())));
        let ended = slot.clone();
        // The first subscriber is attached before the task runs, so it gets every result; when
        // the operation ends, the last sender goes and every subscriber's stream ends.
        let task = tokio::spawn(async move {
            futures::pin_mut!(results);
            while let Some(frame) = results.next().await {
                if sender.send(frame).is_err() {
                    break;
                }
            }
            ended.lock().expect("shared frames lock").take();
        });
        let source =
            Arc::new(Source { key, frames: slot, sources: Arc::downgrade(&self.sources), task: task.abort_handle() });
        metrics::gauge!("live_shared_sources").increment(1.0);
        metrics::counter!("live_shared_subscriptions_total", "outcome" => "started").increment(1);
        sources.insert(key, Arc::downgrade(&source));
        frames(source, first)
    }
}

/// A subscriber's frames from `source`, which it keeps running while it reads; one more than
/// the buffer behind gets a `SLOW_CONSUMER` frame and ends.
fn frames(source: Arc<Source>, receiver: broadcast::Receiver<Arc<Frame>>) -> BoxStream<'static, Arc<Frame>> {
    futures::stream::unfold(Some((source, receiver)), |state| async move {
        let (source, mut receiver) = state?;
        match receiver.recv().await {
            Ok(frame) => Some((frame, Some((source, receiver)))),
            Err(RecvError::Lagged(missed)) => {
                metrics::counter!("live_subscribers_lagged_total").increment(1);
                Some((Arc::new(Frame::slow_consumer(missed)), None))
            }
            Err(RecvError::Closed) => None,
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Arc<Frame> {
        Arc::new(Frame { json: text.to_owned(), refused: None, cursor: None, received: None })
    }

    #[tokio::test]
    async fn subscribers_of_one_source_get_the_same_frames_and_it_stops_with_the_last() {
        let shared = Shared::default();
        let (sender, receiver) = futures::channel::mpsc::unbounded::<Arc<Frame>>();
        let mut first = shared.join_or_start([1; 32], 8, || receiver.boxed());
        let mut second = shared.join_or_start([1; 32], 8, || panic!("joins the running one"));
        let (other, other_receiver) = futures::channel::mpsc::unbounded::<Arc<Frame>>();
        let mut third = shared.join_or_start([2; 32], 8, || other_receiver.boxed());
        sender.unbounded_send(frame("a")).unwrap();
        other.unbounded_send(frame("b")).unwrap();
        let (a1, a2) = (first.next().await.unwrap(), second.next().await.unwrap());
        assert!(Arc::ptr_eq(&a1, &a2), "one frame, serialised once");
        assert_eq!(third.next().await.unwrap().json, "b", "another key shares nothing");
        drop((first, second, third));
        assert!(shared.sources.lock().unwrap().is_empty(), "gone with their last subscribers");
    }

    #[tokio::test]
    async fn when_the_operation_ends_every_subscriber_s_stream_ends_and_no_one_attaches() {
        let shared = Shared::default();
        let (sender, receiver) = futures::channel::mpsc::unbounded::<Arc<Frame>>();
        let mut first = shared.join_or_start([1; 32], 8, || receiver.boxed());
        let mut second = shared.join_or_start([1; 32], 8, || panic!("joins"));
        sender.unbounded_send(frame("last")).unwrap();
        drop(sender);
        for stream in [&mut first, &mut second] {
            assert_eq!(stream.next().await.unwrap().json, "last");
            assert!(stream.next().await.is_none());
        }
        let (again, receiver) = futures::channel::mpsc::unbounded::<Arc<Frame>>();
        let mut third = shared.join_or_start([1; 32], 8, || receiver.boxed());
        again.unbounded_send(frame("new")).unwrap();
        assert_eq!(third.next().await.unwrap().json, "new", "an ended operation is not joined: a new one starts");
    }

    #[tokio::test]
    async fn a_subscriber_more_than_the_buffer_behind_gets_slow_consumer_and_ends() {
        let shared = Shared::default();
        let (sender, receiver) = futures::channel::mpsc::unbounded::<Arc<Frame>>();
        let mut fast = shared.join_or_start([1; 32], 2, || receiver.boxed());
        let mut slow = shared.join_or_start([1; 32], 2, || panic!("joins"));
        for text in ["1", "2", "3", "4"] {
            sender.unbounded_send(frame(text)).unwrap();
            assert_eq!(fast.next().await.unwrap().json, text);
        }
        let lagged = slow.next().await.unwrap();
        assert!(lagged.json.contains("SLOW_CONSUMER"), "{}", lagged.json);
        assert!(slow.next().await.is_none());
    }
}
