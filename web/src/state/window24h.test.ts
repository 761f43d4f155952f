import { describe, expect, it } from 'vitest';
import { customerServiceWindow, formatRemaining, WINDOW_MS } from './window24h';

const at = Date.parse('2026-12-06T12:00:00Z');

describe('the WhatsApp 24-hour window', () => {
  it('does not apply to other channels', () => {
    expect(customerServiceWindow({ channel: 'webchat', last_customer_message_at: null }, at)).toEqual({ kind: 'none' });
    expect(customerServiceWindow({ channel: 'telephony', last_customer_message_at: '2026-01-01T00:00:00Z' }, at).kind).toBe('none');
  });

  it('is open for 24 hours after the customer last wrote, closing soon in the last two', () => {
    const open = customerServiceWindow({ channel: 'whatsapp', last_customer_message_at: '2026-12-06T11:00:00Z' }, at);
    expect(open).toMatchObject({ kind: 'open', remainingMs: 23 * 3_600_000, closingSoon: false });
    const soon = customerServiceWindow({ channel: 'whatsapp', last_customer_message_at: '2026-12-05T13:30:00Z' }, at);
    expect(soon).toMatchObject({ kind: 'open', closingSoon: true });
    expect(formatRemaining((soon as { remainingMs: number }).remainingMs)).toBe('1 h 30 min');
  });

  it('is closed exactly at 24 hours and when the customer never wrote', () => {
    const last = at - WINDOW_MS;
    expect(customerServiceWindow({ channel: 'whatsapp', last_customer_message_at: new Date(last).toISOString() }, at)).toEqual({
      kind: 'closed',
      lastCustomerMessageAt: last,
    });
    expect(customerServiceWindow({ channel: 'whatsapp', last_customer_message_at: null }, at)).toEqual({
      kind: 'closed',
      lastCustomerMessageAt: null,
    });
  });
});
