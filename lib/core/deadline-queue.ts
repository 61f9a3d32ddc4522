import { timerDelay } from './timer-delay';

/** What a `DeadlineQueue` holds: the object itself knows its place, so queuing it allocates nothing. */
export interface DeadlineEntry {
  /** Its index in the queue's heap; -1 when it is not queued. Start it at -1. */
  deadlineSlot: number;
  /** `performance.now()` at which it is due (set by `add`). */
  deadlineAt: number;
  /** Called once, when it is due and still queued (it has been removed by then). */
  onDeadline(): void;
}

/**
 * Many deadlines on one Node timer: the attempts' timeouts.
 *
 * A `setTimeout` per attempt costs more than it seems. Node keeps one timer list per duration in a priority
 * queue, creates the list when its first timer is set and deletes it when its last is cleared: with one request in
 * flight per duration, that is every request. In CPU profiles of bench:overhead's route under load, at steady state
 * (one connection), Node's timer code was 2.0–2.9% of the route process's samples with a timer per attempt, and
 * 0.5% with this queue (the bare-SDK route's own: 0.8–1.0%, for the SDK's timer).
 *
 * Here the deadlines are a binary min-heap, and one unref'd Node timer is armed for the earliest. Removing an entry
 * (the attempt answered) is a heap removal and leaves the timer as it is: when it fires it calls what is due, and
 * is armed again for the next deadline, or stops when none is left. So a timer is set about once per timeout
 * duration, not once per request. It is unref'd: an attempt in flight keeps the process alive by its socket (and
 * the SDK's own timer), so a pending deadline never keeps a finished process running.
 *
 * Never early: an entry is called when `performance.now()` has reached its deadline (Node may fire a timer up
 * to a loop turn early: it is then armed again for what is left). At most a millisecond or so late, as a Node timer.
 */
export class DeadlineQueue {
  readonly #heap: DeadlineEntry[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** The deadline the timer is armed for (Infinity: not armed). */
  #armedFor = Infinity;
  #closed = false;

  get size(): number {
    return this.#heap.length;
  }

  /** Queues `entry`, due `delayMs` from now. */
  add(entry: DeadlineEntry, delayMs: number): void {
    const at = performance.now() + delayMs;
    entry.deadlineAt = at;
    const heap = this.#heap;
    entry.deadlineSlot = heap.length;
    heap.push(entry);
    this.#up(heap.length - 1);
    if (at < this.#armedFor) this.#arm(at, delayMs);
  }

  /** Takes `entry` out (a no-op when it is not queued). The timer stays as it is (see above). */
  remove(entry: DeadlineEntry): void {
    const i = entry.deadlineSlot;
    if (i < 0) return;
    entry.deadlineSlot = -1;
    const heap = this.#heap;
    const last = heap.pop() as DeadlineEntry;
    if (i < heap.length) {
      heap[i] = last;
      last.deadlineSlot = i;
      this.#down(i);
      this.#up(last.deadlineSlot);
    }
    if (this.#closed && heap.length === 0) this.#disarm();
  }

  /**
   * Ends the queue's timer now if nothing is queued; otherwise as soon as the last entry is removed (attempts in
   * flight when their engine closes still time out).
   */
  close(): void {
    this.#closed = true;
    if (this.#heap.length === 0) this.#disarm();
  }

  #arm(at: number, delayMs: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#armedFor = at;
    this.#timer = setTimeout(DeadlineQueue.#onTimer, timerDelay(delayMs), this);
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }

  static #onTimer(q: DeadlineQueue): void {
    q.#timer = undefined;
    q.#armedFor = Infinity;
    q.#fire();
  }

  #fire(): void {
    const heap = this.#heap;
    const now = performance.now();
    while (heap.length > 0 && heap[0].deadlineAt <= now) {
      const due = heap[0];
      this.remove(due);
      try {
        due.onDeadline();
      } catch {
        // one entry failing does not keep the others from being called
      }
    }
    if (heap.length > 0) this.#arm(heap[0].deadlineAt, heap[0].deadlineAt - now);
  }

  #up(i: number): void {
    const heap = this.#heap;
    const e = heap[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p];
      if (parent.deadlineAt <= e.deadlineAt) break;
      heap[i] = parent;
      parent.deadlineSlot = i;
      i = p;
    }
    heap[i] = e;
    e.deadlineSlot = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const e = heap[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && heap[r].deadlineAt < heap[l].deadlineAt ? r : l;
      const child = heap[c];
      if (e.deadlineAt <= child.deadlineAt) break;
      heap[i] = child;
      child.deadlineSlot = i;
      i = c;
    }
    heap[i] = e;
    e.deadlineSlot = i;
  }
}
