/**
 * The page registry: every page of the dashboard, one line each (web/README.md: how to add one).
 * Order matters only where two patterns could match the same path: the first wins.
 */
import type { Page } from '../app/page.js';
import { overviewPage } from './overview.js';
import { instancesPage } from './instances.js';
import { instancePage } from './instance.js';
import { nodesPage, nodePage } from './nodes.js';

export const pages: Page[] = [
  overviewPage,
  instancesPage,
  instancePage,
  nodesPage,
  nodePage,
];
