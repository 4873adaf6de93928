/**
 * Freeing request-body memory as soon as the backend socket has written it. Node's HTTP server
 * copies every request-body segment into a fresh buffer; V8 frees such buffers only at a GC, and
 * starts one for them only after 64 MiB more of them — 64 uploads kept over 100 MB of written
 * bytes alive (bench/proxy/PERFORMANCE.md, Memory). Detaching a buffer's ArrayBuffer
 * (`transfer(0)`) drops its memory at once; it is only done to a buffer that is the whole of its
 * ArrayBuffer (never a slice of a shared pool) and that nothing will read again.
 */

/** Frees `chunk`'s memory now if it is the whole of its ArrayBuffer; otherwise does nothing. */
export function freeWholeBuffer(chunk: Buffer): void {
  const memory = chunk.buffer;
  if (memory instanceof ArrayBuffer && !memory.detached && ownsItsMemory(chunk)) memory.transfer(0);
}

/** True when `chunk` spans its whole ArrayBuffer: a buffer of its own, not a slice of a pool. */
export function ownsItsMemory(chunk: Buffer): boolean {
  return chunk.byteOffset === 0 && chunk.buffer.byteLength === chunk.byteLength;
}

/**
 * For a body whose chunks are views of other buffers (an aws-chunked decoder's data views of the
 * client's chunks): the producer counts each view it hands on ({@link hold}) before handing it
 * on, the writer reports each one written ({@link written}), and a buffer is freed when the last
 * counted view of it is done. Views of buffers never counted (framing the producer made up, a
 * shared constant) are ignored. Per request: what is never written is left to the GC with it.
 */
export class BodyChunkLedger {
  readonly #pending = new Map<ArrayBufferLike, number>();

  /**
   * `view` of `source` goes out; `source` is a buffer of its own that the producer will not read
   * again once its views are out. Not counted (so never freed) when `source` is a slice.
   */
  hold(view: Buffer, source: Buffer): void {
    if (!ownsItsMemory(source)) return;
    const memory = view.buffer;
    this.#pending.set(memory, (this.#pending.get(memory) ?? 0) + 1);
  }

  /** `view` has been written (or will never be): frees its buffer after its last counted view. */
  written(view: Buffer): void {
    const memory = view.buffer;
    const n = this.#pending.get(memory);
    if (n === undefined) return;
    if (n > 1) {
      this.#pending.set(memory, n - 1);
      return;
    }
    this.#pending.delete(memory);
    if (memory instanceof ArrayBuffer && !memory.detached) memory.transfer(0);
  }
}
