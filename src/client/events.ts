/**
 * The watch stream's wire format (text/event-stream, src/api/routes/watch.ts) parsed into
 * messages. No Node modules: the CLI, the agent and the dashboard (web/) share it.
 */
import type { WatchMessage } from './index.js';

/** Parses a text/event-stream body into messages. */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<WatchMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id: number | undefined;
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) id = Number(line.slice(4));
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (!data) continue;
      const msg = JSON.parse(data) as WatchMessage;
      if (id !== undefined) msg.revision = id;
      yield msg;
    }
  }
}
