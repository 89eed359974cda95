/**
 * Safetensors throughput: writes a 1 GiB checkpoint of F16 and BF16 tensors with the streaming writer, then reads
 * every tensor back through TensorRef.read(), whole and in 1 MiB ranges. The file lives in os.tmpdir() and is
 * deleted afterwards. Reads follow the write, so they measure the reader over a warm page cache, not the disk.
 */
import { randomFillSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { tensorType } from "../src/core/index.js";
import { openSafetensorsFile, writeSafetensors } from "../src/formats/safetensors/index.js";
import type { TensorToWrite } from "../src/formats/safetensors/index.js";
import { nodeFileSystem } from "../src/node/fs.js";

const ROWS = 4096;
const COLUMNS = 2048;
const TENSORS = 64; // 64 × 4096 × 2048 × 2 bytes = 1 GiB
const CHUNK = 1 << 20;

const mbPerSecond = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1e3);

export async function benchSafetensors(): Promise<Record<string, number>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "bitsmith-bench-st-"));
  try {
    const file = path.join(dir, "model.safetensors");
    // One random buffer serves every tensor: the writer copies nothing, so sharing it is safe.
    const payload = randomFillSync(new Uint8Array(ROWS * COLUMNS * 2));
    const tensors: TensorToWrite[] = Array.from({ length: TENSORS }, (_, i) => ({
      name: `model.layers.${i >> 1}.mlp.${i % 2 ? "up" : "down"}_proj.weight`,
      type: tensorType(i % 2 ? "BF16" : "F16")!,
      shape: [ROWS, COLUMNS],
      read: async () => payload,
    }));
    const totalBytes = TENSORS * payload.length;

    let t0 = performance.now();
    await writeSafetensors(nodeFileSystem, file, tensors, new Map([["format", "pt"]]));
    const writeMs = performance.now() - t0;

    t0 = performance.now();
    const ckpt = await openSafetensorsFile(nodeFileSystem, file);
    const openMs = performance.now() - t0;
    try {
      t0 = performance.now();
      for (const t of ckpt.tensors) await t.read();
      const readMs = performance.now() - t0;

      t0 = performance.now();
      for (const t of ckpt.tensors) {
        for (let at = 0; at < t.byteLength; at += CHUNK) await t.read(at, Math.min(CHUNK, t.byteLength - at));
      }
      const chunkedMs = performance.now() - t0;

      return {
        safetensors_bytes: totalBytes,
        safetensors_write_MBps: mbPerSecond(totalBytes, writeMs),
        safetensors_open_ms: openMs,
        safetensors_read_tensor_MBps: mbPerSecond(totalBytes, readMs),
        safetensors_read_1MiB_ranges_MBps: mbPerSecond(totalBytes, chunkedMs),
      };
    } finally {
      await ckpt.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
