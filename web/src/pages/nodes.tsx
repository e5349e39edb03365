import type { Page } from '../app/page.js';

function Nodes() {
  return <p>Nodes</p>;
}

function NodeView(props: { params: Record<string, string> }) {
  return <p>{props.params['name']}</p>;
}

export const nodesPage: Page = { path: '/nodes', title: 'Nodes', nav: { label: 'Nodes', section: 'Cluster', order: 10 }, component: Nodes };
export const nodePage: Page = { path: '/nodes/:name', title: (p) => `Node ${p['name']}`, component: NodeView };
