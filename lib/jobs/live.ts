/**
 * Live-run events from a worker to the app that enqueued the run, over PostgreSQL LISTEN/NOTIFY
 * on one channel per store schema. A NOTIFY payload is capped at 8000 bytes, so each event's JSON
 * travels in numbered parts that the listener joins back.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Store } from '../store/index';
import type { RunEvent } from '../workbench/contracts';

/** Characters per part: at most 4 bytes each in UTF-8, well under the 8000-byte payload cap with the header. */
const PART_CHARS = 1900;

export function liveChannel(schema: string): string {
  return `cotscope_live_${createHash('sha256').update(schema).digest('hex').slice(0, 16)}`;
}

/** Publishes a job's events in order (each send waits for the previous one). */
export class LivePublisher {
  private chain: Promise<unknown> = Promise.resolve();
  private sequence = 0;
  private readonly channel: string;

  constructor(private readonly store: Store) {
    this.channel = liveChannel(store.backend.schema);
  }

  send(jobId: string, event: RunEvent): void {
    const json = JSON.stringify(event);
    const parts = Math.max(1, Math.ceil(json.length / PART_CHARS));
    const sequence = this.sequence++;
    for (let part = 0; part < parts; part++) {
      const payload = `${jobId} ${sequence} ${part} ${parts} ${json.slice(part * PART_CHARS, (part + 1) * PART_CHARS)}`;
      this.chain = this.chain.then(() => this.store.backend.fast.query('SELECT pg_notify($1, $2)', [this.channel, payload])).catch(() => undefined);
    }
  }

  /** Resolves when every event sent so far is published. */
  flush(): Promise<unknown> {
    return this.chain;
  }
}

type Handler = (event: RunEvent) => void;

/** One LISTEN connection that dispatches events to the subscribers of each job. */
export class LiveListener {
  private readonly handlers = new Map<string, Handler>();
  private readonly partial = new Map<string, string[]>();

  /** False once the connection failed: open a new listener. */
  alive = true;

  private constructor(private readonly client: pg.Client) {
    client.on('notification', (message) => this.receive(message.payload ?? ''));
    client.on('error', (error) => {
      this.alive = false;
      console.error(`live-run listener: ${error.message}`);
    });
  }

  static async open(databaseUrl: string, schema: string): Promise<LiveListener> {
    const url = new URL(databaseUrl);
    url.searchParams.delete('schema');
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    await client.query(`LISTEN ${liveChannel(schema)}`);
    return new LiveListener(client);
  }

  subscribe(jobId: string, handler: Handler): () => void {
    this.handlers.set(jobId, handler);
    return () => {
      this.handlers.delete(jobId);
      for (const key of this.partial.keys()) if (key.startsWith(`${jobId} `)) this.partial.delete(key);
    };
  }

  private receive(payload: string): void {
    const [jobId, sequence, partText, partsText] = payload.split(' ', 4);
    const handler = this.handlers.get(jobId);
    if (!handler) return;
    const body = payload.slice(jobId.length + sequence.length + partText.length + partsText.length + 4);
    const parts = Number(partsText);
    let json = body;
    if (parts > 1) {
      const key = `${jobId} ${sequence}`;
      const pieces = this.partial.get(key) ?? [];
      pieces[Number(partText)] = body;
      this.partial.set(key, pieces);
      if (pieces.filter((piece) => piece !== undefined).length < parts) return;
      this.partial.delete(key);
      json = pieces.join('');
    }
    handler(JSON.parse(json) as RunEvent);
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}
