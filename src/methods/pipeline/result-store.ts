/**
 * Where the sequential pipeline keeps each finished block (and the calibration stream after it), so the
 * output is written afterwards one block at a time and an interrupted run resumes after its last finished
 * block. In memory by default; in a directory (any FileSystemLike) for `--resume`:
 *
 *   progress.json        { fingerprint, blocksDone }: written last, so it only ever names complete files
 *   block-<l>.safetensors block l's outcome: norms, each linear's codes/scales/zeros/g_idx/side list or ggml
 *                        bytes or kept weights, and a JSON description in the metadata
 *   residual-<0|1>.f32   the calibration stream entering block blocksDone (two names used in turn, so the
 *                        file progress.json names is never the one being overwritten)
 *
 * The fingerprint (model, method, format, calibration tokens) must match for a resume.
 */
import { BitsmithError, isJsonObject, tensorType } from "../../core/index.js";
import type { FileSystemLike, TensorTypeInfo } from "../../core/index.js";
import { openSafetensorsFile, writeSafetensors } from "../../formats/safetensors/index.js";
import type { TensorToWrite } from "../../formats/safetensors/index.js";
import { bytesOf, viewF32, viewF64, viewI32 } from "../../numeric/byte-views.js";
import type { QuantizedWeights } from "../weight-format.js";
import type { BlockOutcome, LinearOutcome, LinearReport } from "./outcome.js";

export interface ResumePoint {
  readonly blocksDone: number;
  /** The stream entering block blocksDone (absent for methods without calibration). */
  readonly residual?: Float32Array;
}

export interface QuantizationStore {
  /** What an earlier run with this fingerprint finished, if anything. */
  resumePoint(fingerprint: string): Promise<ResumePoint | undefined>;
  /** Starts afresh (forgets earlier blocks). */
  begin(fingerprint: string): Promise<void>;
  saveBlock(outcome: BlockOutcome, residual: Float32Array | undefined): Promise<void>;
  readBlock(layer: number): Promise<BlockOutcome>;
  /** The report lines of a saved block (without reading its tensors). */
  readReports(layer: number): Promise<LinearReport[]>;
}

export class MemoryQuantizationStore implements QuantizationStore {
  private readonly blocks = new Map<number, BlockOutcome>();

  async resumePoint(): Promise<ResumePoint | undefined> {
    return undefined;
  }

  async begin(): Promise<void> {
    this.blocks.clear();
  }

  async saveBlock(outcome: BlockOutcome): Promise<void> {
    this.blocks.set(outcome.layer, outcome);
  }

  async readBlock(layer: number): Promise<BlockOutcome> {
    const b = this.blocks.get(layer);
    if (!b) throw new BitsmithError(`block ${layer} has not been quantized`, { field: "store" });
    return b;
  }

  async readReports(layer: number): Promise<LinearReport[]> {
    return (await this.readBlock(layer)).linears.map((l) => l.report);
  }
}

const PROGRESS = "progress.json";
const METADATA_KEY = "bitsmith.block";
const type = (name: string): TensorTypeInfo => tensorType(name)!;

interface StoredLinear {
  name: string;
  rows: number;
  cols: number;
  kind: "integer" | "codec" | "float";
  typeName?: string;
  bits?: number;
  groupSize?: number;
  symmetric?: boolean;
  zerosType?: "U8" | "I32";
  hasGIdx?: boolean;
  outliers?: boolean;
  inputScales?: boolean;
  outputScales?: boolean;
  report: LinearReport;
}

function tensor(name: string, dtype: string, shape: number[], bytes: Uint8Array): TensorToWrite {
  return { name, type: type(dtype), shape, read: async () => bytes };
}

export class DirectoryQuantizationStore implements QuantizationStore {
  private blocksDone = 0;
  private fingerprint = "";

  constructor(
    private readonly fs: FileSystemLike,
    readonly dir: string,
  ) {}

  private path(name: string): string {
    return this.fs.join(this.dir, name);
  }

  async resumePoint(fingerprint: string): Promise<ResumePoint | undefined> {
    if (!(await this.fs.exists(this.path(PROGRESS)))) return undefined;
    const where = { file: this.path(PROGRESS) };
    let saved: unknown;
    try {
      saved = JSON.parse(await this.fs.readText(this.path(PROGRESS)));
    } catch (e) {
      throw new BitsmithError(`is not JSON (${(e as Error).message}); delete the directory to start again`, where);
    }
    if (!isJsonObject(saved) || typeof saved.fingerprint !== "string" || !Number.isSafeInteger(saved.blocksDone)) {
      throw new BitsmithError("is not a bitsmith progress file; delete the directory to start again", where);
    }
    if (saved.fingerprint !== fingerprint) {
      throw new BitsmithError("was written by a run with another model, method, format or calibration data; delete the directory or run without --resume", where);
    }
    this.fingerprint = fingerprint;
    this.blocksDone = saved.blocksDone as number;
    const residualPath = this.path(`residual-${this.blocksDone % 2}.f32`);
    if (!(await this.fs.exists(residualPath))) return { blocksDone: this.blocksDone };
    const src = await this.fs.open(residualPath);
    try {
      const bytes = await src.read(0, src.size);
      return { blocksDone: this.blocksDone, residual: viewF32(bytes.slice()) };
    } finally {
      await src.close?.();
    }
  }

  async begin(fingerprint: string): Promise<void> {
    this.fingerprint = fingerprint;
    this.blocksDone = 0;
    await this.fs.mkdir(this.dir);
    await this.writeProgress();
  }

  private async writeProgress(): Promise<void> {
    const sink = await this.fs.create(this.path(PROGRESS));
    await sink.write(new TextEncoder().encode(JSON.stringify({ fingerprint: this.fingerprint, blocksDone: this.blocksDone })));
    await sink.commit();
  }

  async saveBlock(outcome: BlockOutcome, residual: Float32Array | undefined): Promise<void> {
    if (outcome.layer !== this.blocksDone) throw new BitsmithError(`block ${outcome.layer} saved after ${this.blocksDone} blocks`, { file: this.dir });
    const tensors: TensorToWrite[] = [
      tensor("attn_norm", "F32", [outcome.attnNorm.length], bytesOf(outcome.attnNorm)),
      tensor("ffn_norm", "F32", [outcome.ffnNorm.length], bytesOf(outcome.ffnNorm)),
    ];
    if (outcome.vBias) tensors.push(tensor("v_bias", "F32", [outcome.vBias.length], bytesOf(outcome.vBias)));
    const linears = outcome.linears.map((l, i) => describe(l, `${i}.`, tensors));
    await writeSafetensors(this.fs, this.path(`block-${outcome.layer}.safetensors`), tensors, new Map([[METADATA_KEY, JSON.stringify({ layer: outcome.layer, linears })]]));
    if (residual) {
      const sink = await this.fs.create(this.path(`residual-${(this.blocksDone + 1) % 2}.f32`));
      await sink.write(bytesOf(residual));
      await sink.commit();
    }
    this.blocksDone++;
    await this.writeProgress();
  }

  async readReports(layer: number): Promise<LinearReport[]> {
    const file = this.path(`block-${layer}.safetensors`);
    const ck = await openSafetensorsFile(this.fs, file);
    try {
      return blockMetadata(ck.metadata, file).linears.map((l) => l.report);
    } finally {
      await ck.close();
    }
  }

  async readBlock(layer: number): Promise<BlockOutcome> {
    const file = this.path(`block-${layer}.safetensors`);
    const ck = await openSafetensorsFile(this.fs, file);
    try {
      const meta = blockMetadata(ck.metadata, file);
      const read = async (name: string) => {
        const t = ck.tensors.find((x) => x.name === name);
        if (!t) throw new BitsmithError("tensor missing", { file, field: name });
        return (await t.read()).slice();
      };
      const has = (name: string) => ck.tensors.some((x) => x.name === name);
      const linears: LinearOutcome[] = [];
      for (const [i, s] of meta.linears.entries()) linears.push(await restore(s, `${i}.`, read));
      return {
        layer,
        attnNorm: viewF32(await read("attn_norm")),
        ffnNorm: viewF32(await read("ffn_norm")),
        vBias: has("v_bias") ? viewF32(await read("v_bias")) : undefined,
        linears,
      };
    } finally {
      await ck.close();
    }
  }
}

function blockMetadata(metadata: ReadonlyMap<string, string>, file: string): { layer: number; linears: StoredLinear[] } {
  const meta = JSON.parse(metadata.get(METADATA_KEY) ?? "null") as { layer: number; linears: StoredLinear[] } | null;
  if (!meta || !Array.isArray(meta.linears)) throw new BitsmithError("is not a bitsmith block file", { file });
  return meta;
}

function describe(l: LinearOutcome, p: string, tensors: TensorToWrite[]): StoredLinear {
  const base = { name: l.name, rows: l.rows, cols: l.cols, report: l.report, inputScales: !!l.inputScales, outputScales: !!l.outputScales };
  if (l.inputScales) tensors.push(tensor(p + "input_scales", "F64", [l.cols], bytesOf(l.inputScales)));
  if (l.outputScales) tensors.push(tensor(p + "output_scales", "F64", [l.rows], bytesOf(l.outputScales)));
  const w = l.weights;
  if (!w) {
    tensors.push(tensor(p + "kept", "F32", [l.rows, l.cols], bytesOf(l.kept!)));
    return { ...base, kind: "float" };
  }
  if (w.kind === "codec") {
    tensors.push(tensor(p + "ggml", "U8", [w.bytes.length], w.bytes));
    return { ...base, kind: "codec", typeName: w.typeName };
  }
  const q = w.linear;
  tensors.push(tensor(p + "codes", "U8", [l.rows, l.cols], q.codes), tensor(p + "scales", "F32", [q.scales.length], bytesOf(q.scales)));
  const zerosType = q.zeros instanceof Int32Array ? "I32" : "U8";
  if (q.zeros) tensors.push(tensor(p + "zeros", zerosType, [q.zeros.length], bytesOf(q.zeros)));
  if (q.gIdx) tensors.push(tensor(p + "g_idx", "I32", [q.gIdx.length], bytesOf(q.gIdx)));
  if (w.outliers) {
    tensors.push(tensor(p + "outlier_indices", "I32", [w.outliers.indices.length], bytesOf(w.outliers.indices)));
    tensors.push(tensor(p + "outlier_values", "F32", [w.outliers.values.length], bytesOf(w.outliers.values)));
  }
  return {
    ...base,
    kind: "integer",
    bits: q.bits,
    groupSize: q.groupSize,
    symmetric: q.symmetric,
    zerosType,
    hasGIdx: !!q.gIdx,
    outliers: !!w.outliers,
  };
}

async function restore(s: StoredLinear, p: string, read: (name: string) => Promise<Uint8Array>): Promise<LinearOutcome> {
  const base = {
    name: s.name,
    rows: s.rows,
    cols: s.cols,
    report: s.report,
    inputScales: s.inputScales ? viewF64(await read(p + "input_scales")) : undefined,
    outputScales: s.outputScales ? viewF64(await read(p + "output_scales")) : undefined,
  };
  if (s.kind === "float") return { ...base, kept: viewF32(await read(p + "kept")) };
  if (s.kind === "codec") return { ...base, weights: { kind: "codec", typeName: s.typeName!, bytes: await read(p + "ggml") } };
  const zeros = s.symmetric ? undefined : s.zerosType === "I32" ? viewI32(await read(p + "zeros")) : await read(p + "zeros");
  const weights: QuantizedWeights = {
    kind: "integer",
    linear: {
      name: s.name,
      outFeatures: s.rows,
      inFeatures: s.cols,
      bits: s.bits!,
      groupSize: s.groupSize!,
      symmetric: s.symmetric!,
      codes: await read(p + "codes"),
      scales: viewF32(await read(p + "scales")),
      zeros,
      gIdx: s.hasGIdx ? viewI32(await read(p + "g_idx")) : undefined,
    },
    outliers: s.outliers ? { indices: viewI32(await read(p + "outlier_indices")), values: viewF32(await read(p + "outlier_values")) } : undefined,
  };
  return { ...base, weights };
}
