/** The dashboard's entry: resumes the tab's session (if any) and renders the app into #app. */
import { render } from 'preact';
import { App } from './app/shell.js';
import { resume } from './app/session.js';
import './ui/styles.css';

const root = document.getElementById('app')!;
void resume().finally(() => render(<App />, root));
