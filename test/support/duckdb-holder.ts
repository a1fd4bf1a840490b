// Another process holding a DuckDB file open, as a running apply (to write) or plan (to
// read) does, until the test releases it: what mlbridge meets when it opens a busy file.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

const SCRIPT = `
import { DuckDBInstance } from '@duckdb/node-api';
const db = await DuckDBInstance.create(process.argv[1], { access_mode: process.argv[2] });
process.stdout.write('held\\n');
process.stdin.on('data', () => {}).on('end', () => { db.closeSync(); process.exit(0); });
`;

export interface DuckDbHolder {
  pid: number;
  /** Closes the file and waits for the holder to exit. */
  release(): Promise<void>;
}

/** Opens `path` in another process (READ_WRITE or READ_ONLY) and resolves once it holds it. */
export async function holdDuckDb(path: string, mode: 'READ_WRITE' | 'READ_ONLY' = 'READ_WRITE'): Promise<DuckDbHolder> {
  // cwd: the repository, so the child resolves @duckdb/node-api from its node_modules.
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT, path, mode], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  let out = '';
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('held\n')) resolve();
    });
    void exited.then(() => reject(new Error(`the DuckDB holder exited before holding ${path}:\n${out}`)));
  });
  return {
    pid: child.pid!,
    async release() {
      child.stdin!.end();
      await exited;
      process.removeListener('exit', onExit);
    },
  };
}
