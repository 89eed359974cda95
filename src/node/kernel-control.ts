/**
 * The shared control block of kernel tasks: how many are still running and the first error, in a
 * SharedArrayBuffer, so the thread that started them can block in Atomics.wait (it reads no messages
 * meanwhile) and workers can report without a message.
 */
const PENDING = 0;
const FAILED = 1;
const MESSAGE_LENGTH = 2;
const HEADER_BYTES = 16;
const MESSAGE_BYTES = 4096;

export class KernelControl {
  private readonly words: Int32Array;
  private readonly text: Uint8Array;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(HEADER_BYTES + MESSAGE_BYTES)) {
    this.words = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.text = new Uint8Array(buffer, HEADER_BYTES, MESSAGE_BYTES);
  }

  /** Before starting `count` tasks. */
  begin(count: number): void {
    Atomics.store(this.words, FAILED, 0);
    Atomics.store(this.words, PENDING, count);
  }

  /** A worker finished a task (after fail, if it failed). */
  done(): void {
    if (Atomics.sub(this.words, PENDING, 1) === 1) Atomics.notify(this.words, PENDING);
  }

  /** Records the first failure's message. */
  fail(message: string): void {
    if (Atomics.compareExchange(this.words, FAILED, 0, 1) !== 0) return;
    const { written } = new TextEncoder().encodeInto(message, this.text);
    Atomics.store(this.words, MESSAGE_LENGTH, written);
  }

  /** Blocks until every task is done; throws the first failure. */
  wait(): void {
    for (;;) {
      const pending = Atomics.load(this.words, PENDING);
      if (pending === 0) break;
      Atomics.wait(this.words, PENDING, pending);
    }
    if (Atomics.load(this.words, FAILED) !== 0) {
      const length = Atomics.load(this.words, MESSAGE_LENGTH);
      throw new Error(`kernel worker failed: ${new TextDecoder().decode(this.text.slice(0, length))}`);
    }
  }
}
