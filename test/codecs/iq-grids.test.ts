/**
 * The i-quant lattices against llama.cpp's own tables: expanding each compact lattice must give ggml-common.h's
 * byte table exactly (pinned by SHA-256 of llama.cpp's compiled tables, and by a few entries quoted from
 * ggml-common.h), and the neighbour lists must follow iq2xs_init_impl's rule (checked against a brute force).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { IQ1S_LATTICE, IQ2S_LATTICE, IQ2XS_LATTICE, IQ2XXS_LATTICE, IQ3S_LATTICE, IQ3XXS_LATTICE, type IqLattice, KSIGNS_IQ2XS, neighbours } from "../../src/codecs/iq-grids.js";

interface Expected {
  name: string;
  lattice: IqLattice;
  size: number;
  levels: number;
  sha256: string;
  /** Entries quoted from ggml-common.h: index and value (coordinate 0 in the lowest byte). */
  quoted: [number, bigint][];
}

const EXPECTED: Expected[] = [
  { name: "iq2xxs_grid", lattice: IQ2XXS_LATTICE, size: 256, levels: 3, sha256: "05826b5d3e472a3a78f196be62ac78acf81df0f909626e12ab9fa2a5d490dd54", quoted: [[0, 0x0808080808080808n], [1, 0x080808080808082bn], [254, 0x2b2b2b0819190808n], [255, 0x2b2b2b1908081908n]] },
  { name: "iq2xs_grid", lattice: IQ2XS_LATTICE, size: 512, levels: 3, sha256: "06e47aaca60b4dc1d9b5a3f34540437058a6b142b4d7a59d5ded769b4d1bf1de", quoted: [[2, 0x0808080808081919n], [511, 0x2b2b2b2b2b2b2b2bn]] },
  { name: "iq2s_grid", lattice: IQ2S_LATTICE, size: 1024, levels: 3, sha256: "e1aa1473412b0552c2174c30ef22ab4073f6a181b85a17056e8249bd2932fd88", quoted: [[0, 0x0808080808080808n], [1023, 0x2b2b2b2b2b2b2b2bn]] },
  { name: "iq1s_grid", lattice: IQ1S_LATTICE, size: 2048, levels: 3, sha256: "07540ffc1aeaf6ad4d97e96b0fcc765aae39671d4ae4a27bbd0e796fde167c6a", quoted: [[0, 0xffffffffffffffffn], [1, 0xffffffffffffff01n], [2047, 0x0101010101010101n]] },
  { name: "iq3xxs_grid", lattice: IQ3XXS_LATTICE, size: 256, levels: 8, sha256: "46e35f5a997efdee6c99ce57854c8a0d4f0ff8ca57e5e8a60c0793ea580acf5d", quoted: [[0, 0x04040404n], [254, 0x3e2c1424n], [255, 0x3e341c04n]] },
  { name: "iq3s_grid", lattice: IQ3S_LATTICE, size: 512, levels: 8, sha256: "bd1af4945a1717c65610b0284e4628b9a1ba3b306fae3a06f6e5f597356e349f", quoted: [[0, 0x01010101n], [510, 0x0f0d0703n], [511, 0x0f0f0101n]] },
];

/** ggml-common.h's byte table: each value as the stored byte (int8 for IQ1). */
function byteTable(lat: IqLattice): Uint8Array {
  return Uint8Array.from(lat.values, (v) => v & 255);
}

for (const e of EXPECTED) {
  test(`${e.name}: ${e.size} distinct points, levels in range, expands to llama.cpp's table`, () => {
    const lat = e.lattice;
    assert.equal(lat.size, e.size);
    assert.ok(lat.levels.every((l) => l < e.levels));
    let onLattice = 0;
    for (const k of lat.kmap) if (k >= 0) onLattice++;
    assert.equal(onLattice, e.size, "every point has its own key");
    const bytes = byteTable(lat);
    assert.equal(createHash("sha256").update(bytes).digest("hex"), e.sha256);
    for (const [index, value] of e.quoted) {
      let v = 0n;
      for (let i = lat.dim - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[index * lat.dim + i]!);
      assert.equal(v, value, `${e.name}[${index}]`);
    }
  });
}

test("ksigns_iq2xs: low 7 bits are the index, every pattern has an even number of set bits", () => {
  for (let i = 0; i < 128; i++) {
    const s = KSIGNS_IQ2XS[i]!;
    assert.equal(s & 127, i);
    let bits = 0;
    for (let b = 0; b < 8; b++) bits += (s >> b) & 1;
    assert.equal(bits % 2, 0);
  }
  assert.equal(createHash("sha256").update(KSIGNS_IQ2XS).digest("hex"), "a76742a603f8beca5212ecce0f1f02f11a4887fd2f7c8b15aca0ea3eb3380c31");
});

/** Brute force of iq2xs_init_impl: sort (distance between positions 2l+1, index) and keep nwant shells. */
function bruteNeighbours(lat: IqLattice, u: number): number[] {
  const mask = (1 << lat.bits) - 1;
  const pairs: [number, number][] = [];
  for (let k = 0; k < lat.size; k++) {
    let d2 = 0;
    for (let i = 0; i < lat.dim; i++) {
      const d = 2 * lat.levels[k * lat.dim + i]! + 1 - (2 * ((u >> (lat.bits * i)) & mask) + 1);
      d2 += d * d;
    }
    pairs.push([d2, k]);
  }
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: number[] = [];
  let shells = 1;
  let d = pairs[0]![0];
  for (const [d2, k] of pairs) {
    if (d2 > d) {
      if (shells === lat.nwant) break;
      d = d2;
      shells++;
    }
    out.push(k);
  }
  return out;
}

test("neighbour lists follow llama.cpp's (distance, index) order over nwant distance shells", () => {
  for (const e of EXPECTED) {
    const lat = e.lattice;
    const maxLevel = e.levels - 1;
    // A spread of off-lattice keys whose coordinates stay within the quantizers' level range.
    let checked = 0;
    for (let u = 0; u < lat.kmap.length && checked < 60; u += 97) {
      let valid = true;
      for (let i = 0; i < lat.dim; i++) if (((u >> (lat.bits * i)) & ((1 << lat.bits) - 1)) > maxLevel) valid = false;
      if (!valid || lat.kmap[u]! >= 0) continue;
      assert.deepEqual([...neighbours(lat, u).points], bruteNeighbours(lat, u), `${e.name} key ${u}`);
      checked++;
    }
    assert.ok(checked > 10, `${e.name}: too few keys checked`);
  }
});
