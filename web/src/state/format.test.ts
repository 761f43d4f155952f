import { describe, expect, it } from 'vitest';
import { customerLabel, shortDuration, waiting } from './format';

const now = Date.parse('2026-12-06T12:00:00Z');
const ago = (min: number) => new Date(now - min * 60_000).toISOString();

describe('the waiting clock', () => {
  it('runs only while the customer waits for an answer in an open conversation', () => {
    expect(waiting({ status: 'active', last_message_sender_kind: 'agent', last_customer_message_at: ago(90) }, now).level).toBe('none');
    expect(waiting({ status: 'resolved', last_message_sender_kind: 'customer', last_customer_message_at: ago(90) }, now).level).toBe('none');
  });

  it('turns amber, then red', () => {
    const at = (min: number) => waiting({ status: 'pending', last_message_sender_kind: 'customer', last_customer_message_at: ago(min) }, now).level;
    expect([at(5), at(20), at(61)]).toEqual(['ok', 'warn', 'late']);
    const target = (min: number) =>
      waiting({ status: 'active', last_message_sender_kind: 'customer', last_customer_message_at: ago(min) }, now, 7.5 * 60_000, 10 * 60_000).level;
    expect([target(5), target(8), target(10)]).toEqual(['ok', 'warn', 'late']);
    expect(shortDuration(61 * 60_000)).toBe('1h 1m');
  });

  it('names the customer, else their number, else the visitor', () => {
    expect(customerLabel({ contact: { id: 'k', display_name: ' Ana ', segment: '' }, customer_address: '55', channel: 'whatsapp' })).toBe('Ana');
    expect(customerLabel({ contact: null, customer_address: '5511987650001', channel: 'whatsapp' })).toBe('+5511987650001');
    expect(customerLabel({ contact: null, customer_address: '01a24d23-0ec1-72bd-8f11-abcdef123456', channel: 'webchat' })).toBe('Visitor 123456');
  });
});
