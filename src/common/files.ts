/** File writes that never leave half a file behind, whatever crashes when. */
import * as nodeFs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';

/**
 * The file-system calls our durable writes make, one step each. Production code uses node:fs; the
 * fault-injection tests pass a layer that "kills the process" at any chosen step (that call and every
 * later one fail without effect), to check that no crash point loses data.
 */
export interface FileOps {
  mkdirSync(path: string, options: { recursive: true }): unknown;
  openSync(path: string, flags: string): number;
  writeSync(fd: number, bytes: Uint8Array, offset: number, length: number): number;
  fsyncSync(fd: number): void;
  closeSync(fd: number): void;
  renameSync(from: string, to: string): void;
  rmSync(path: string, options: { force: true }): void;
  readdirSync(path: string): string[];
}

export const NODE_FS: FileOps = nodeFs as unknown as FileOps;

/** Write via a uniquely named temporary file, fsync and rename; on any failure the temporary file is removed. */
export function writeFileAtomic(path: string, data: Uint8Array | string, fs: FileOps = NODE_FS): void {
  fs.mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  try {
    const fd = fs.openSync(tmp, 'wx');
    try {
      for (let at = 0; at < bytes.length; ) at += fs.writeSync(fd, bytes, at, bytes.length - at);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path);
  } catch (e) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // the temporary file could not even be created
    }
    throw e;
  }
}

/** Make the renames durable: fsync the folder (not supported everywhere; best effort). */
export function syncDir(dir: string, fs: FileOps = NODE_FS): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, 'r');
  } catch {
    return; // e.g. Windows cannot open a directory
  }
  try {
    fs.fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    fs.closeSync(fd);
  }
}

/** A JSON file's value; a missing file or invalid JSON is an error naming the file. */
export function readJsonFile(path: string | URL): unknown {
  return parseJsonFile(nodeFs.readFileSync(path, 'utf8'), path);
}

/** `text` (read from `path`) parsed as JSON; invalid JSON is an error naming the file. */
export function parseJsonFile(text: string, path: string | URL): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${String(path)} is not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
}
