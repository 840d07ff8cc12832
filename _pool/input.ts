/**
 * A pool run's input, whatever form the caller gave it: an iterable or an
 * async iterable of argument arrays, or a function that gives each worker
 * its next arguments (`undefined`: that worker gets no more). The run asks
 * for one item at a time, for a given worker; an async iterable is read
 * one `next()` at a time, ahead of demand by at most one item.
 *
 * @module
 */

/** `take()` found nothing yet: an async source is reading. */
export const WAIT: unique symbol = Symbol("wait");
/** `take()` found nothing, and nothing more will come for this worker. */
export const NONE: unique symbol = Symbol("none");

/**
 * What `take()` found: an item's arguments (as the source gave them, not
 * yet checked), {@linkcode WAIT} or {@linkcode NONE}. No wrapper object:
 * this runs once per item.
 */
export type Taken = unknown;

/** A run's input, read one item at a time. */
export interface Input<W> {
  /** The number of items when known up front (an array), for the automatic chunk. */
  readonly length: number | undefined;
  /**
   * The next item for `worker`: its arguments, `WAIT` (an async source
   * is reading; `wake` is called once it has something) or `NONE` (no
   * more for this worker). Throws what the source throws.
   */
  take(worker: W): Taken;
  /**
   * Whether nothing more will come; `allExhausted` says whether every
   * worker was told "none" (what ends a function input).
   */
  done(allExhausted: () => boolean): boolean;
  /** Stops reading (the run ended early); closes an iterator. */
  stop(): void;
}

/**
 * Wraps what the caller passed as a run's input.
 *
 * @param input An iterable, an async iterable or a function of the worker.
 * @param wake Called when an async source has read an item, or failed.
 * @throws {TypeError} If `input` is none of these.
 */
export function inputOf<W>(
  input: unknown,
  wake: (error?: unknown) => void,
): Input<W> {
  if (typeof input === "function") return functionInput(input as never);
  if (input !== null && typeof input === "object") {
    const object = input as Partial<Iterable<unknown> & AsyncIterable<unknown>>;
    if (typeof object[Symbol.iterator] === "function") {
      return iterableInput(object as Iterable<unknown>);
    }
    if (typeof object[Symbol.asyncIterator] === "function") {
      return asyncInput(object as AsyncIterable<unknown>, wake);
    }
  }
  throw new TypeError(
    `Cannot run ${
      Deno.inspect(input)
    } as input: expected an iterable or async iterable of argument arrays, or a function of the worker`,
  );
}

function functionInput<W>(next: (worker: W) => unknown): Input<W> {
  return {
    length: undefined,
    take: (worker) => {
      const args = next(worker);
      return args === undefined ? NONE : args;
    },
    done: (allExhausted) => allExhausted(),
    stop: () => {},
  };
}

function iterableInput<W>(iterable: Iterable<unknown>): Input<W> {
  if (Array.isArray(iterable)) return arrayInput(iterable);
  const iterator = iterable[Symbol.iterator]();
  let finished = false;
  return {
    length: undefined,
    take: () => {
      if (finished) return NONE;
      let step: IteratorResult<unknown>;
      try {
        step = iterator.next();
      } catch (error) {
        finished = true;
        throw error;
      }
      if (step.done) {
        finished = true;
        return NONE;
      }
      return step.value;
    },
    done: () => finished,
    stop: () => {
      if (finished) return;
      finished = true;
      iterator.return?.();
    },
  };
}

/** An array, read by index (no iterator step per item). */
function arrayInput<W>(array: readonly unknown[]): Input<W> {
  let next = 0;
  let stopped = false;
  return {
    length: array.length,
    take: () => (stopped || next >= array.length ? NONE : array[next++]),
    done: () => stopped || next >= array.length,
    stop: () => {
      stopped = true;
    },
  };
}

function asyncInput<W>(
  iterable: AsyncIterable<unknown>,
  wake: (error?: unknown) => void,
): Input<W> {
  const iterator = iterable[Symbol.asyncIterator]();
  const buffer: unknown[] = [];
  let reading = false;
  let finished = false;
  let stopped = false;
  const read = () => {
    reading = true;
    let step: Promise<IteratorResult<unknown>>;
    try {
      step = Promise.resolve(iterator.next());
    } catch (error) {
      step = Promise.reject(error);
    }
    step.then((result) => {
      reading = false;
      if (stopped) return;
      if (result.done) finished = true;
      else buffer.push(result.value);
      wake();
    }, (error) => {
      reading = false;
      finished = true;
      if (!stopped) wake(error);
    });
  };
  return {
    length: undefined,
    take: () => {
      if (buffer.length > 0) {
        const args = buffer.shift();
        // Read the next one now: it is likely wanted.
        if (!finished && !reading) read();
        return args;
      }
      if (finished || stopped) return NONE;
      if (!reading) read();
      return WAIT;
    },
    done: () => (finished || stopped) && buffer.length === 0,
    stop: () => {
      if (stopped) return;
      stopped = true;
      buffer.length = 0;
      if (!finished) void Promise.resolve(iterator.return?.()).catch(() => {});
    },
  };
}
