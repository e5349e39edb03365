/**
 * The page registry: every page of the dashboard, one line each (web/README.md: how to add one).
 * Order matters only where two patterns could match the same path: the first wins.
 */
import type { Page } from '../app/page.js';
import { overviewPage } from './overview.js';
import { instancesPage } from './instances.js';
import { instancePage } from './instance.js';
import { nodesPage, nodePage } from './nodes.js';
import { servicesPage, servicePage } from './services.js';
import { stacksPage, stackPage } from './stacks.js';
import { eventsPage } from './events.js';
import { networksPage } from './networks.js';
import { securityGroupsPage } from './security-groups.js';
import { projectsPage, projectPage } from './projects.js';
import { tokensPage } from './tokens.js';
import { quotasPage } from './quotas.js';
import { auditPage } from './audit.js';

export const pages: Page[] = [
  overviewPage,
  instancesPage,
  instancePage,
  nodesPage,
  nodePage,
  servicesPage, servicePage,
  stacksPage, stackPage,
  eventsPage,
  networksPage, securityGroupsPage,
  projectsPage, projectPage, tokensPage, quotasPage,
  auditPage,
];
