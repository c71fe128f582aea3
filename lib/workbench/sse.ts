/** Incremental parser for a server-sent event stream read with fetch (EventSource cannot POST). */
export class SseParser {
  private buffer = '';

  /** Feeds decoded text; returns the `data` payloads of the events completed by it. */
  push(text: string): string[] {
    this.buffer += text;
    const payloads: string[] = [];
    let boundary = this.buffer.indexOf('\n\n');
    while (boundary >= 0) {
      const block = this.buffer.slice(0, boundary);
      this.buffer = this.buffer.slice(boundary + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, ''))
        .join('\n');
      if (data) payloads.push(data);
      boundary = this.buffer.indexOf('\n\n');
    }
    return payloads;
  }
}
