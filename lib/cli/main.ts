/** `cotscope <command>`: a thin shell over the library API. */
import { runRunCommand } from './run';

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, { describe: string; load: () => Promise<Command> }> = {
  run: { describe: 'generate from a prompt and print messages and captures', load: async () => runRunCommand },
  capture: { describe: 'batch-capture a JSONL file of prompts into the trace store', load: async () => (await import('./capture')).runCaptureCommand },
  worker: { describe: 'take capture jobs from the PostgreSQL queue and run them', load: async () => (await import('./worker')).runWorkerCommand },
  jobs: { describe: 'queue progress per collection, workers, failures; retry or cancel jobs', load: async () => (await import('./jobs')).runJobsCommand },
  traces: { describe: 'list or get stored traces', load: async () => (await import('./traces')).runTracesCommand },
  export: { describe: 'write traces as a dataset: Parquet or JSON Lines plus a dataset card (--out DIR)', load: async () => (await import('./datasets')).runExportCommand },
  import: { describe: 'read a dataset folder or run --json documents back into the store', load: async () => (await import('./datasets')).runImportCommand },
  filter: { describe: 'run the reasoning filter over stored traces (--collection, --ids, --rules, --summary)', load: async () => (await import('./filter')).runFilterCommand },
  users: { describe: 'manage accounts: add, list, set-role, remove, token, revoke-token', load: async () => (await import('./users')).runUsersCommand },
  audit: { describe: 'print the audit log (admins)', load: async () => (await import('./users')).runAuditCommand },
  'export-gguf': { describe: 'write a GGUF file from an HF-layout checkpoint', load: async () => (await import('./export-gguf')).runExportGgufCommand },
};

export function usage(): string {
  const lines = Object.entries(commands).map(([name, { describe }]) => `  ${name.padEnd(12)} ${describe}`);
  return `usage: cotscope <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun "cotscope <command> --help" for a command's options.`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name ? commands[name] : undefined;
  if (!command) {
    console.error(name && name !== '--help' ? `unknown command "${name}"\n\n${usage()}` : usage());
    return name && name !== '--help' ? 2 : 0;
  }
  try {
    return await (await command.load())(rest);
  } catch (error) {
    console.error(`cotscope ${name}: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

const invokedDirectly = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (invokedDirectly) process.exitCode = await main(process.argv.slice(2));
