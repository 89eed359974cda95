/**
 * The work queue of llama.cpp's merge loops: candidate merges of adjacent symbols `left` and `right`, taken by
 * smallest `key` first and, on equal keys, smallest `left` first (the SPM and BPE comparators). `size` is the
 * merged length, kept so that entries made stale by later merges can be recognised. A binary heap over
 * parallel typed arrays, reused from one merge loop to the next (clear()), as allocating them is costly.
 */
export class MergeQueue {
  private key = new Float64Array(64);
  private leftOf = new Int32Array(64);
  private rightOf = new Int32Array(64);
  private sizeOf = new Int32Array(64);
  /** Heap of entry slots; slots are not reused within one merge loop. */
  private heap = new Int32Array(64);
  private count = 0;
  private slots = 0;

  /** The last popped entry. */
  left = 0;
  right = 0;
  size = 0;

  /** Empties the queue for the next merge loop. */
  clear(): void {
    this.count = 0;
    this.slots = 0;
  }

  push(key: number, left: number, right: number, size: number): void {
    if (this.slots === this.key.length) this.grow();
    const s = this.slots++;
    this.key[s] = key;
    this.leftOf[s] = left;
    this.rightOf[s] = right;
    this.sizeOf[s] = size;
    let i = this.count++;
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(s, h[parent])) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = s;
  }

  /** Takes the first entry into left/right/size; false when the queue is empty. */
  pop(): boolean {
    if (this.count === 0) return false;
    const h = this.heap;
    const top = h[0];
    this.left = this.leftOf[top];
    this.right = this.rightOf[top];
    this.size = this.sizeOf[top];
    const last = h[--this.count];
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= this.count) break;
      if (child + 1 < this.count && this.before(h[child + 1], h[child])) child++;
      if (!this.before(h[child], last)) break;
      h[i] = h[child];
      i = child;
    }
    h[i] = last;
    return true;
  }

  private before(a: number, b: number): boolean {
    const ka = this.key[a];
    const kb = this.key[b];
    return ka < kb || (ka === kb && this.leftOf[a] < this.leftOf[b]);
  }

  private grow(): void {
    const n = this.key.length * 2;
    const resize = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T) => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.key = resize(this.key, (k) => new Float64Array(k));
    this.leftOf = resize(this.leftOf, (k) => new Int32Array(k));
    this.rightOf = resize(this.rightOf, (k) => new Int32Array(k));
    this.sizeOf = resize(this.sizeOf, (k) => new Int32Array(k));
    this.heap = resize(this.heap, (k) => new Int32Array(k));
  }
}

/**
 * The merge loop both llama.cpp tokenizers run over a word's symbols (a doubly linked list; symbol i spans
 * `length[i]` units, 0 once merged into its left neighbour): repeatedly merge the adjacent pair with the
 * smallest key, as `keyOf` gives it (undefined: the pair cannot merge). Returns `next`, the list's links, to
 * walk the surviving symbols from 0.
 */
export function mergeSymbols(queue: MergeQueue, length: number[], keyOf: (left: number, right: number) => number | undefined): number[] {
  const n = length.length;
  const prev = length.map((_, i) => i - 1);
  const next = length.map((_, i) => (i + 1 < n ? i + 1 : -1));
  queue.clear();
  const tryAdd = (left: number, right: number) => {
    if (left < 0 || right < 0) return;
    const key = keyOf(left, right);
    if (key !== undefined) queue.push(key, left, right, length[left]! + length[right]!);
  };
  for (let i = 1; i < n; i++) tryAdd(i - 1, i);
  while (queue.pop()) {
    const { left, right } = queue;
    // Skip entries whose symbols were merged into others since they were queued: symbols only grow, so equal
    // total length means the same two symbols (llama.cpp compares the texts).
    if (length[left] === 0 || length[right] === 0 || length[left]! + length[right]! !== queue.size) continue;
    length[left] += length[right]!;
    length[right] = 0;
    next[left] = next[right]!;
    if (next[right]! >= 0) prev[next[right]!] = left;
    tryAdd(prev[left]!, left);
    tryAdd(left, next[left]!);
  }
  return next;
}
