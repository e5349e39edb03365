/**
 * A VM's serial console in the page: the API's console WebSocket (raw bytes both ways, closed
 * with 4000 + an HTTP status and the reason when refused). Output is shown as text (terminal
 * escape sequences dropped); a line typed in the input is sent with a carriage return.
 * Members only (the route refuses viewers): the instance page shows it to them alone.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { paths, type Api } from '../api/client.js';
import { ErrorBox } from './components.js';
import { appendLines, plainText } from './format.js';

export function Console(props: { api: Api; project: string; name: string }) {
  const [ws, setWs] = useState<WebSocket | undefined>();
  const [lines, setLines] = useState<string[]>([]);
  const [input, setInput] = useState('');
  const [error, setError] = useState<string | undefined>();
  const box = useRef<HTMLPreElement>(null);
  useEffect(() => () => ws?.close(), [ws]);
  useEffect(() => { if (box.current) box.current.scrollTop = box.current.scrollHeight; }, [lines]);
  const connect = () => {
    setError(undefined);
    const socket = props.api.socket(paths.instance(props.project, props.name, 'console'), 'stratus.console');
    const decoder = new TextDecoder();
    socket.onmessage = (m) => {
      const text = typeof m.data === 'string' ? m.data : decoder.decode(m.data as ArrayBuffer, { stream: true });
      setLines((l) => appendLines(l, plainText(text)));
    };
    socket.onclose = (e) => {
      setWs(undefined);
      if (e.code >= 4000) setError(e.reason || `the console closed (${e.code})`);
      else if (e.code !== 1000 && e.code !== 1005) setError(`the console connection ended (${e.code}${e.reason ? `: ${e.reason}` : ''})`);
    };
    setWs(socket);
  };
  const send = (e: Event) => {
    e.preventDefault();
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(new TextEncoder().encode(`${input}\r`));
    setInput('');
  };
  return (
    <div>
      <div class="actions">
        {ws ? <button type="button" onClick={() => ws.close(1000)}>Disconnect console</button> : <button type="button" onClick={connect}>Connect console</button>}
      </div>
      <ErrorBox message={error} />
      <pre class="logs" role="log" aria-label="Console" tabIndex={0} ref={box}>{lines.join('\n')}</pre>
      <form class="actions" onSubmit={send} aria-label="Console input">
        <input type="text" aria-label="Console input line" value={input} disabled={!ws} autocomplete="off" spellcheck={false}
          onInput={(e) => setInput((e.target as HTMLInputElement).value)} />
        <button type="submit" disabled={!ws}>Send</button>
      </form>
    </div>
  );
}
