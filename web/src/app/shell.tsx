/**
 * The app around every page: a skip link, the header (who is logged in and their role, the
 * project switcher, log out), the navigation built from the page registry, and the page the
 * route matches. Before login: the login form.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { useSignal } from '@preact/signals';
import { pages } from '../pages/index.js';
import { projectKind } from '../../../src/model/kinds/index.js';
import type { Project } from '../../../src/model/kinds/project.js';
import { isClusterAdmin, currentRole, login, logout, selectProject, session } from './session.js';
import { match, onLinkClick, route } from './router.js';
import { NAV_SECTIONS, type Page } from './page.js';
import { ErrorBox, Link } from '../ui/components.js';
import { useWatchList } from '../api/watch-list.js';

export function App() {
  if (!session.api.value) return <Login />;
  return <Shell />;
}

function Login() {
  const token = useSignal('');
  const busy = useSignal(false);
  useEffect(() => { document.title = 'Log in · Stratus'; }, []);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!token.value.trim()) { session.message.value = 'Enter an API token (stratus_...): `stratus token create` makes one.'; return; }
    busy.value = true;
    await login(token.value);
    busy.value = false;
  };
  return (
    <main id="main" class="login">
      <h1>Stratus</h1>
      <form onSubmit={submit} aria-label="Log in">
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="off" spellcheck={false} value={token.value}
          onInput={(e) => { token.value = (e.target as HTMLInputElement).value; }} aria-describedby="token-help" />
        <p id="token-help" class="hint">Kept in this tab only (session storage), never in a URL.</p>
        <ErrorBox message={session.message.value} />
        <button type="submit" disabled={busy.value}>Log in</button>
      </form>
    </main>
  );
}

/** The page the route matches, and its params. */
export function resolve(path: string, all: Page[] = pages): { page: Page; params: Record<string, string> } | undefined {
  for (const page of all) {
    const params = match(page.path, path);
    if (params) return { page, params };
  }
  return undefined;
}

function Shell() {
  const path = route.value;
  const found = resolve(path);
  const title = found ? (typeof found.page.title === 'function' ? found.page.title(found.params) : found.page.title) : 'Not found';
  useEffect(() => { document.title = `${title} · Stratus`; }, [title]);
  // After a navigation (not the first load) focus moves to the page, so a screen reader reads its heading.
  const loaded = useRef(false);
  useEffect(() => {
    if (loaded.current) document.getElementById('main')?.focus();
    loaded.current = true;
  }, [path]);
  const allowed = !found?.page.needs || isClusterAdmin();
  const Component = found?.page.component;
  return (
    <div class="shell" onClick={onLinkClick}>
      <a class="skip" href="#main">Skip to content</a>
      <Header />
      <Nav current={found ? found.page.navParent ?? found.page.path : undefined} />
      <main id="main" tabIndex={-1}>
        <h1>{title}</h1>
        {!found && <p>No page here. <Link to="/">Go to the overview</Link>.</p>}
        {found && !allowed && <p role="alert">Only cluster admins see this page.</p>}
        {found && allowed && Component && <Component key={path} params={found.params} />}
      </main>
    </div>
  );
}

function Header() {
  const who = session.whoami.value!;
  return (
    <header class="top">
      <Link to="/" class="brand">Stratus</Link>
      <ProjectSwitcher />
      <span class="who" aria-label="Signed in as">
        <span>{who.user ?? who.token}</span> <span class="role">{currentRole.value}</span>
      </span>
      <ThemeNote />
      <button type="button" onClick={() => logout()}>Log out</button>
    </header>
  );
}

function ProjectSwitcher() {
  const api = session.api.value!;
  const projects = useWatchList<Project>(api, projectKind);
  const _changes = projects.version.value; // re-render when the list changes
  const names = projects.values().map((p) => p.metadata.name).sort();
  const current = session.project.value;
  if (current && !names.includes(current) && projects.complete.value) names.unshift(current);
  return (
    <label class="switcher">
      <span>Project</span>
      <select aria-label="Project" value={current} onChange={(e) => selectProject((e.target as HTMLSelectElement).value)}>
        <option value="">All projects</option>
        {names.map((n) => <option key={n} value={n}>{n}</option>)}
      </select>
    </label>
  );
}

/** Light or dark follows the system (prefers-color-scheme); nothing to choose, so only a hidden note for screen readers. */
function ThemeNote() {
  const [dark] = useState(() => matchMedia('(prefers-color-scheme: dark)').matches);
  return <span class="sr-only">{dark ? 'Dark theme' : 'Light theme'} (follows your system)</span>;
}

/** The navigation; `current` is the path of the entry marked as the current page. */
function Nav(props: { current: string | undefined }) {
  const admin = isClusterAdmin();
  const listed = pages.filter((p) => p.nav && (!p.needs || admin));
  return (
    <nav class="side" aria-label="Main">
      {NAV_SECTIONS.map((section) => {
        const items = listed.filter((p) => p.nav!.section === section).sort((a, b) => a.nav!.order - b.nav!.order);
        if (items.length === 0) return null;
        return (
          <div key={section}>
            <h2>{section}</h2>
            <ul>
              {items.map((p) => {
                return <li key={p.path}><Link to={p.path} aria-current={props.current === p.path ? 'page' : undefined}>{p.nav!.label}</Link></li>;
              })}
            </ul>
          </div>
        );
      })}
    </nav>
  );
}
