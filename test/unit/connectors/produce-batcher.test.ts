import { describe, expect, it } from 'vitest';
import { ProduceBatcher, budgetFor, messageBytes } from '../../../connectors/kafka/produce-batcher.ts';

const msg = (bytes: number, key = 'k') => ({ key, value: Buffer.alloc(bytes, 'x') });

describe('ProduceBatcher', () => {
  it('keeps order and cuts requests so that none exceeds the budget', () => {
    const budget = 10_000;
    const b = new ProduceBatcher(budget);
    const sizes = [3000, 3000, 3000, 3000, 500, 9000, 100];
    sizes.forEach((n, i) => expect(b.add(i % 2 ? 't1' : 't2', msg(n, `k${i}`))).toBe(true));
    const requests = b.take();
    for (const r of requests) {
      const total = r.topicMessages.flatMap((t) => t.messages).reduce((s, m) => s + messageBytes(m), 0);
      expect(total).toBe(r.bytes);
      expect(total).toBeLessThanOrEqual(budget);
    }
    const keys = requests.flatMap((r) => r.topicMessages.flatMap((t) => t.messages.map((m) => m.key)));
    expect(keys).toEqual(sizes.map((_, i) => `k${i}`));
    expect(requests.length).toBe(3);
    expect(b.take()).toEqual([]);
  });

  it('refuses a message that alone is over the budget and goes on with the others', () => {
    const b = new ProduceBatcher(1000);
    expect(b.add('t', msg(100, 'a'))).toBe(true);
    expect(b.add('t', msg(5000, 'big'))).toBe(false);
    expect(b.add('t', msg(100, 'c'))).toBe(true);
    expect(b.take().flatMap((r) => r.topicMessages.flatMap((t) => t.messages.map((m) => m.key)))).toEqual(['a', 'c']);
  });

  it('groups consecutive messages of one topic', () => {
    const b = new ProduceBatcher(1_000_000);
    for (const t of ['a', 'a', 'b', 'a']) b.add(t, msg(10));
    expect(b.take()[0]!.topicMessages.map((t) => [t.topic, t.messages.length])).toEqual([['a', 2], ['b', 1], ['a', 1]]);
  });

  it('counts headers and framing, and leaves a margin under max.message.bytes', () => {
    expect(messageBytes({ key: 'ab', value: Buffer.alloc(10), headers: { h: 'xyz' } })).toBe(32 + 2 + 10 + 1 + 8 + 3);
    expect(budgetFor(1_048_588)).toBe(1_048_588 - 16 * 1024);
    expect(budgetFor(64 * 1024)).toBe(64 * 1024 - 8 * 1024);
  });
});
