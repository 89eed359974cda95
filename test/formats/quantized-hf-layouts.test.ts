/**
 * The layouts pinned to their public specifications, since no Python loader runs here:
 *   - values worked by hand from the packing rules the sources document;
 *   - whole tensors compared with independent transcriptions of the reference packers and unpackers
 *     (AutoGPTQ's pack loop and its forward's unpacking, AutoAWQ's from_linear and unpack_awq/reverse_awq_order,
 *     compressed-tensors' pack_to_int32/unpack_from_int32), written here from those sources' descriptions;
 *   - config.json / quantize_config.json keys and values as the loaders read them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/index.js";
import type { ModelSource } from "../../src/core/index.js";
import type { QuantizedLinear } from "../../src/formats/quantized-hf/index.js";
import { int32Tensor, openWritten, randomLinear, readJson, tensorDtype, tensorShape, writeModel } from "./quantized-hf-helpers.js";

const NAME = "model.layers.0.mlp.down_proj";

/** A linear whose codes are all `fill` except the listed (output, input, code) cells. */
function linear(out: number, n: number, bits: number, cells: [number, number, number][], extra: Partial<QuantizedLinear> = {}, fill = 0): QuantizedLinear {
  const codes = new Uint8Array(out * n).fill(fill);
  for (const [j, i, c] of cells) codes[j * n + i] = c;
  const groupSize = extra.groupSize ?? -1;
  const groups = groupSize === -1 ? 1 : n / groupSize;
  return { name: NAME, outFeatures: out, inFeatures: n, bits, groupSize, symmetric: true, codes, scales: new Float32Array(out * groups).fill(0.5), ...extra };
}

async function tensors(q: QuantizedLinear, layout: "gptq" | "awq" | "compressed-tensors", options = {}): Promise<{ model: ModelSource; i32: (s: string) => Promise<Int32Array> }> {
  const model = await openWritten(await writeModel([q], { layout, ...options }));
  return { model, i32: (suffix) => int32Tensor(model, `${NAME}.${suffix}`) };
}

const u32 = (x: number) => x >>> 0;

// ---------------------------------------------------------------------------------------------------------------
// GPTQ. AutoGPTQ/AutoGPTQ auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py: qweight [in // 32 * bits, out],
// qzeros [groups, out // 32 * bits], `pack` packs along the input dimension from the low bits up and stores zero - 1.

test("GPTQ 4-bit: eight codes along the input pack into one int32, first code in the lowest nibble", async () => {
  // Output 0 has codes 1..8 at inputs 0..7: word = 0x87654321, as int32 -2023406815.
  const q = linear(8, 8, 4, [1, 2, 3, 4, 5, 6, 7, 8].map((c, i) => [0, i, c]));
  const { model, i32 } = await tensors(q, "gptq");
  assert.deepEqual(tensorShape(model, `${NAME}.qweight`), [1, 8]);
  assert.deepEqual(Array.from(await i32("qweight")), [-2023406815, 0, 0, 0, 0, 0, 0, 0]);
  // Symmetric 4-bit: zero 8 for every output, stored as 8 - 1 = 7 in each nibble: 0x77777777.
  assert.deepEqual(tensorShape(model, `${NAME}.qzeros`), [1, 1]);
  assert.deepEqual(Array.from(await i32("qzeros")), [2004318071]);
  assert.equal(tensorDtype(model, `${NAME}.scales`), "F16");
  assert.deepEqual(tensorShape(model, `${NAME}.scales`), [1, 8]);
  assert.deepEqual(Array.from(await i32("g_idx")), [0, 0, 0, 0, 0, 0, 0, 0]);
});

test("GPTQ zero points: format gptq stores zero - 1, gptq_v2 the zero itself, packed along the outputs", async () => {
  // Zero points 1..8 for outputs 0..7: "gptq" stores 0..7 = 0x76543210; "gptq_v2" stores 1..8 = 0x87654321.
  const zeros = Uint8Array.from({ length: 8 }, (_, j) => j + 1);
  const q = linear(8, 8, 4, [], { symmetric: false, zeros });
  assert.deepEqual(Array.from(await (await tensors(q, "gptq")).i32("qzeros")), [1985229328]);
  assert.deepEqual(Array.from(await (await tensors(q, "gptq", { gptq: { checkpointFormat: "gptq_v2" } })).i32("qzeros")), [-2023406815]);
  // Symmetric under gptq_v2: 0x88888888.
  assert.deepEqual(Array.from(await (await tensors(linear(8, 8, 4, []), "gptq", { gptq: { checkpointFormat: "gptq_v2" } })).i32("qzeros")), [-2004318072]);
});

test("GPTQ 3-bit: 32 codes in 3 words, codes 10 and 21 straddling word boundaries as AutoGPTQ's loop places them", async () => {
  const q = linear(32, 32, 3, [
    [0, 10, 0b111], // bits 30-31 of word 0, bit 0 of word 1
    [1, 21, 0b101], // bit 31 of word 1 (its low bit, 1), bits 0-1 of word 2 (0b10)
    [2, 0, 0b011], // bits 0-2 of word 0
    [2, 31, 0b110], // bits 29-31 of word 2
    [3, 11, 0b001], // bit 1 of word 1
  ]);
  const { model, i32 } = await tensors(q, "gptq");
  assert.deepEqual(tensorShape(model, `${NAME}.qweight`), [3, 32]);
  const w = await i32("qweight");
  const column = (j: number) => [w[j], w[32 + j], w[64 + j]];
  assert.deepEqual(column(0), [-1073741824 /* 0xC0000000 */, 1, 0]);
  assert.deepEqual(column(1), [0, -2147483648 /* 0x80000000 */, 2]);
  assert.deepEqual(column(2), [3, 0, -1073741824]);
  assert.deepEqual(column(3), [0, 2, 0]);
});

/** AutoGPTQ's `pack` loop over rows of intweight [in][out] (qlinear_cuda_old.py), transcribed. */
function autoGptqPackRows(intweight: number[][], bits: number): Uint32Array[] {
  const rows = (intweight.length / 32) * bits;
  const cols = intweight[0]!.length;
  const q = Array.from({ length: rows }, () => new Uint32Array(cols));
  const or = (row: number, j: number, shift: (v: number) => number) => {
    for (let c = 0; c < cols; c++) q[row]![c] = u32(q[row]![c]! | shift(intweight[j]![c]!));
  };
  let i = 0;
  let row = 0;
  while (row < rows) {
    if (bits !== 3) {
      for (let j = i; j < i + 32 / bits; j++) or(row, j, (v) => v << (bits * (j - i)));
      i += 32 / bits;
      row += 1;
    } else {
      for (let j = i; j < i + 10; j++) or(row, j, (v) => v << (3 * (j - i)));
      i += 10;
      or(row, i, (v) => v << 30);
      row += 1;
      or(row, i, (v) => (v >>> 2) & 1);
      i += 1;
      for (let j = i; j < i + 10; j++) or(row, j, (v) => v << (3 * (j - i) + 1));
      i += 10;
      or(row, i, (v) => v << 31);
      row += 1;
      or(row, i, (v) => (v >>> 1) & 0x3);
      i += 1;
      for (let j = i; j < i + 10; j++) or(row, j, (v) => v << (3 * (j - i) + 2));
      i += 10;
      row += 1;
    }
  }
  return q;
}

/** AutoGPTQ's forward unpacking of qweight [rows][out] (shifts `wf`, and for 3 bits the straddle repair and concatenation). */
function autoGptqUnpack(qweight: Int32Array, rows: number, out: number, bits: number): number[][] {
  const word = (r: number, c: number) => qweight[r * out + c]! >>> 0;
  const codes: number[][] = [];
  const mask = (1 << bits) - 1;
  if (bits !== 3) {
    for (let r = 0; r < rows; r++) for (let s = 0; s < 32; s += bits) codes.push(Array.from({ length: out }, (_, c) => (word(r, c) >>> s) & mask));
    return codes;
  }
  const wf = [
    [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 0],
    [0, 1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31],
    [0, 2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 0],
  ];
  for (let r = 0; r < rows; r += 3) {
    const part = (k: number, t: number, c: number) => word(r + k, c) >>> wf[k]![t]!;
    const value = (k: number, t: number, c: number) => {
      if (k === 0 && t === 10) return ((part(0, 10, c) & 0x3) | ((part(1, 0, c) << 2) & 0x4)) & 0x7;
      if (k === 1 && t === 11) return ((part(1, 11, c) & 0x1) | ((part(2, 0, c) << 1) & 0x6)) & 0x7;
      return part(k, t, c) & 0x7;
    };
    // torch.cat([weight[:,0,:11], weight[:,1,1:12], weight[:,2,1:11]]).
    const picks: [number, number][] = [
      ...Array.from({ length: 11 }, (_, t) => [0, t] as [number, number]),
      ...Array.from({ length: 11 }, (_, t) => [1, t + 1] as [number, number]),
      ...Array.from({ length: 10 }, (_, t) => [2, t + 1] as [number, number]),
    ];
    for (const [k, t] of picks) codes.push(Array.from({ length: out }, (_, c) => value(k, t, c)));
  }
  return codes;
}

const transposeCodes = (q: QuantizedLinear) => Array.from({ length: q.inFeatures }, (_, i) => Array.from({ length: q.outFeatures }, (_, j) => q.codes[j * q.inFeatures + i]!));

for (const bits of [2, 3, 4, 8]) {
  test(`GPTQ ${bits}-bit: qweight and qzeros equal AutoGPTQ's pack, and its forward unpacks them to our codes and zeros`, async () => {
    const rng = new SeededRandom(40 + bits);
    const q = randomLinear(rng, { name: NAME, out: 64, in: 128, bits, groupSize: 32, symmetric: false, minZero: 1 });
    const { i32 } = await tensors(q, "gptq");
    const qweight = await i32("qweight");
    const expected = autoGptqPackRows(transposeCodes(q), bits);
    assert.deepEqual(Array.from(qweight, u32), expected.flatMap((r) => Array.from(r)));
    assert.deepEqual(autoGptqUnpack(qweight, (128 * bits) / 32, 64, bits), transposeCodes(q));

    // qzeros: the same loop run over columns (`qzeros[:, col] |= zeros[:, j] << ...`) on zeros - 1, i.e. over
    // rows of the transposed [out][groups] matrix; unpacking adds 1 back.
    const groups = 4;
    const storedT = Array.from({ length: 64 }, (_, j) => Array.from({ length: groups }, (_, g) => q.zeros![j * groups + g]! - 1));
    const zerosExpected = autoGptqPackRows(storedT, bits); // [out*bits/32][groups]
    const qzeros = await i32("qzeros"); // [groups][out*bits/32]
    const zw = (64 * bits) / 32;
    for (let g = 0; g < groups; g++) for (let w = 0; w < zw; w++) assert.equal(qzeros[g * zw + w]! >>> 0, zerosExpected[w]![g], `qzeros[${g}][${w}]`);
    const unpackedT = autoGptqUnpack(new Int32Array(Array.from({ length: zw * groups }, (_, k) => qzeros[(k % groups) * zw + Math.floor(k / groups)]!)), zw, groups, bits);
    const zerosT = Array.from({ length: 64 }, (_, j) => Array.from({ length: groups }, (_, g) => q.zeros![j * groups + g]!));
    assert.deepEqual(unpackedT.map((row) => row.map((z) => z + 1)), zerosT);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// AWQ. casper-hansen/AutoAWQ awq/modules/linear/gemm.py WQLinear_GEMM: qweight [in, out // 8], `from_linear` puts
// output col*8 + order_map[i] in nibble i with order_map = [0, 2, 4, 6, 1, 3, 5, 7]; zeros are packed the same way,
// without an offset.

test("AWQ: outputs 0..7 of one input row pack in the order 0, 2, 4, 6, 1, 3, 5, 7", async () => {
  // Code j for output j at input 0: nibbles (low to high) 0,2,4,6,1,3,5,7 = 0x75316420.
  const zeros = Uint8Array.from({ length: 8 }, (_, j) => j + 1);
  const q = linear(8, 8, 4, Array.from({ length: 8 }, (_, j) => [j, 0, j] as [number, number, number]), { symmetric: false, zeros });
  const { model, i32 } = await tensors(q, "awq");
  assert.deepEqual(tensorShape(model, `${NAME}.qweight`), [8, 1]);
  assert.deepEqual(Array.from(await i32("qweight")), [1966171168, 0, 0, 0, 0, 0, 0, 0]);
  // Zero points 1..8 stored as they are, same order: nibbles 1,3,5,7,2,4,6,8 = 0x86427531.
  assert.deepEqual(tensorShape(model, `${NAME}.qzeros`), [1, 1]);
  assert.deepEqual(Array.from(await i32("qzeros")), [-2042464975]);
  assert.deepEqual(tensorShape(model, `${NAME}.scales`), [1, 8]);
  assert.equal(tensorDtype(model, `${NAME}.scales`), "F16");
});

test("AWQ: AutoAWQ's unpack_awq + reverse_awq_order ([0, 4, 1, 5, 2, 6, 3, 7]) recover our codes and zeros", async () => {
  const rng = new SeededRandom(77);
  const q = randomLinear(rng, { name: NAME, out: 32, in: 64, bits: 4, groupSize: 32, symmetric: false });
  const { i32 } = await tensors(q, "awq");
  const REVERSE = [0, 4, 1, 5, 2, 6, 3, 7];
  // awq/utils/packing_utils.py: unpack every word into 8 columns by shifts 0, 4, ..., 28, then take, within each
  // run of eight, the columns in REVERSE order.
  const decode = (words: Int32Array, rows: number, cols: number) =>
    Array.from({ length: rows }, (_, r) =>
      Array.from({ length: cols * 8 }, (_, j) => (words[r * cols + Math.floor(j / 8)]! >>> (4 * REVERSE[j % 8]!)) & 0xf),
    );
  assert.deepEqual(decode(await i32("qweight"), 64, 4), transposeCodes(q));
  const zerosT = Array.from({ length: 2 }, (_, g) => Array.from({ length: 32 }, (_, j) => q.zeros![j * 2 + g]!));
  assert.deepEqual(decode(await i32("qzeros"), 2, 4), zerosT);
});

// ---------------------------------------------------------------------------------------------------------------
// compressed-tensors pack-quantized. vllm-project/compressed-tensors compressors/quantized_compressors/
// pack_quantized.py `pack_to_int32`: signed int8 values + (1 << (num_bits - 1)), packed along the last dimension
// (weights) or dimension 0 (zero points), element i at bits i * num_bits.

test("compressed-tensors: pack_to_int32's documented example, [1, 2] at 8 bits -> [129, 130, 0, 0] -> 33409", async () => {
  // Signed 1, 2, then -128 twice (the offset turns them into the zero padding of the docstring).
  const q = linear(1, 4, 8, [
    [0, 0, 129],
    [0, 1, 130],
  ]);
  const { model, i32 } = await tensors(q, "compressed-tensors");
  assert.deepEqual(tensorShape(model, `${NAME}.weight_packed`), [1, 1]);
  assert.deepEqual(Array.from(await i32("weight_packed")), [33409]);
});

test("compressed-tensors: symmetric int4 values -8..-1 are stored +8, i.e. codes 0..7, first value lowest", async () => {
  const q = linear(1, 8, 4, Array.from({ length: 8 }, (_, i) => [0, i, i] as [number, number, number]));
  const { model, i32 } = await tensors(q, "compressed-tensors");
  assert.deepEqual(Array.from(await i32("weight_packed")), [1985229328 /* 0x76543210 */]);
  assert.equal(model.tensors.some((t) => t.name === `${NAME}.weight_zero_point`), false, "no zero point when symmetric");
  assert.deepEqual(tensorShape(model, `${NAME}.weight_scale`), [1, 1]);
  const shape = model.tensors.find((t) => t.name === `${NAME}.weight_shape`)!;
  assert.equal(shape.type.name, "I64");
  assert.deepEqual(Array.from(new BigInt64Array((await shape.read()).slice().buffer)), [1n, 8n]);
});

test("compressed-tensors: asymmetric zero points are packed along the output dimension", async () => {
  // Group 0 zero points 0..7 down outputs 0..7 -> 0x76543210; group 1 7..0 -> 0x01234567.
  const zeros = new Uint8Array(16);
  for (let j = 0; j < 8; j++) [zeros[j * 2], zeros[j * 2 + 1]] = [j, 7 - j];
  const q = linear(8, 8, 4, [], { symmetric: false, zeros, groupSize: 4 });
  const { model, i32 } = await tensors(q, "compressed-tensors");
  assert.deepEqual(tensorShape(model, `${NAME}.weight_zero_point`), [1, 2]);
  assert.deepEqual(Array.from(await i32("weight_zero_point")), [1985229328, 19088743]);
  assert.deepEqual(tensorShape(model, `${NAME}.weight_scale`), [8, 2]);
});

/** compressed-tensors' pack_to_int32, transcribed: signed values [rows][cols] -> int32 [rows][ceil(cols / (32 / bits))]. */
function ctPackToInt32(signed: number[][], bits: number): number[][] {
  const offset = 1 << (bits - 1);
  const perWord = 32 / bits;
  return signed.map((row) => {
    const padded = [...row.map((v) => v + offset), ...new Array((perWord - (row.length % perWord)) % perWord).fill(0)];
    return Array.from({ length: padded.length / perWord }, (_, k) => {
      let sum = 0;
      for (let i = 0; i < perWord; i++) sum += padded[k * perWord + i]! * 2 ** (i * bits);
      return sum | 0; // `.sum(dim=2, dtype=torch.int32)` wraps to int32
    });
  });
}

for (const bits of [4, 8]) {
  test(`compressed-tensors ${bits}-bit: weight_packed and weight_zero_point equal pack_to_int32 of the signed values`, async () => {
    const rng = new SeededRandom(90 + bits);
    const q = randomLinear(rng, { name: NAME, out: 32, in: 64, bits, groupSize: 16, symmetric: false });
    const { i32 } = await tensors(q, "compressed-tensors");
    const offset = 1 << (bits - 1);
    const signed = Array.from({ length: 32 }, (_, j) => Array.from(q.codes.subarray(j * 64, (j + 1) * 64), (c) => c - offset));
    assert.deepEqual(Array.from(await i32("weight_packed")), ctPackToInt32(signed, bits).flat());
    // packed_dim=0: transpose, pack, transpose back.
    const zpT = Array.from({ length: 4 }, (_, g) => Array.from({ length: 32 }, (_, j) => q.zeros![j * 4 + g]! - offset));
    const packedT = ctPackToInt32(zpT, bits); // [groups][out*bits/32]
    const zp = await i32("weight_zero_point"); // [out*bits/32][groups]
    const rows = (32 * bits) / 32;
    assert.deepEqual(Array.from(zp), Array.from({ length: rows * 4 }, (_, k) => packedT[k % 4]![Math.floor(k / 4)]!));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Configs.

test("GPTQ config: AutoGPTQ's BaseQuantizeConfig.to_dict() in quantize_config.json and config.json", async () => {
  const rng = new SeededRandom(1);
  const q = randomLinear(rng, { name: NAME, out: 32, in: 64, bits: 4, groupSize: 32, symmetric: true, actOrder: true });
  const fs = await writeModel([q], { layout: "gptq" });
  const expected = {
    bits: 4,
    group_size: 32,
    damp_percent: 0.01,
    desc_act: true,
    static_groups: false,
    sym: true,
    true_sequential: true,
    model_name_or_path: null,
    model_file_base_name: "model",
    quant_method: "gptq",
    checkpoint_format: "gptq",
  };
  assert.deepEqual(readJson(fs, "quantize_config.json"), expected);
  const config = readJson(fs, "config.json");
  assert.deepEqual(config.quantization_config, expected);
  assert.equal(config.model_type, "llama", "the base config is kept");
});

test("AWQ config: AwqConfig.to_transformers_dict()", async () => {
  const q = randomLinear(new SeededRandom(2), { name: NAME, out: 32, in: 256, bits: 4, groupSize: 128, symmetric: false });
  const fs = await writeModel([q], { layout: "awq" });
  assert.deepEqual(readJson(fs, "config.json").quantization_config, {
    quant_method: "awq",
    zero_point: true,
    group_size: 128,
    bits: 4,
    version: "gemm",
    modules_to_not_convert: null,
  });
  assert.equal(fs.get("out/quantize_config.json"), undefined);
});

test("compressed-tensors config: W4A16 group 128 and W8A16 channel-wise asymmetric with act-order as llm-compressor writes them", async () => {
  const w4 = randomLinear(new SeededRandom(3), { name: NAME, out: 32, in: 256, bits: 4, groupSize: 128, symmetric: true, actOrder: true });
  const fs4 = await writeModel([w4], { layout: "compressed-tensors" });
  const weights = (bits: number, symmetric: boolean, groupSize: number | null, actorder: string | null) => ({
    num_bits: bits,
    type: "int",
    symmetric,
    group_size: groupSize,
    strategy: groupSize === null ? "channel" : "group",
    block_structure: null,
    dynamic: false,
    actorder,
    observer: "minmax",
    observer_kwargs: {},
  });
  const top = (w: object) => ({
    config_groups: { group_0: { targets: ["Linear"], weights: w, input_activations: null, output_activations: null } },
    format: "pack-quantized",
    global_compression_ratio: null,
    ignore: ["lm_head"],
    kv_cache_scheme: null,
    quant_method: "compressed-tensors",
    quantization_status: "compressed",
  });
  assert.deepEqual(readJson(fs4, "config.json").quantization_config, top(weights(4, true, 128, "group")));
  const w8 = randomLinear(new SeededRandom(4), { name: NAME, out: 32, in: 256, bits: 8, groupSize: -1, symmetric: false });
  const fs8 = await writeModel([w8], { layout: "compressed-tensors" });
  assert.deepEqual(readJson(fs8, "config.json").quantization_config, top(weights(8, false, null, null)));
  const model = await openWritten(fs8);
  assert.deepEqual(tensorShape(model, `${NAME}.weight_scale`), [32, 1]);
  assert.equal(tensorDtype(model, `${NAME}.weight_scale`), "F16", "scales in the model's torch_dtype (float16)");
});
