/** Real child processes for the reliability tests: the CLI as a user runs it, and scripts that hold a store open. */
import { spawn, type ChildProcess } from 'node:child_process';

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `node --import tsx SCRIPT ...args` from the repository root with extra environment. */
export function spawnTs(script: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** `cotscope ...args`, exactly as the bin entry runs it. */
export const spawnCli = (args: string[], env: Record<string, string> = {}): ChildProcess => spawnTs('lib/cli/main.ts', args, env);

/** Collects a child's output until it exits. */
export function finished(child: ChildProcess): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (data: Buffer) => { stdout += data.toString(); });
  child.stderr?.on('data', (data: Buffer) => { stderr += data.toString(); });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export const runCli = (args: string[], env: Record<string, string> = {}): Promise<Finished> => finished(spawnCli(args, env));

/** Resolves with the child's output so far once a line of stdout or stderr matches `pattern` `count` times. */
export function waitForLine(child: ChildProcess, pattern: RegExp, count = 1): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    let matches = 0;
    const onData = (data: Buffer) => {
      for (const line of data.toString().split('\n')) {
        output += `${line}\n`;
        if (pattern.test(line) && ++matches === count) resolve(output);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code) => reject(new Error(`process exited (${code}) before ${count} lines matched ${pattern}:\n${output}`)));
  });
}
