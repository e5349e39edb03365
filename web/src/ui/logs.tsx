/**
 * Live logs of an instance: the last 500 lines, then followed as they come (the API's logs
 * stream), terminal escape sequences dropped. "Pause" freezes what is shown (lines keep arriving
 * and appear on "Follow"); the search box shows only the lines containing its text, the text
 * marked. At most 5,000 lines are kept (format.ts appendLines).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, paths, type Api } from '../api/client.js';
import { ErrorBox } from './components.js';
import { appendLines, plainText } from './format.js';

export function Logs(props: { api: Api; project: string; name: string }) {
  const [lines, setLines] = useState<string[]>([]);
  const [shown, setShown] = useState<string[]>([]);
  const [paused, setPaused] = useState(false);
  const [query, setQuery] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [waiting, setWaiting] = useState<string | undefined>();
  const box = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const abort = new AbortController();
    setLines([]);
    setError(undefined);
    setWaiting(undefined);
    props.api.stream(paths.instance(props.project, props.name, 'logs'), { follow: true, tail: 500 }, (t) => setLines((l) => appendLines(l, plainText(t))), abort.signal)
      // Not running yet (409 NOT_RUNNING) is a state, not a failure: said plainly; the page remounts this when it starts.
      .catch((e: Error) => {
        if (e instanceof ApiError && e.code === 'STRATUS_ERR_NOT_RUNNING') setWaiting(e.message);
        else setError(e.message);
      });
    return () => abort.abort();
  }, [props.api, props.project, props.name]);
  useEffect(() => {
    if (paused) return;
    setShown(lines);
  }, [lines, paused]);
  useEffect(() => {
    if (!paused && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [shown, paused]);
  const q = query.trim();
  const visible = q ? shown.filter((l) => l.includes(q)) : shown;
  return (
    <div>
      <div class="actions">
        <button type="button" aria-pressed={paused} onClick={() => setPaused(!paused)}>{paused ? 'Follow' : 'Pause'}</button>
        <input type="search" aria-label="Search logs" placeholder="Search logs" value={query} onInput={(e) => setQuery((e.target as HTMLInputElement).value)} />
        <span class="hint" role="status">{q ? `${visible.length} matching lines` : paused ? 'Paused' : 'Following'}</span>
      </div>
      <ErrorBox message={error} />
      {waiting && <p class="hint">{waiting}</p>}
      <pre class="logs" role="log" aria-label="Logs" tabIndex={0} ref={box}>
        {visible.map((l, i) => <div key={i}>{q ? highlight(l, q) : l || '\u200b'}</div>)}
      </pre>
    </div>
  );
}

function highlight(line: string, q: string) {
  const parts = line.split(q);
  return parts.flatMap((p, i) => (i === 0 ? [p] : [<mark key={i}>{q}</mark>, p]));
}
