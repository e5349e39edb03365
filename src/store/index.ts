/** Loads every backend so that openBackend() knows their schemes. */
export * from './backend.js';
import './memory.js';
import './sqlite.js';
