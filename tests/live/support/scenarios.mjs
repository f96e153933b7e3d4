// What every transport must carry, written once: the graphql-ws, graphql-sse and gateway suites
// run these with their own client. `subscribe(query, variables, sink)` starts an operation with
// that client and returns a function that ends it.

import assert from 'node:assert/strict';

import {
  Inbox,
  deliverOk,
  describe as describeItem,
  eventId,
  events,
  ids,
  rest,
  sessionParticipants,
  untilGauges,
  untilLive,
} from './live.mjs';

export const ROOM_EVENTS = /* GraphQL */ `
  subscription RoomEvents($roomId: ID!) {
    roomEvents(roomId: $roomId) {
      __typename
      id
      occurredAt
      room { id }
      session { id }
      ... on ParticipantJoined { participant { id context joinedAt leftAt } }
      ... on ParticipantLeft { participant { id context leftAt } durationSecs leftReason }
      ... on RoomSessionEnded { durationSecs endedReason }
    }
  }
`;

export const SESSION_EVENTS = /* GraphQL */ `
  subscription SessionEvents($sessionId: ID!) {
    roomSessionEvents(sessionId: $sessionId) { __typename id session { id } }
  }
`;

/** Starts `query` with `subscribe` and returns its inbox and `stop()`. */
export function open(subscribe, query, variables, field) {
  const inbox = new Inbox((result) => result?.data?.[field]);
  const stop = subscribe(query, variables, inbox.sink);
  return { inbox, stop };
}

/** Someone still in the sample's active session (so looking them up finds `leftAt: null`). */
export async function someoneStillIn(stack) {
  const participants = await sessionParticipants(stack.upstreamBaseUrl);
  const someone = participants.find((participant) => participant.left_at === null);
  assert.ok(someone, 'the sample session has someone still in it');
  return someone;
}

/**
 * A participant joins, the delivery is repeated (Telnyx delivers at least once), they leave and
 * the session ends: the subscriber hears each once, in order, with the webhook's own data.
 */
export async function joinRedeliverLeaveEnd(stack, subscribe, { field = 'roomEvents', query = ROOM_EVENTS, variables = { roomId: ids.ROOM } } = {}) {
  const someone = await someoneStillIn(stack);
  const { inbox, stop } = open(subscribe, query, variables, field);
  try {
    await untilLive(stack, () => inbox.live());

    const joinedAt = '2026-11-30T09:46:20.954863Z';
    const joined = eventId('joined');
    const first = await deliverOk(stack, events.joined(joined, { participantId: someone.id, context: 'Zoë 🎥 (live)', occurredAt: joinedAt }));
    assert.equal(first.body.outcome, 'accepted');
    assert.deepEqual(await inbox.nextEvent(), {
      __typename: 'ParticipantJoined',
      id: joined,
      occurredAt: joinedAt,
      room: { id: ids.ROOM },
      session: { id: ids.SESSION },
      // The context and the time come from the webhook; `leftAt` from looking them up.
      participant: { id: someone.id, context: 'Zoë 🎥 (live)', joinedAt, leftAt: null },
    });

    // Telnyx's retries of the same event: acknowledged, never published again.
    for (let attempt = 2; attempt <= 3; attempt++) {
      const again = events.joined(joined, { participantId: someone.id, context: 'Zoë 🎥 (live)', occurredAt: joinedAt });
      again.meta.attempt = attempt;
      assert.equal((await deliverOk(stack, again)).body.outcome, 'duplicate');
    }

    const leftAt = '2026-11-30T10:16:21.000123Z';
    const left = eventId('left');
    await deliverOk(
      stack,
      events.left(left, { participantId: someone.id, context: 'Zoë 🎥 (live)', occurredAt: leftAt, durationSecs: 1800, leftReason: 'leave' }),
    );
    // The next thing heard is the leaving, not the joining again.
    assert.deepEqual(await inbox.nextEvent(), {
      __typename: 'ParticipantLeft',
      id: left,
      occurredAt: leftAt,
      room: { id: ids.ROOM },
      session: { id: ids.SESSION },
      participant: { id: someone.id, context: 'Zoë 🎥 (live)', leftAt },
      durationSecs: 1800,
      leftReason: 'leave',
    });

    const endedAt = '2026-11-30T11:00:00.500000Z';
    const ended = eventId('ended');
    await deliverOk(stack, events.sessionEnded(ended, { occurredAt: endedAt, durationSecs: 4200, endedReason: 'shutdown' }));
    assert.deepEqual(await inbox.nextEvent(), {
      __typename: 'RoomSessionEnded',
      id: ended,
      occurredAt: endedAt,
      room: { id: ids.ROOM },
      session: { id: ids.SESSION },
      durationSecs: 4200,
      endedReason: 'shutdown',
    });
    inbox.assertEmpty();
  } finally {
    stop();
  }
}

/**
 * A `roomEvents` subscription for the sample room and a `roomSessionEvents` one for another
 * room's session run side by side: each hears its own events only, and an unknown event type is
 * acknowledged and heard by neither.
 */
export async function eachSubscriberHearsItsOwn(stack, subscribe) {
  const { data: sessions } = await rest(stack.upstreamBaseUrl, '/room_sessions?page[size]=250&page[number]=1');
  const other = sessions.find((session) => session.room_id !== ids.ROOM);
  assert.ok(other, 'the sample has a session in another room');

  const room = open(subscribe, ROOM_EVENTS, { roomId: ids.ROOM }, 'roomEvents');
  const session = open(subscribe, SESSION_EVENTS, { sessionId: other.id }, 'roomSessionEvents');
  try {
    await untilLive(stack, () => room.inbox.live());
    await untilLive(stack, () => session.inbox.live(), { roomId: other.room_id, sessionId: other.id });

    const recording = eventId('recording');
    const ignored = await deliverOk(stack, {
      data: { record_type: 'event', event_type: 'video.room.recording.saved', id: recording, occurred_at: '2026-11-30T10:00:00.000000Z', payload: { room_id: ids.ROOM, session_id: ids.SESSION } },
    });
    assert.equal(ignored.body.outcome, 'ignored');

    const there = eventId('there');
    await deliverOk(stack, events.sessionEnded(there, { occurredAt: '2026-11-30T10:00:01.000000Z', roomId: other.room_id, sessionId: other.id, durationSecs: 60, endedReason: 'timeout' }));
    const here = eventId('here');
    await deliverOk(stack, events.sessionStarted(here, { occurredAt: '2026-11-30T10:00:02.000000Z' }));

    assert.deepEqual(await session.inbox.nextEvent(), { __typename: 'RoomSessionEnded', id: there, session: { id: other.id } });
    const heard = await room.inbox.nextEvent();
    assert.equal(heard.id, here, `the room subscriber heard ${JSON.stringify(heard)}`);
    assert.equal(heard.__typename, 'RoomSessionStarted');
    room.inbox.assertEmpty();
    session.inbox.assertEmpty();
  } finally {
    room.stop();
    session.stop();
  }
}

/** Ending an operation from the client ends it on the server (`live_subscriptions` drops). */
export async function unsubscribingReleasesTheServerSide(stack, subscribe) {
  await untilGauges(stack.baseUrl, ({ subscriptions }) => subscriptions === 0);
  const { inbox, stop } = open(subscribe, ROOM_EVENTS, { roomId: ids.ROOM }, 'roomEvents');
  await untilLive(stack, () => inbox.live());
  await untilGauges(stack.baseUrl, ({ subscriptions }) => subscriptions === 1);
  stop();
  await untilGauges(stack.baseUrl, ({ subscriptions }) => subscriptions === 0);
}

/** The detailed selection of `ROOM_EVENTS`, for one session: it hears the same events. */
export const SESSION_EVENTS_DETAILED = /* GraphQL */ `
  subscription SessionEvents($sessionId: ID!) {
    roomSessionEvents(sessionId: $sessionId) {
      __typename
      id
      occurredAt
      room { id }
      session { id }
      ... on ParticipantJoined { participant { id context joinedAt leftAt } }
      ... on ParticipantLeft { participant { id context leftAt } durationSecs leftReason }
      ... on RoomSessionEnded { durationSecs endedReason }
    }
  }
`;

/** A `roomSessionEvents` operation hears what `roomEvents` does, for its session. */
export async function sessionEventsHearTheSame(stack, subscribe) {
  await joinRedeliverLeaveEnd(stack, subscribe, {
    field: 'roomSessionEvents',
    variables: { sessionId: ids.SESSION },
    query: SESSION_EVENTS_DETAILED,
  });
}

/** An unknown room fails while the operation runs: one result with NOT_FOUND naming it, then the end. */
export async function unknownRoomIsNotFound(subscribe) {
  const inbox = new Inbox((result) => result?.data?.roomEvents);
  const stop = subscribe(`subscription { roomEvents(roomId: "${ids.UNKNOWN_ROOM}") { id } }`, {}, inbox.sink);
  try {
    const item = await inbox.next();
    assert.equal(item.type, 'next', describeItem(item));
    assert.equal(item.value.data, null, describeItem(item));
    assert.equal(item.value.errors[0].extensions.code, 'NOT_FOUND', describeItem(item));
    assert.match(item.value.errors[0].message, new RegExp(ids.UNKNOWN_ROOM));
    assert.deepEqual(await inbox.next(), { type: 'complete' });
  } finally {
    stop();
  }
}
