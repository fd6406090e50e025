import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJsonFile } from '../../src/common/files.js';

describe('readJsonFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'read-json-'));

  it('returns the value of a JSON file', () => {
    writeFileSync(join(dir, 'ok.json'), '{"a": [1, 2]}\n');
    expect(readJsonFile(join(dir, 'ok.json'))).toEqual({ a: [1, 2] });
  });

  it('names the file when its text is not JSON or it is missing', () => {
    writeFileSync(join(dir, 'bad.json'), 'not json');
    expect(() => readJsonFile(join(dir, 'bad.json'))).toThrow(`${join(dir, 'bad.json')} is not valid JSON (`);
    expect(() => readJsonFile(join(dir, 'none.json'))).toThrow(join(dir, 'none.json'));
  });
});
