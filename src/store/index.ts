/** Loads every backend so that openBackend() knows their schemes. */
export * from './backend.js';
import { registerBackend } from './backend.js';
import './memory.js';
import './sqlite.js';

// etcd's client (gRPC, protobuf) takes some 100 ms to load: loaded when an etcd store is opened
for (const scheme of ['etcd', 'etcds']) registerBackend(scheme, async (url, options) => (await import('./etcd.js')).openEtcd(url, options));
