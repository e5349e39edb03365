/**
 * What a page registers (web/src/pages/index.ts lists them; web/README.md is the contract):
 *
 *   export const servicesPage: Page = {
 *     path: '/services',                    // below /ui; `:name` segments become params
 *     title: 'Services',                    // the <h1> and the document title
 *     nav: { label: 'Services', section: 'Workloads', order: 20 },   // absent: not in the nav
 *     component: ServicesPage,              // gets { params }
 *   };
 */
import type { ComponentType } from 'preact';

export type NavSection = 'Cluster' | 'Workloads' | 'Network' | 'Access' | 'Audit';

export interface PageProps {
  /** The path's `:name` segments, decoded. */
  params: Record<string, string>;
}

export interface Page {
  path: string;
  /** The page's heading; a function of the params for object pages ("Instance web"). */
  title: string | ((params: Record<string, string>) => string);
  nav?: { label: string; section: NavSection; order: number };
  /** For a page not in the nav: the path of the nav entry it belongs to (an instance's page: '/instances'), marked current. */
  navParent?: string;
  /** Who sees the page in the nav (others reaching its URL get a sentence saying why not). Default: everyone logged in. */
  needs?: 'cluster-admin';
  component: ComponentType<PageProps>;
}

export const NAV_SECTIONS: NavSection[] = ['Cluster', 'Workloads', 'Network', 'Access', 'Audit'];
