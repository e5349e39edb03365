import { describe, it, expect } from 'vitest';
import { MemoryBackend } from '../store/memory.js';
import { Repository } from '../store/repository.js';
import type { Component } from './component.js';
import { WhileLeading } from './leading.js';

/** Components that log their starts and stops to `log`. */
function parts(who: string, log: string[], fail = false): () => Component[] {
  let term = 0;
  return () => {
    term++;
    return ['scheduler', 'controller'].map((name) => ({
      name,
      start: async () => {
        if (fail && name === 'controller') throw new Error('no store');
        log.push(`${who}${term} start ${name}`);
      },
      stop: async () => void log.push(`${who}${term} stop ${name}`),
      health: () => (name === 'controller' ? 'behind' : ''),
    }));
  };
}

describe('WhileLeading', () => {
  it('runs its components on the leader only, stops them before another leader starts its own, and builds them afresh each term', async () => {
    const repo = new Repository(new MemoryBackend());
    const log: string[] = [];
    const a = new WhileLeading(repo, { election: 'controllers', identity: 'a' }, parts('a', log));
    const b = new WhileLeading(repo, { election: 'controllers', identity: 'b' }, parts('b', log));
    await a.start();
    await b.start();
    expect(log).toEqual(['a1 start scheduler', 'a1 start controller']);
    expect(a.health()).toBe('controller: behind');
    expect(a.checks()).toEqual({ scheduler: 'ok', controller: 'behind' });
    expect(b.health()).toBe('');
    expect(b.checks()).toEqual({});
    await a.stop();
    while (!b.election.isLeader) await new Promise((r) => setImmediate(r));
    await b.stop();
    expect(log).toEqual([
      'a1 start scheduler', 'a1 start controller', 'a1 stop controller', 'a1 stop scheduler',
      'b1 start scheduler', 'b1 start controller', 'b1 stop controller', 'b1 stop scheduler',
    ]);
    expect(await a.election.holder()).toBeUndefined();
  });

  it('fails its start when a component fails to start at once, having stopped those that started', async () => {
    const repo = new Repository(new MemoryBackend());
    const log: string[] = [];
    const a = new WhileLeading(repo, { election: 'controllers', identity: 'a' }, parts('a', log, true));
    await expect(a.start()).rejects.toThrow('no store');
    expect(log).toEqual(['a1 start scheduler', 'a1 stop scheduler']);
    expect(a.election.isLeader).toBe(false);
    expect(await a.election.holder()).toBeUndefined();
  });
});
