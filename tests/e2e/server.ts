/** Starts `scripts/start.ts` on a free port with its own data folder, for browser tests and benchmarks. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface RunningApp {
  url: string;
  /** The server process (the app runs in it: its memory is the server's memory). */
  pid: number;
  dataDir: string;
  logs: string[];
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startApp(args: string[], env: Record<string, string> = {}, timeoutMs = 240_000): Promise<RunningApp> {
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cotscope-app-'));
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts', '--port', String(port), ...args], {
    cwd: path.resolve(import.meta.dirname, '../..'),
    env: { ...process.env, COTSCOPE_DATA_DIR: dataDir, NEXT_TELEMETRY_DISABLED: '1', DATABASE_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`app did not start within ${timeoutMs} ms:\n${logs.join('')}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      logs.push(chunk.toString());
      if (logs.join('').includes('cotscope workbench on http')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`app exited with ${code} before it was ready:\n${logs.join('')}`));
    });
  });
  await ready;
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    dataDir,
    logs,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}
