/**
 * The usage routes (api/routes/usage.ts) as typed functions of an ApiClient: a node agent's
 * report, and what `stratus top` and the dashboard read.
 */
import type { ApiClient } from './index.js';
import type { InstanceUsageRow, InstanceUsageView, NodeUsageReport, NodeUsageView } from '../model/usage.js';
import { paths } from './paths.js';

/** PUT /v1/nodes/{node}/usage (the node's own credential): entries for instances not bound to it are dropped and named. */
export function reportUsage(api: ApiClient, report: NodeUsageReport): Promise<{ accepted: number; dropped: { uid: string; reason: string }[] }> {
  return api.request('PUT', paths.nodeUsage(report.node), { body: report });
}

/** An instance's latest usage and its history (`since`: e.g. "10m"; default all kept). */
export function instanceUsage(api: ApiClient, project: string, name: string, since?: string): Promise<InstanceUsageView> {
  return api.request('GET', paths.instance(project, name, 'usage'), { query: { since } });
}

/** The running instances the caller may read (of `project`, or every project), with their latest usage. */
export async function listInstanceUsage(api: ApiClient, options: { project?: string; selector?: string } = {}): Promise<InstanceUsageRow[]> {
  return (await api.request<{ items: InstanceUsageRow[] }>('GET', paths.usageInstances(), { query: { project: options.project, selector: options.selector } })).items;
}

/** The nodes the caller may list: allocation against capacity, and what their agents last reported. */
export async function listNodeUsage(api: ApiClient): Promise<NodeUsageView[]> {
  return (await api.request<{ items: NodeUsageView[] }>('GET', paths.usageNodes())).items;
}
