import type { Page } from '../app/page.js';

function Instances() {
  return <p>Instances</p>;
}

function InstanceView(props: { params: Record<string, string> }) {
  return <p>{props.params['name']}</p>;
}

export const instancesPage: Page = { path: '/instances', title: 'Instances', nav: { label: 'Instances', section: 'Workloads', order: 10 }, component: Instances };
export const instancePage: Page = { path: '/projects/:project/instances/:name', title: (p) => `Instance ${p['name']}`, component: InstanceView };
