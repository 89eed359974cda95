/**
 * Whole-model quantization against llama-quantize's files: the same bytes (metadata and every tensor) for
 * each reference recipe, from the GGUF, from the llama2.c checkpoint directly and (tensor data) from a Hugging
 * Face directory; threads that do not change a byte; requantization only on request; keep-split.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import "../../src/codecs/index.js";
import { requireCodec } from "../../src/codecs/index.js";
import { toFloat32 } from "../../src/codecs/convert.js";
import { SeededRandom } from "../../src/core/index.js";
import type { ModelSource } from "../../src/core/index.js";
import { openModel } from "../../src/model/open-model.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { WorkerRowQuantizer } from "../../src/node/worker-row-quantizer.js";
import { openGgufModel, getNumber } from "../../src/formats/gguf/index.js";
import type { GgufModel } from "../../src/formats/gguf/index.js";
import { convertToGguf } from "../../src/convert/to-gguf.js";
import { convertToHf } from "../../src/convert/to-hf.js";
import { readImatrix } from "../../src/formats/imatrix/index.js";
import type { Imatrix } from "../../src/formats/imatrix/index.js";
import { quantizeModel } from "../../src/quantize/quantize-model.js";
import type { QuantizeModelOptions } from "../../src/quantize/quantize-model.js";
import { F32_GGUF, IMATRIX_DAT, IMATRIX_GGUF, LLAMA2C, MODELS, referenceQuantizations } from "./reference-models.js";
import { writeSyntheticLlama } from "./synthetic-model.js";

function tmpDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), "bitsmith-quantize-"));
}

async function quantizeFile(input: string, out: string, options: QuantizeModelOptions): Promise<string[]> {
  const src = await openModel(nodeFileSystem, input);
  try {
    return (await quantizeModel(src, nodeFileSystem, out, options)).files;
  } finally {
    await src.close();
  }
}

/** The imatrix as llama-quantize was given it: the path on its command line is recorded in the output. */
async function referenceImatrix(arg: string): Promise<Imatrix> {
  return { ...(await readImatrix(nodeFileSystem, IMATRIX_GGUF)), source: arg };
}

async function tensorData(m: ModelSource): Promise<Map<string, { type: string; bytes: Buffer }>> {
  const out = new Map<string, { type: string; bytes: Buffer }>();
  for (const t of m.tensors) out.set(t.name, { type: t.type.name, bytes: Buffer.from(await t.read()) });
  return out;
}

test("each reference recipe gives llama-quantize's file byte for byte (metadata, tensor order, every tensor)", async () => {
  const dir = tmpDir();
  try {
    for (const ref of referenceQuantizations()) {
      const out = path.join(dir, path.basename(ref.file));
      const imatrix = ref.imatrixArg ? await referenceImatrix(ref.imatrixArg) : undefined;
      await quantizeFile(F32_GGUF, out, { type: ref.type, tensorTypes: ref.tensorTypes, imatrix });
      const mine = readFileSync(out);
      const theirs = readFileSync(ref.file);
      if (!mine.equals(theirs)) {
        // Name what differs before failing.
        const a = await openGgufModel(nodeFileSystem, out);
        const b = await openGgufModel(nodeFileSystem, ref.file);
        assert.deepEqual([...a.metadata.keys()], [...b.metadata.keys()], `${path.basename(ref.file)}: metadata keys`);
        const ta = await tensorData(a);
        for (const [name, t] of await tensorData(b)) {
          assert.equal(ta.get(name)?.type, t.type, `${path.basename(ref.file)}: ${name} type`);
          assert.ok(ta.get(name)!.bytes.equals(t.bytes), `${path.basename(ref.file)}: ${name} bytes`);
        }
        await a.close();
        await b.close();
        assert.fail(`${path.basename(ref.file)}: files differ`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the legacy .dat imatrix of the same run gives the same Q4_0-imatrix file as the GGUF one", async () => {
  const dir = tmpDir();
  try {
    const ref = referenceQuantizations().find((r) => r.imatrixArg)!;
    const out = path.join(dir, "q.gguf");
    // Recorded under the name llama-quantize was given, so the metadata can match too.
    const imatrix = { ...(await readImatrix(nodeFileSystem, IMATRIX_DAT)), source: ref.imatrixArg! };
    await quantizeFile(F32_GGUF, out, { type: ref.type, tensorTypes: ref.tensorTypes, imatrix });
    assert.ok(readFileSync(out).equals(readFileSync(ref.file)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the llama2.c checkpoint quantizes directly (no intermediate file) to llama.cpp's Q4_0 file", async () => {
  const dir = tmpDir();
  try {
    const out = path.join(dir, "q.gguf");
    await quantizeFile(LLAMA2C, out, { type: "Q4_0", tensorTypes: ["ffn_down=f16"] });
    assert.ok(readFileSync(out).equals(readFileSync(path.join(MODELS, "stories260K-Q4_0.gguf"))));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a Hugging Face directory quantizes directly to the same tensors as llama.cpp's Q8_0 file", async () => {
  const dir = tmpDir();
  try {
    const f32 = await openGgufModel(nodeFileSystem, F32_GGUF);
    await convertToHf(f32, nodeFileSystem, path.join(dir, "hf"));
    await f32.close();
    const out = path.join(dir, "q.gguf");
    await quantizeFile(path.join(dir, "hf"), out, { type: "Q8_0", tensorTypes: ["ffn_down=f16"] });
    const mine = await openGgufModel(nodeFileSystem, out);
    const ref = await openGgufModel(nodeFileSystem, path.join(MODELS, "stories260K-Q8_0.gguf"));
    assert.deepEqual(
      mine.tensors.map((t) => t.name),
      ref.tensors.map((t) => t.name),
    );
    assert.deepEqual(await tensorData(mine), await tensorData(ref));
    assert.equal(getNumber(mine.metadata, "general.file_type"), 7);
    assert.equal(getNumber(mine.metadata, "general.quantization_version"), 2);
    await mine.close();
    await ref.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("worker threads give the same bytes as one thread (k-quants, an i-quant with an imatrix, MoE experts)", async () => {
  const dir = tmpDir();
  const pool = new WorkerRowQuantizer(3);
  try {
    const input = path.join(dir, "moe.gguf");
    const model = { layers: 1, hidden: 256, ffn: 256, heads: 4, kvHeads: 1, vocab: 256, experts: 2, type: "F16" as const };
    await writeSyntheticLlama(input, model);
    // An importance matrix for this model: positive weights, one run of columns per expert for expert tensors.
    const rng = new SeededRandom(3);
    const entries = new Map<string, { sums: Float32Array; counts: Float64Array }>();
    const src = await openModel(nodeFileSystem, input);
    for (const t of src.tensors) {
      if (!t.name.startsWith("blk.") || t.shape.length < 2 || t.name.includes("norm") || t.name.includes("gate_inp")) continue;
      const experts = t.shape.length === 3 ? t.shape[0]! : 1;
      const sums = Float32Array.from({ length: experts * t.shape.at(-1)! }, () => 100 * rng.next() + 1);
      entries.set(t.name, { sums, counts: new Float64Array(experts).fill(100) });
    }
    await src.close();
    const imatrix: Imatrix = { source: "synthetic", layout: "gguf", entries, datasets: ["none"], chunkCount: 1, chunkSize: 100 };
    for (const type of ["Q4_K_M", "IQ4_XS"]) {
      const one = path.join(dir, `${type}-1.gguf`);
      const three = path.join(dir, `${type}-3.gguf`);
      await quantizeFile(input, one, { type, imatrix });
      await quantizeFile(input, three, { type, imatrix, rowQuantizer: pool });
      assert.ok(readFileSync(one).equals(readFileSync(three)), type);
    }
    // Each expert is quantized with its own slice of the importance matrix (llama.cpp's imatrix + i03*n_per_row).
    const q = await openGgufModel(nodeFileSystem, path.join(dir, "IQ4_XS-1.gguf"));
    const f = await openGgufModel(nodeFileSystem, input);
    const name = "blk.0.ffn_up_exps.weight";
    const qt = q.tensors.find((t) => t.name === name)!;
    const ft = f.tensors.find((t) => t.name === name)!;
    const [experts, rows, cols] = ft.shape as [number, number, number];
    const values = toFloat32(await ft.read(), ft.type, experts * rows * cols);
    const codec = requireCodec(qt.type.name);
    const expected = new Uint8Array(qt.byteLength);
    const perExpert = qt.byteLength / experts;
    for (let e = 0; e < experts; e++) {
      const w = entries.get(name)!.sums.subarray(e * cols, (e + 1) * cols).map((s) => s / 100);
      expected.set(codec.quantize(values.subarray(e * rows * cols, (e + 1) * rows * cols), rows, cols, w), e * perExpert);
    }
    assert.ok(Buffer.from(await qt.read()).equals(Buffer.from(expected)), `${name}: per-expert importance`);
    await q.close();
    await f.close();
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("quantized input is converted only with allowRequantize, by dequantizing then quantizing", async () => {
  const dir = tmpDir();
  try {
    const q4 = path.join(MODELS, "stories260K-Q4_0.gguf");
    const out = path.join(dir, "q8.gguf");
    await assert.rejects(quantizeFile(q4, out, { type: "Q8_0", tensorTypes: ["ffn_down=f16"] }), /already quantized \(Q4_0\).*--allow-requantize/);
    assert.deepEqual(readdirSync(dir), []);
    await quantizeFile(q4, out, { type: "Q8_0", tensorTypes: ["ffn_down=f16"], allowRequantize: true });
    const a = await openGgufModel(nodeFileSystem, q4);
    const b = await openGgufModel(nodeFileSystem, out);
    for (const t of a.tensors) {
      const u = b.tensors.find((x) => x.name === t.name)!;
      if (t.type.name !== "Q4_0") {
        assert.ok(Buffer.from(await u.read()).equals(Buffer.from(await t.read())), `${t.name} copied`);
        continue;
      }
      const count = t.shape.reduce((x, y) => x * y, 1);
      const expected = requireCodec("Q8_0").quantize(toFloat32(await t.read(), t.type, count), count / t.shape.at(-1)!, t.shape.at(-1)!);
      assert.equal(u.type.name, "Q8_0");
      assert.ok(Buffer.from(await u.read()).equals(Buffer.from(expected)), t.name);
    }
    await a.close();
    await b.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("keepSplit writes one file per input shard with the same tensors, and the result opens as a split model", async () => {
  const dir = tmpDir();
  try {
    const f32 = await openModel(nodeFileSystem, F32_GGUF);
    const shards = (await convertToGguf(f32, nodeFileSystem, path.join(dir, "in.gguf"), { split: { maxTensorsPerShard: 20 } })).files;
    await f32.close();
    assert.equal(shards.length, 3);
    const files = await quantizeFile(shards[0]!, path.join(dir, "out.gguf"), { type: "Q8_0", tensorTypes: ["ffn_down=f16"], keepSplit: true });
    assert.deepEqual(files.map((f) => path.basename(f)), ["out-00001-of-00003.gguf", "out-00002-of-00003.gguf", "out-00003-of-00003.gguf"]);
    const input = (await openGgufModel(nodeFileSystem, shards[0]!)) as GgufModel;
    const output = (await openGgufModel(nodeFileSystem, files[0]!)) as GgufModel;
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(
        output.shards[i]!.tensors.map((t) => t.name),
        input.shards[i]!.tensors.map((t) => t.name),
        `shard ${i}`,
      );
      assert.deepEqual([...output.shards[i]!.metadata.keys()].filter((k) => k.startsWith("split.")), ["split.no", "split.count", "split.tensors.count"]);
    }
    const ref = await openGgufModel(nodeFileSystem, path.join(MODELS, "stories260K-Q8_0.gguf"));
    assert.deepEqual(await tensorData(output), await tensorData(ref));
    await Promise.all([input.close(), output.close(), ref.close()]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
