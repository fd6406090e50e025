/**
 * Keep only one GPU architecture's cubins in a CUDA shared library's fat binaries.
 *
 *   tsx scripts/gpu/prune-fatbin.ts IN.so OUT.so [--sm 90] [--drop REGEX|default] [--report R.json]
 *   tsx scripts/gpu/prune-fatbin.ts IN.so --list [--drop default]      (what would be kept, no output)
 *
 * onnxruntime's CUDA provider carries SASS for sm_75, 80, 86, 89, 90 and 120 (no PTX): 166 MB of its
 * 230 MB, already zstd-compressed by nvcc, so it barely compresses further. H100 and H200 are sm_90,
 * and a cubin runs only on its own major architecture, so every other entry is dead weight there.
 *
 * Layout (the .nv_fatbin ELF section): a run of containers, each a 16-byte header
 *   u32 magic 0xBA55ED50, u16 version, u16 headerSize, u64 fatSize (bytes of entries after the header)
 * followed by entries, each
 *   u16 kind (1 PTX, 2 ELF cubin), u16 version, u32 headerSize, u32 paddedPayloadSize, u32, u32 payloadSize,
 *   u32, u32, u32 smArch, ... then the payload.
 * The host code refers to each container by its start address only (.nvFatBinSegment wrappers), so
 * a container can be rewritten in place: the kept entries move to its front, fatSize shrinks, and the
 * freed tail is zero-filled (it then compresses to nothing). Section and container offsets are
 * unchanged; the result is what nvcc writes for `-gencode arch=compute_90,code=sm_90` alone.
 * Containers without an entry for the architecture are left as they are (their kernels cannot run
 * on that GPU in any case).
 *
 * --drop REGEX (make-kit.sh passes `default`, DEFAULT_DROP): containers whose kernels come from a .cu
 * file whose name matches lose their sm_90 entry too, for onnxruntime's LLM contrib kernels (flash
 * attention, MoE, int4/int8 weight-only GEMMs, XQA...): 25 of the 32 MB of sm_90 code, never
 * launched by a convolutional network, whose graphs use core operators only. Each keeps one entry,
 * the smallest cubin of the whole library for another architecture (520 bytes), so that it stays a
 * valid container with no image for this GPU, like the one sm_120-only container the library already
 * has; such a kernel, if ever launched, fails with "no kernel image is available for execution on
 * the device". A matching file is spared when one of its externally linked kernels (a template
 * instance such as cub's EmptyKernel) also lives in a container that stays. The file name is read
 * from the kernels' mangled names (`_INTERNAL_<hash>_<n>_<file>_cu_`) inside the cubin, which the
 * `zstd` command decompresses.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

/** onnxruntime contrib-op kernels for transformer / LLM operators. */
export const DEFAULT_DROP =
  '^(flash_fwd|flash_bwd|fmha_|xqa_|dispatcher_|fpA_intB|(bf16|fp16)_int[48]_gemm|.*moe|matmul_(4bits|8bits|bnb4|block_scaled)|' +
  'decoder_masked_multihead_attention|beam_search|generation_cuda|greedy_search|lean_attention|sparse_attention|paged_attention|' +
  'group_query_attention|packed_(multihead_)?attention|longformer|linear_attention|unfused_attention|attention_)';

const FATBIN_MAGIC = 0xba55ed50;

interface Section {
  name: string;
  offset: number;
  size: number;
}

function sections(b: Buffer): Section[] {
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1)
    throw new Error('not a little-endian 64-bit ELF file');
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const shstrndx = b.readUInt16LE(0x3e);
  const header = (i: number) => {
    const o = shoff + i * shentsize;
    return {
      nameOff: b.readUInt32LE(o),
      offset: Number(b.readBigUInt64LE(o + 0x18)),
      size: Number(b.readBigUInt64LE(o + 0x20)),
    };
  };
  const strtab = header(shstrndx);
  return Array.from({ length: shnum }, (_, i) => {
    const h = header(i);
    const start = strtab.offset + h.nameOff;
    return { name: b.toString('latin1', start, b.indexOf(0, start)), offset: h.offset, size: h.size };
  });
}

interface Entry {
  offset: number;
  length: number; // header + padded payload
  headerSize: number;
  payloadSize: number;
  kind: number;
  sm: number;
}

interface Container {
  offset: number;
  headerSize: number;
  fatSize: number;
  entries: Entry[];
}

function containers(b: Buffer, s: Section): Container[] {
  const out: Container[] = [];
  const end = s.offset + s.size;
  let pos = s.offset;
  while (pos < end) {
    if (pos + 16 > end || b.readUInt32LE(pos) !== FATBIN_MAGIC) {
      // padding between containers
      if (b.readUInt32LE(pos) !== 0) throw new Error(`unexpected bytes at 0x${pos.toString(16)} in .nv_fatbin`);
      pos += 4;
      continue;
    }
    const headerSize = b.readUInt16LE(pos + 6);
    const fatSize = Number(b.readBigUInt64LE(pos + 8));
    const entries: Entry[] = [];
    let e = pos + headerSize;
    const stop = e + fatSize;
    if (stop > end) throw new Error(`container at 0x${pos.toString(16)} runs past the section`);
    while (e < stop) {
      const kind = b.readUInt16LE(e);
      const eh = b.readUInt32LE(e + 4);
      const padded = b.readUInt32LE(e + 8);
      const payloadSize = b.readUInt32LE(e + 16);
      const sm = b.readUInt32LE(e + 28);
      if (kind !== 1 && kind !== 2) throw new Error(`unknown fatbin entry kind ${kind} at 0x${e.toString(16)}`);
      entries.push({ offset: e, length: eh + padded, headerSize: eh, payloadSize, kind, sm });
      e += eh + padded;
    }
    if (e !== stop) throw new Error(`container at 0x${pos.toString(16)}: entries do not add up to fatSize`);
    out.push({ offset: pos, headerSize, fatSize, entries });
    pos = stop;
  }
  return out;
}

interface CubinInfo {
  /** The .cu file the kernels come from (most frequent `_INTERNAL_<hash>_<n>_<file>_cu_`), or null. */
  file: string | null;
  /** Kernels with external linkage (template instances shared between .cu files, e.g. cub's). */
  shared: Set<string>;
}

/** What a cubin entry holds; null when it cannot be read. nvcc compresses cubins with zstd. */
function cubinInfo(lib: Buffer, e: Entry): CubinInfo | null {
  let payload = lib.subarray(e.offset + e.headerSize, e.offset + e.headerSize + e.payloadSize);
  if (payload.readUInt32LE(0) === 0xfd2fb528) {
    const r = spawnSync('zstd', ['-dcq'], { input: payload, maxBuffer: 1 << 30 });
    if (r.error) throw new Error(`the zstd command is needed to read compressed cubins (--drop): ${r.error.message}`);
    if (r.status !== 0) return null;
    payload = r.stdout;
  } else if (payload.readUInt32BE(0) !== 0x7f454c46) return null;
  const text = payload.toString('latin1');
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/_INTERNAL_[0-9a-f]{8}_\d+_(\w+?)_cu_/g))
    counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  let file: string | null = null;
  for (const [k, n] of counts) if (file === null || n > counts.get(file)!) file = k;
  // Every kernel has a section .text.<mangled name>.
  const shared = new Set<string>();
  for (const m of text.matchAll(/\.text\.(_Z\w+)/g))
    if (!m[1]!.includes('_INTERNAL_') && !m[1]!.includes('_GLOBAL__N_')) shared.add(m[1]!);
  return { file, shared };
}

/**
 * Containers whose `sm` cubin may go: their source file matches `drop`, and none of their
 * externally linked kernels also lives in a container that stays. (The CUDA runtime maps a kernel's
 * host stub to one module; a template kernel instantiated in several .cu files shares one stub, so
 * the copy it picks could be a dropped one.)
 */
function containersToDrop(
  lib: Buffer,
  list: Container[],
  sm: number,
  drop: RegExp,
): { drop: Set<Container>; files: string[]; spared: string[] } {
  const info = new Map<Container, CubinInfo | null>();
  for (const c of list) {
    const e = c.entries.find((x) => x.kind === 2 && x.sm === sm);
    if (e && c.entries.length > 1) info.set(c, cubinInfo(lib, e));
  }
  const candidate = (c: Container): boolean => {
    const i = info.get(c);
    return !!i?.file && drop.test(i.file);
  };
  const staying = new Set<string>();
  for (const c of list) {
    if (candidate(c)) continue;
    const e = c.entries.find((x) => x.kind === 2 && x.sm === sm);
    if (!e) continue;
    const i = info.has(c) ? info.get(c) : cubinInfo(lib, e);
    if (!i) continue;
    for (const k of i.shared) staying.add(k);
  }
  const out = new Set<Container>();
  const files: string[] = [];
  const spared: string[] = [];
  for (const c of list) {
    if (!candidate(c)) continue;
    const i = info.get(c)!;
    if ([...i.shared].some((k) => staying.has(k))) spared.push(i.file!);
    else {
      out.add(c);
      files.push(i.file!);
    }
  }
  return { drop: out, files, spared };
}

export interface PruneOptions {
  sm: number;
  /** Containers whose source file matches lose their `sm` entry too. */
  drop?: RegExp;
  dryRun?: boolean;
}

export interface PruneReport {
  containers: number;
  pruned: number;
  keptAsIs: number;
  dropped: string[];
  /** Matched --drop but kept: they share a kernel with a container that stays. */
  spared: string[];
  bytesBefore: number;
  bytesKept: number;
  byArch: Record<string, { entries: number; bytes: number }>;
}

/** Prune `lib` in place (a copy of the file's bytes) to `sm`; returns what it found and kept. */
export function pruneFatbins(lib: Buffer, o: PruneOptions): PruneReport {
  const { sm, drop, dryRun = false } = o;
  const s = sections(lib).find((x) => x.name === '.nv_fatbin');
  if (!s) throw new Error('no .nv_fatbin section: not a CUDA library');
  const list = containers(lib, s);
  const r: PruneReport = {
    containers: list.length,
    pruned: 0,
    keptAsIs: 0,
    dropped: [],
    spared: [],
    bytesBefore: 0,
    bytesKept: 0,
    byArch: {},
  };
  const dropping = drop ? containersToDrop(lib, list, sm, drop) : { drop: new Set<Container>(), files: [], spared: [] };
  r.dropped = dropping.files.sort();
  r.spared = dropping.spared.sort();
  const expected = new Map<Container, Entry[]>();
  // Stand-in for dropped containers: the smallest cubin for another architecture, copied now
  // (its own container may be rewritten before it is used).
  const donorEntry = list
    .flatMap((c) => c.entries)
    .filter((e) => e.kind === 2 && e.sm !== sm)
    .sort((a, b) => a.length - b.length)[0];
  const donor = donorEntry ? Buffer.from(lib.subarray(donorEntry.offset, donorEntry.offset + donorEntry.length)) : null;
  const donorOf = new Map<Container, Buffer>();
  for (const c of list) {
    for (const e of c.entries) {
      const key = `${e.kind === 1 ? 'ptx' : 'sm'}_${e.sm}`;
      r.byArch[key] ??= { entries: 0, bytes: 0 };
      const a = r.byArch[key]!;
      a.entries++;
      a.bytes += e.length;
      r.bytesBefore += e.length;
    }
    let keep = c.entries.filter((e) => e.kind === 2 && e.sm === sm);
    if (dropping.drop.has(c)) {
      if (!donor || !donorEntry) throw new Error('--drop: no cubin for another architecture to stand in');
      donorOf.set(c, donor);
      keep = [donorEntry];
    }
    expected.set(c, keep);
    if (keep.length === 0 || (keep.length === c.entries.length && !donorOf.has(c))) {
      r.keptAsIs++;
      r.bytesKept += c.fatSize;
      continue;
    }
    r.pruned++;
    const body = donorOf.get(c) ?? Buffer.concat(keep.map((e) => lib.subarray(e.offset, e.offset + e.length)));
    r.bytesKept += body.length;
    if (dryRun) continue;
    const start = c.offset + c.headerSize;
    // Entries keep their 8-byte alignment (all sizes are multiples of 8 in the libraries seen).
    let at = start;
    for (const e of donorOf.has(c) ? [] : keep) {
      if ((at - e.offset) % 8 !== 0)
        throw new Error(`container at 0x${c.offset.toString(16)}: moving an entry would change its 8-byte alignment`);
      at += e.length;
    }
    body.copy(lib, start);
    lib.fill(0, start + body.length, start + c.fatSize);
    lib.writeBigUInt64LE(BigInt(body.length), c.offset + 8);
  }
  if (!dryRun) {
    // Re-parse: every pruned container must now hold exactly the kept entries.
    const again = containers(lib, s);
    if (again.length !== list.length)
      throw new Error(`re-parse found ${again.length} containers, expected ${list.length}`);
    again.forEach((c, i) => {
      const kept = expected.get(list[i]!)!;
      const want = kept.length === 0 ? list[i]!.entries : kept;
      if (
        c.entries.length !== want.length ||
        c.entries.some((e, k) => e.sm !== want[k]!.sm || e.length !== want[k]!.length)
      ) {
        throw new Error(`re-parse of container ${i} does not match what was kept`);
      }
    });
  }
  return r;
}

function main(argv: string[]): void {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const sm = Number(value('sm') ?? 90);
  const dropArg = value('drop');
  const drop = dropArg === undefined ? undefined : new RegExp(dropArg === 'default' ? DEFAULT_DROP : dropArg);
  const list = argv.includes('--list');
  const files = argv.filter(
    (a, i) => !a.startsWith('--') && !['--sm', '--drop', '--report'].includes(argv[i - 1] ?? ''),
  );
  if (!Number.isInteger(sm) || files.length < (list ? 1 : 2)) {
    process.stderr.write(
      'usage: tsx scripts/gpu/prune-fatbin.ts IN.so OUT.so [--sm 90] [--drop REGEX|default] [--report FILE.json] | IN.so --list\n',
    );
    process.exit(2);
  }
  const lib = readFileSync(files[0]!);
  const r = pruneFatbins(lib, { sm, drop, dryRun: list });
  const mb = (x: number): string => `${(x / 1e6).toFixed(1)} MB`;
  for (const [k, v] of Object.entries(r.byArch).sort())
    process.stderr.write(`  ${k.padEnd(8)} ${String(v.entries).padStart(5)} entries ${mb(v.bytes).padStart(10)}\n`);
  process.stderr.write(
    `prune-fatbin: ${r.containers} containers, ${r.pruned} pruned to sm_${sm}, ${r.keptAsIs} left as they were; ` +
      `${r.dropped.length} dropped (${drop ? `files matching --drop; ${r.spared.length} spared for sharing kernels with kept ones` : 'no --drop'}); device code ${mb(r.bytesBefore)} -> ${mb(r.bytesKept)}\n`,
  );
  const report = value('report');
  if (report) writeFileSync(report, `${JSON.stringify({ sm, drop: drop?.source ?? null, ...r }, null, 2)}\n`);
  if (!list) writeFileSync(files[1]!, lib);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) main(process.argv.slice(2));
