/**
 * One pass over a source feeding several concurrent consumers (one file writer each). Each consumer
 * holds at most `depth` undelivered items, so a fast producer waits for the slowest writer and
 * memory stays bounded. If a consumer fails, the producer stops and every other consumer sees the
 * same error, so no writer is left waiting for items that will never come.
 */

class Channel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private ended = false;
  private failure: { readonly error: unknown } | undefined;
  /** The consumer stopped taking items (finished, broke off or failed). */
  private closed = false;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  constructor(private readonly depth: number) {}

  async push(item: T): Promise<void> {
    while (!this.closed && this.items.length >= this.depth) {
      await new Promise<void>((resolve) => (this.wakeProducer = resolve));
    }
    if (this.closed) return;
    this.items.push(item);
    this.wake('consumer');
  }

  end(error?: { readonly error: unknown }): void {
    this.ended = true;
    if (error !== undefined && this.failure === undefined) this.failure = error;
    this.wake('consumer');
  }

  close(): void {
    this.closed = true;
    this.items.length = 0;
    this.wake('producer');
  }

  private wake(side: 'consumer' | 'producer'): void {
    const wake = side === 'consumer' ? this.wakeConsumer : this.wakeProducer;
    if (side === 'consumer') this.wakeConsumer = undefined;
    else this.wakeProducer = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    try {
      for (;;) {
        if (this.failure !== undefined) throw this.failure.error;
        if (this.items.length > 0) {
          const item = this.items.shift() as T;
          this.wake('producer');
          yield item;
        } else if (this.ended) {
          return;
        } else {
          await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
        }
      }
    } finally {
      this.close();
    }
  }
}

export async function fanOut<T>(source: Iterable<T>, consumers: ReadonlyArray<(items: AsyncIterable<T>) => Promise<unknown>>, depth = 1): Promise<void> {
  const channels = consumers.map(() => new Channel<T>(depth));
  let aborted = false;
  const abort = (error: unknown): void => {
    aborted = true;
    for (const ch of channels) {
      ch.end({ error });
      ch.close();
    }
  };
  // allSettled attaches a handler at once: a writer failing while the producer is still busy must
  // not count as an unhandled rejection (which ends the process).
  const settled = Promise.allSettled(
    consumers.map((consume, k) =>
      consume(channels[k]).then(
        () => channels[k].close(),
        (error: unknown) => {
          abort(error);
          throw error;
        },
      ),
    ),
  );
  try {
    for (const item of source) {
      for (const ch of channels) await ch.push(item);
      if (aborted) break;
    }
    for (const ch of channels) ch.end();
  } catch (error) {
    abort(error);
    await settled;
    throw error;
  }
  const failed = (await settled).find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
}
