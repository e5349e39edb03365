import type { Page } from '../app/page.js';

function Overview() {
  return <p>Loading the overview…</p>;
}

export const overviewPage: Page = { path: '/', title: 'Overview', nav: { label: 'Overview', section: 'Cluster', order: 0 }, component: Overview };
