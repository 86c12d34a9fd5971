import { describe, expect, it } from 'vitest';
import { ConfirmationWatermark, cutBatch, KEEPALIVE_CONFIRM_INTERVAL_MS } from '../../../services/capture/confirmation-watermark.ts';
import type { Decoded } from '../../../services/capture/change-decoder.ts';
import type { ChangeEvent } from '../../../services/domain/change-event.ts';

const change = (key: string, lsn: string): ChangeEvent => ({
  kind: 'change', table: 'Prestamo', key, op: 'u', after: { id: key }, unchangedToast: [],
  position: { lsn, xid: '900', seq: 1, commitTime: '2026-12-01T10:00:00.000Z' },
});
const boundary = (lsn: string): Decoded => ({ boundary: lsn });
const keys = (events: ChangeEvent[]) => events.map((e) => (e as { key: string }).key);

describe('cutting a batch', () => {
  it('takes whole transactions and confirms the last boundary among them, also one right after the last event', () => {
    const pending: Decoded[] = [change('a', '0/10'), boundary('0/18'), change('b', '0/20'), change('c', '0/20'), boundary('0/28'), change('d', '0/30')];
    const cut = cutBatch(pending, 3);
    expect(keys(cut.events)).toEqual(['a', 'b', 'c']);
    expect(cut.taken).toBe(5);
    expect(cut.confirmAt).toBe('0/28');
  });

  it('confirms nothing for a batch inside an open transaction, and the earlier boundary for one that ends inside a later one', () => {
    expect(cutBatch([change('a', '0/10'), change('b', '0/10')], 10).confirmAt).toBeNull();
    const cut = cutBatch([change('a', '0/10'), boundary('0/18'), change('b', '0/20'), change('c', '0/20'), boundary('0/28')], 2);
    expect(keys(cut.events)).toEqual(['a', 'b']);
    expect(cut.taken).toBe(3);
    expect(cut.confirmAt).toBe('0/18');
  });

  it('takes boundaries alone (a transaction whose events were all published before)', () => {
    expect(cutBatch([boundary('0/18'), boundary('0/28')], 5)).toEqual({ events: [], taken: 2, confirmAt: '0/28' });
    expect(cutBatch([], 5)).toEqual({ events: [], taken: 0, confirmAt: null });
  });
});

describe('the confirmation watermark', () => {
  it('only moves forward', () => {
    const w = new ConfirmationWatermark();
    expect(w.confirmed).toBeNull();
    expect(w.advances('0/10')).toBe(true);
    w.confirmedAt('0/10');
    expect(w.confirmed).toBe('0/10');
    expect(w.advances('0/10')).toBe(false);
    expect(w.advances('0/F')).toBe(false);
    w.confirmedAt('0/F');
    expect(w.confirmed).toBe('0/10');
    expect(w.advances('1/0')).toBe(true);
  });

  it('an idle stream confirms a keepalive position at most once an interval, unless the server asks for a reply', () => {
    const w = new ConfirmationWatermark();
    const t0 = 1_000_000;
    expect(w.keepalive('0/10', false, true, t0)).toEqual({ confirm: '0/10', repeat: null });
    w.confirmedAt('0/10');
    expect(w.keepalive('0/20', false, true, t0 + KEEPALIVE_CONFIRM_INTERVAL_MS)).toEqual({ confirm: null, repeat: null });
    expect(w.keepalive('0/20', true, true, t0 + 10)).toEqual({ confirm: '0/20', repeat: null });
    expect(w.keepalive('0/30', false, true, t0 + 10 + KEEPALIVE_CONFIRM_INTERVAL_MS + 1)).toEqual({ confirm: '0/30', repeat: null });
  });

  it('a stream that is not idle confirms no keepalive position, and answers a requested reply with the position already confirmed', () => {
    const w = new ConfirmationWatermark();
    expect(w.keepalive('0/10', true, false, 5000)).toEqual({ confirm: null, repeat: null });
    w.confirmedAt('0/8');
    expect(w.keepalive('0/10', false, false, 5000)).toEqual({ confirm: null, repeat: null });
    expect(w.keepalive('0/10', true, false, 5000)).toEqual({ confirm: null, repeat: '0/8' });
    // idle at a position that does not move: the reply repeats the confirmed one
    expect(w.keepalive('0/8', true, true, 9000)).toEqual({ confirm: '0/8', repeat: '0/8' });
  });
});
