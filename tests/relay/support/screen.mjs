// Renders the Relay app with react-test-renderer on a concurrent root and lets tests wait for what
// it commits. React runs on its own scheduler with real timers, as in a browser (no `act`): a test
// starts something (the first render, `loadNext`, `refetch`, ...) and then awaits `until(...)`.

import { createElement } from 'react';
import TestRenderer from 'react-test-renderer';

import app from '../app/ParticipantList.js';

// Not an `act` test environment: updates come from network responses, outside any `act` scope.
globalThis.IS_REACT_ACT_ENVIRONMENT = false;

export class Screen {
  #waiters = new Set();

  /** What `ParticipantList` handed over at its latest commit (ids, loadNext, refetch, ...). */
  latest = null;
  error = null;

  /** Renders `<App environment sessionId first|last filter>`. */
  constructor(props) {
    const onCommit = (state) => {
      this.latest = state;
      this.#check();
    };
    const onError = (error) => {
      this.error = error;
      this.#check();
    };
    this.renderer = TestRenderer.create(createElement(app.App, { ...props, onCommit, onError }), {
      unstable_isConcurrent: true,
    });
  }

  /** The participant ids in the rendered `li`s, top to bottom. */
  renderedIds() {
    return this.renderer.root.findAllByType('li').map((li) => li.props.children);
  }

  /** The `totalCount` the rendered list shows. */
  renderedTotalCount() {
    return this.renderer.root.findByType('ul').props['data-total-count'];
  }

  /**
   * Resolves with `latest` once a commit satisfies `predicate(latest)` (at once if the latest
   * does); rejects if the app reports an error or nothing satisfies it within `timeoutMs`.
   */
  until(predicate, description, timeoutMs = 10_000) {
    return new Promise((resolve, reject) => {
      const waiter = { predicate, resolve, reject };
      waiter.timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`timed out waiting until ${description}; rendered ${JSON.stringify(this.renderer.toJSON())}`));
      }, timeoutMs);
      this.#waiters.add(waiter);
      this.#check();
    });
  }

  /** `loadNext(count)` (or `loadPrevious`), resolved once its request completed and was committed. */
  async load(direction, count) {
    const before = this.latest;
    const load = direction === 'next' ? before.loadNext : before.loadPrevious;
    await new Promise((resolve, reject) => {
      load(count, { onComplete: (error) => (error ? reject(error) : resolve()) });
    });
    const loading = direction === 'next' ? 'isLoadingNext' : 'isLoadingPrevious';
    return this.until(
      (state) => state !== before && !state[loading] && state.ids.length > before.ids.length,
      `load ${direction} (${count}) has committed`,
    );
  }

  unmount() {
    this.renderer.unmount();
  }

  #check() {
    for (const waiter of this.#waiters) {
      if (this.error) {
        waiter.reject(this.error);
      } else if (this.latest && waiter.predicate(this.latest)) {
        waiter.resolve(this.latest);
      } else {
        continue;
      }
      clearTimeout(waiter.timer);
      this.#waiters.delete(waiter);
    }
  }
}
