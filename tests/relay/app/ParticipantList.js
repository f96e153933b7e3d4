'use strict';
// A small Relay app: a room session's participants as a list that pages both ways and can be
// refetched with another filter, through a `@refetchable` pagination fragment on `RoomSession`.
// relay-compiler compiles the `graphql` documents below against the repository's schema.graphql.

const { Component, Suspense, createElement: h, useEffect } = require('react');
const { RelayEnvironmentProvider, useLazyLoadQuery, usePaginationFragment } = require('react-relay');

const { graphql } = require('./graphql');

const participantListQuery = graphql`
  query ParticipantListQuery($id: ID!, $filter: RoomParticipantFilter, $first: Int, $last: Int) {
    roomSession(id: $id) {
      id
      ...ParticipantList_session @arguments(filter: $filter, first: $first, last: $last)
    }
  }
`;

const sessionFragment = graphql`
  fragment ParticipantList_session on RoomSession
  @refetchable(queryName: "ParticipantListPaginationQuery")
  @argumentDefinitions(
    filter: { type: "RoomParticipantFilter" }
    first: { type: "Int" }
    after: { type: "String" }
    last: { type: "Int" }
    before: { type: "String" }
  ) {
    id
    participants(filter: $filter, first: $first, after: $after, last: $last, before: $before)
      @connection(key: "ParticipantList_participants", filters: ["filter"]) {
      totalCount
      edges {
        cursor
        node {
          id
          context
        }
      }
    }
  }
`;

/**
 * One `li` per participant, in the connection's order. After each commit it hands `onCommit`
 * what it rendered and the pagination controls (`loadNext`, `loadPrevious`, `refetch`, ...).
 */
function ParticipantList({ session, onCommit }) {
  const pagination = usePaginationFragment(sessionFragment, session);
  const { participants } = pagination.data;
  useEffect(() => {
    onCommit({ ...pagination, ids: participants.edges.map((edge) => edge.node.id) });
  });
  return h(
    'ul',
    { 'data-total-count': participants.totalCount },
    participants.edges.map(({ node }) => h('li', { key: node.id, 'data-context': node.context }, node.id)),
  );
}

/** The session's first `first` (or last `last`) participants, optionally filtered. */
function SessionParticipants({ sessionId, filter, first, last, onCommit }) {
  const data = useLazyLoadQuery(participantListQuery, { id: sessionId, filter, first, last });
  if (!data.roomSession) return h('p', null, `No room session ${sessionId}`);
  return h(ParticipantList, { session: data.roomSession, onCommit });
}

/** Shows a failed query or refetch instead of the list, and reports it. */
class ErrorBoundary extends Component {
  constructor(props) {
    super(props);
    this.state = { error: null };
  }

  static getDerivedStateFromError(error) {
    return { error };
  }

  componentDidCatch(error) {
    this.props.onError(error);
  }

  render() {
    return this.state.error ? h('p', { role: 'alert' }, String(this.state.error.message)) : this.props.children;
  }
}

function App({ environment, onError = () => {}, ...props }) {
  return h(
    RelayEnvironmentProvider,
    { environment },
    h(ErrorBoundary, { onError }, h(Suspense, { fallback: h('p', null, 'Loading…') }, h(SessionParticipants, props))),
  );
}

module.exports = { App, SessionParticipants, ParticipantList };
