// The client rule for one conversation's event stream (docs/PROTOCOL.md, "Event streams").
// No dependencies, no I/O: feed it live events and `sync` results, apply what it hands back, and `sync`
// when needsSync() says so (and on every reconnect). Mirrors examples/python/event_stream.py.

export const HOLE_WAIT_MS = 1000; // workers hold reordered events for at most 200 ms

export class EventStream {
  constructor(mark = 0, holeWaitMs = HOLE_WAIT_MS) {
    this.mark = mark; // every change up to this eventSeq has been applied
    this.holeWaitMs = holeWaitMs;
    this.held = new Map(); // events after a hole, by eventSeq
    this.holeSince = null;
  }

  // The events to apply now, in order: this one and the held ones that follow on.
  onEvent(data) {
    const n = data?.eventSeq;
    if (!Number.isInteger(n)) return [data]; // not a numbered change: apply as it comes
    if (n <= this.mark) return []; // already applied (live or through sync)
    this.held.set(n, data);
    const ready = this.#followOn();
    if (this.held.size === 0) this.holeSince = null;
    else if (this.holeSince === null) this.holeSince = Date.now();
    return ready;
  }

  // True when a hole has stayed open past the wait: call `sync` from `mark`.
  needsSync() {
    return this.holeSince !== null && Date.now() - this.holeSince >= this.holeWaitMs;
  }

  // Take a `sync` result: returns [messages to apply in their current state, held events to apply after].
  onSync(result) {
    const messages = result.messages ?? [];
    const top = Math.max(result.latestEventSeq ?? 0, ...messages.map((m) => m.lastEventSeq ?? 0));
    this.mark = Math.max(this.mark, top);
    for (const n of [...this.held.keys()]) if (n <= this.mark) this.held.delete(n);
    const ready = this.#followOn();
    this.holeSince = this.held.size ? Date.now() : null;
    return [messages, ready];
  }

  #followOn() {
    const ready = [];
    while (this.held.has(this.mark + 1)) {
      ready.push(this.held.get(this.mark + 1));
      this.held.delete(this.mark + 1);
      this.mark += 1;
    }
    return ready;
  }
}
