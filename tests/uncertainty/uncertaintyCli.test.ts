import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildInferenceModel, buildMcModel, presetConfig } from '../../src/graphBuilder/models.js';
import { serialize } from '../../src/graphBuilder/serialize.js';
import { copyWeightsByName, loadTrainedModel } from '../../src/runtime/modelFile.js';

const run = (...args: string[]) =>
  spawnSync('node_modules/.bin/tsx', ['src/cli/uncertainty.ts', ...args], { encoding: 'utf8' });

interface Summary {
  uncertainty: string;
  pngScale: { uncertaintyMax: number };
  images: { name: string; difficulty: number; meanForeground: number; files: Record<string, string> }[];
}

let dir: string;
let model: string;
let image: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'unc-'));
  model = join(dir, 'run', 'fold-0', 'model.onnx');
  mkdirSync(join(dir, 'run', 'fold-0'), { recursive: true });
  writeFileSync(model, serialize(buildInferenceModel(presetConfig('tiny'))));
  const rgb = Buffer.alloc(40 * 30 * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37) % 256;
  image = join(dir, 'frame.png');
  await sharp(rgb, { raw: { width: 40, height: 30, channels: 3 } })
    .png()
    .toFile(image);
});

describe('npm run uncertainty', () => {
  it('--help lists the options', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    for (const flag of ['--model', '--input', '--out', '--samples', '--p', '--uncertainty', '--aggregate'])
      expect(r.stdout).toContain(flag);
    expect(r.stdout).toMatch(/Exit status: 0 done, 1 failed .*, 2 usage error/); // every script's --help ends with it (cli.ts)
  });

  it('writes the three PNGs at the image size and a finite difficulty > 0', async () => {
    const out = join(dir, 'out1');
    const r = run('--model', model, '--input', image, '--out', out, '--samples', '4');
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.images).toHaveLength(1);
    const img = s.images[0]!;
    expect(img.name).toBe('frame');
    expect(Number.isFinite(img.difficulty) && img.difficulty > 0).toBe(true);
    expect(img.meanForeground).toBeGreaterThanOrEqual(0);
    expect(img.meanForeground).toBeLessThanOrEqual(1);
    expect(s.pngScale.uncertaintyMax).toBe(0.25);
    for (const kind of ['prediction', 'mean', 'uncertainty']) {
      const file = join(out, `frame-${kind}.png`);
      expect(img.files[kind]).toBe(file);
      const meta = await sharp(file).metadata();
      expect([meta.width, meta.height, meta.format]).toEqual([40, 30, 'png']);
    }
    const { data } = await sharp(join(out, 'frame-prediction.png')).raw().toBuffer({ resolveWithObject: true });
    expect([...new Set(data)].every((v) => v === 0 || v === 255)).toBe(true);
  });

  it('takes a run folder and a folder of images, with entropy', () => {
    const inputs = join(dir, 'inputs');
    mkdirSync(inputs);
    copyFileSync(image, join(inputs, 'a.png'));
    copyFileSync(image, join(inputs, 'b.png'));
    writeFileSync(join(inputs, 'notes.txt'), 'not an image');
    const out = join(dir, 'out2');
    const r = run(
      '--model',
      join(dir, 'run'),
      '--input',
      inputs,
      '--out',
      out,
      '--samples',
      '3',
      '--uncertainty',
      'entropy',
      '--aggregate',
      'quantile:0.5',
    );
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.images.map((i) => i.name)).toEqual(['a', 'b']);
    expect(s.pngScale.uncertaintyMax).toBeCloseTo(Math.LN2);
    for (const i of s.images) expect(i.difficulty).toBeGreaterThan(0);
    expect(readdirSync(out).sort()).toEqual([
      'a-mean.png',
      'a-prediction.png',
      'a-uncertainty.png',
      'b-mean.png',
      'b-prediction.png',
      'b-uncertainty.png',
    ]);
  });

  it.each([
    [['--p', '0'], /--p must be a number in \(0, 1\)/],
    [['--p', '1'], /--p must be a number in \(0, 1\)/],
    [['--samples', '0'], /--samples must be an integer/],
    [['--uncertainty', 'bogus'], /--uncertainty must be one of/],
    [['--aggregate', 'median'], /--aggregate must be one of/],
  ])('%j is rejected', (args, message) => {
    const out = join(dir, 'bad');
    const r = run('--model', model, '--input', image, '--out', out, ...args);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });

  it('names the bad model or input', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const text = join(dir, 'x.txt');
    writeFileSync(text, 'hello');
    const corrupt = join(dir, 'broken.png');
    writeFileSync(corrupt, 'not really a png');
    const cases: [string[], RegExp][] = [
      [['--model', join(dir, 'nope.onnx'), '--input', image], /--model .*nope\.onnx does not exist/],
      [['--model', empty, '--input', image], /--model .*empty is a folder without model\.onnx/],
      [['--model', image, '--input', image], /--model .*frame\.png (is not an ONNX model|has no "config")/],
      [['--model', model, '--input', empty], /--input .*empty holds no image files/],
      [['--model', model, '--input', text], /--input .*x\.txt is not an image file/],
      [['--model', model, '--input', corrupt], /unreadable .*image .*broken\.png/],
      [['--input', image], /--model is required/],
    ];
    for (const [args, message] of cases) {
      const r = run(...args, '--out', join(dir, 'bad2'));
      expect(r.status, args.join(' ')).not.toBe(0);
      expect(r.stderr).toMatch(message);
    }
  });

  it('on a folder, skips and reports a bad file, finishes the others, and keeps same-stem outputs apart', async () => {
    const folder = join(dir, 'mixed');
    mkdirSync(folder);
    copyFileSync(image, join(folder, 'a.png'));
    await sharp(image).jpeg().toFile(join(folder, 'a.jpg'));
    writeFileSync(join(folder, 'b.png'), 'not really a png');
    copyFileSync(image, join(folder, 'c.png'));
    const out = join(dir, 'mixed-out');
    const r = run('--model', model, '--input', folder, '--out', out, '--samples', '2');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/1 of 4 image\(s\) could not be processed/);
    const s = JSON.parse(r.stdout) as Summary & { failures: { input: string; error: string }[] };
    expect(s.images.map((i) => i.name)).toEqual(['a_jpg', 'a_png', 'c']);
    expect(s.failures.map((f) => f.input)).toEqual([join(folder, 'b.png')]);
    expect(
      readdirSync(out)
        .filter((f) => f.endsWith('-prediction.png'))
        .sort(),
    ).toEqual(['a_jpg-prediction.png', 'a_png-prediction.png', 'c-prediction.png']);
  });

  it('--ep cuda,cpu says that CUDA is not available and which provider it used', () => {
    const r = run('--model', model, '--input', image, '--out', join(dir, 'ep'), '--samples', '2', '--ep', 'cuda,cpu');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/--ep: cuda is not available \(onnxruntime-node's CUDA provider library is not installed/);
    expect(r.stderr).toMatch(/execution provider: using cpu/);
  });

  it('--help lists only image types the decoder reads (no .bmp)', () => {
    expect(run('--help').stdout).not.toMatch(/bmp/);
  });
});

describe('copyWeightsByName', () => {
  it('copies trained weights into the MC graph and names missing or misshapen ones', () => {
    const c = presetConfig('tiny');
    const inf = buildInferenceModel(c);
    const trained = inf.initializers.filter((i) => i.trainable);
    (trained[0]!.constant.data as Float32Array).fill(0.125);
    const path = join(dir, 'weights.onnx');
    writeFileSync(path, serialize(inf));
    const loaded = loadTrainedModel(path);
    expect(loaded.config).toEqual(c);
    const mc = buildMcModel({ ...loaded.config, samples: 2 });
    expect(copyWeightsByName(mc, loaded.weights)).toBe(trained.length);
    const first = mc.initializers.find((i) => i.name === trained[0]!.name)!;
    expect(Array.from(first.constant.data as Float32Array).every((v) => v === 0.125)).toBe(true);

    const missing = new Map(loaded.weights);
    missing.delete(trained[1]!.name);
    expect(() => copyWeightsByName(mc, missing)).toThrow(
      new RegExp(`${trained[1]!.name.replace(/\./g, '\\.')} .* is missing`),
    );
    const wrong = new Map(loaded.weights);
    wrong.set(trained[0]!.name, { shape: [1], data: new Float32Array(1) });
    expect(() => copyWeightsByName(mc, wrong)).toThrow(/is \[1\] in the weights/);
  });
});
