import { describe, expect, it } from 'vitest';
import { activeFilterCount, clearFilters, formatUrlState, parseUrlState, toBulkFilter, toListParams } from './filters';

describe('URL ↔ filter state', () => {
  it('round-trips every filter, the sort and the open conversation', () => {
    const search =
      '?view=team.unassigned&status=active,pending&channel=whatsapp&priority=urgent&assigned=unassigned&team=t1' +
      '&needs_human=true&time=range&time_field=created&from=2026-12-01T00%3A00&to=2026-12-02T00%3A00&sort=priority&conversation=c9&panel=conversation';
    const state = parseUrlState(search);
    expect(state).toMatchObject({
      view: 'team.unassigned',
      status: ['active', 'pending'],
      channel: ['whatsapp'],
      priority: ['urgent'],
      assigned: 'unassigned',
      team: 't1',
      needsHuman: 'true',
      time: 'range',
      timeField: 'created',
      sort: 'priority',
      conversation: 'c9',
      panel: 'conversation',
    });
    expect(parseUrlState(formatUrlState(state))).toEqual(state);
  });

  it('writes nothing for the default state and ignores what it does not know', () => {
    expect(formatUrlState(parseUrlState(''))).toBe('');
    const s = parseUrlState('?view=nope&status=active,bogus&sort=sideways&assigned=everyone');
    expect(s.view).toBe('all');
    expect(s.status).toEqual(['active']);
    expect(s.sort).toBe('recent');
    expect(s.assigned).toBe('all');
  });

  it('opens a shared conversation on a phone too, and writes the panel only when it differs', () => {
    expect(parseUrlState('?conversation=c1').panel).toBe('conversation');
    expect(formatUrlState(parseUrlState('?conversation=c1&panel=conversation'))).toBe('?conversation=c1');
    expect(formatUrlState(parseUrlState('?conversation=c1&panel=customer'))).toBe('?conversation=c1&panel=customer');
    expect(parseUrlState('?panel=customer').panel).toBe('customer');
  });

  it('keeps list values in a stable order so equal states give equal URLs', () => {
    expect(formatUrlState(parseUrlState('?status=pending,active'))).toBe('?status=active%2Cpending');
  });

  it('turns views and filters into the API parameters', () => {
    expect(toListParams(parseUrlState('?view=mine.needs_attention'))).toEqual({ view: 'mine.needs_attention', sort: 'recent' });
    expect(toListParams(parseUrlState('?view=mine'))).toEqual({ status: 'active,pending', assigned: 'me', sort: 'recent' });
    expect(toListParams(parseUrlState('?view=channel.telephony&sort=oldest'))).toEqual({
      channel: 'telephony',
      status: 'active,pending',
      sort: 'oldest',
    });
    expect(toListParams(parseUrlState('?status=resolved&channel=whatsapp,webchat&time=today&needs_human=false'))).toEqual({
      status: 'resolved',
      channel: 'whatsapp,webchat',
      time: 'today',
      needs_human: false,
      sort: 'recent',
    });
    expect(toBulkFilter(parseUrlState('?status=resolved&sort=priority'))).toEqual({ status: 'resolved' });
  });

  it('counts and clears filters but keeps the view and the sort', () => {
    const s = parseUrlState('?view=team&status=active&channel=whatsapp&sort=oldest&time=week');
    expect(activeFilterCount(s)).toBe(3);
    const cleared = clearFilters(s);
    expect(activeFilterCount(cleared)).toBe(0);
    expect(cleared.view).toBe('team');
    expect(cleared.sort).toBe('oldest');
  });
});
