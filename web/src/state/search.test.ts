import { describe, expect, it } from 'vitest';
import { bestHighlight, fieldLabel, nameHighlight, operatorHighlight, piecesOf, queryProblem, splitAtColumn } from './search';

/** The byte range of `word`'s first occurrence in the UTF-8 encoding of `text`, as the server counts. */
function bytesOf(text: string, word: string) {
  const enc = new TextEncoder();
  const start = enc.encode(text.slice(0, text.indexOf(word))).length;
  return { start, end: start + enc.encode(word).length };
}

const marked = (fragment: string, ranges: { start: number; end: number }[]) =>
  piecesOf(fragment, ranges)
    .filter((p) => p.mark)
    .map((p) => p.text);

describe('highlights from byte ranges', () => {
  it('marks ASCII words at their byte offsets', () => {
    const text = 'I want a refund for order 7781';
    expect(piecesOf(text, [bytesOf(text, 'refund')])).toEqual([
      { text: 'I want a ', mark: false },
      { text: 'refund', mark: true },
      { text: ' for order 7781', mark: false },
    ]);
  });

  it('counts accented letters as two bytes and marks the right word after them', () => {
    const text = 'Crème brûlée arrived cold, I want a remboursement';
    const ranges = [bytesOf(text, 'Crème'), bytesOf(text, 'brûlée'), bytesOf(text, 'remboursement')];
    expect(ranges[1]).toEqual({ start: 7, end: 15 }); // "Crème " is 7 bytes, "brûlée" 8
    expect(marked(text, ranges)).toEqual(['Crème', 'brûlée', 'remboursement']);
  });

  it('counts an emoji as four bytes and two UTF-16 units', () => {
    const text = '😡😡 where is my délivery 📦?';
    expect(marked(text, [bytesOf(text, 'délivery')])).toEqual(['délivery']);
    expect(marked(text, [bytesOf(text, '📦')])).toEqual(['📦']);
    const pieces = piecesOf(text, [bytesOf(text, 'where')]);
    expect(pieces.map((p) => p.text).join('')).toBe(text);
    expect(pieces[1]).toEqual({ text: 'where', mark: true });
  });

  it('handles CJK (three bytes) and flags made of two code points', () => {
    const text = '返金 please 🇧🇷 Obrigado';
    expect(marked(text, [bytesOf(text, '返金'), bytesOf(text, 'Obrigado')])).toEqual(['返金', 'Obrigado']);
  });

  it('widens a boundary inside a character to the whole character, never splitting a surrogate pair', () => {
    const text = 'a😀b';
    // 😀 is bytes 1..5; a range from inside it to inside it covers it whole.
    expect(marked(text, [{ start: 2, end: 3 }])).toEqual(['😀']);
    expect(marked('é', [{ start: 1, end: 2 }])).toEqual(['é']);
  });

  it('merges overlapping and touching ranges, sorts them, clips them to the text, drops empty ones', () => {
    const text = 'refund refunded';
    expect(marked(text, [{ start: 7, end: 15 }, { start: 0, end: 6 }])).toEqual(['refund', 'refunded']);
    expect(marked(text, [{ start: 0, end: 4 }, { start: 2, end: 6 }, { start: 6, end: 7 }])).toEqual(['refund ']);
    expect(marked(text, [{ start: 10, end: 999 }])).toEqual(['unded']);
    expect(marked(text, [{ start: 3, end: 3 }])).toEqual([]);
    expect(piecesOf('', [])).toEqual([{ text: '', mark: false }]);
  });
});

describe('which fragment a hit shows', () => {
  const body = { field: 'body', fragment: 'a refund', ranges: [{ start: 2, end: 8 }] };
  const name = { field: 'name', fragment: 'Ana Souza', ranges: [{ start: 0, end: 3 }] };

  it("prefers the best message's fragment, else the conversation's own", () => {
    expect(bestHighlight({ highlights: [body, name], message: { highlight: body } })).toBe(body);
    expect(bestHighlight({ highlights: [name] })).toBe(name);
    expect(bestHighlight({ highlights: [] })).toBeNull();
    expect(nameHighlight({ highlights: [body, name] })).toBe(name);
  });

  it('names the field of an identity operator when the server gave no fragment', () => {
    const values = { name: 'Sofía Souza', phone: '+55 11 98765 4321' };
    expect(operatorHighlight('phone:+5511987654321', values)).toEqual({
      field: 'phone',
      fragment: '+55 11 98765 4321',
      ranges: [{ start: 0, end: 17 }],
    });
    expect(piecesOf(operatorHighlight('status:open name:sofia', values)!.fragment, operatorHighlight('name:sofia', values)!.ranges)).toEqual([
      { text: 'Sofía Souza', mark: true },
    ]);
    expect(operatorHighlight('email:@example.com', values)).toEqual({ field: 'email', fragment: '', ranges: [] });
    expect(operatorHighlight('-phone:+5511987654321 refund*', values)).toBeNull();
    expect(operatorHighlight('status:open', values)).toBeNull();
  });

  it('names the field it matched in', () => {
    expect(['body', 'transcript', 'name', 'phone', 'email'].map(fieldLabel)).toEqual([
      'Message',
      'Call transcript',
      'Name',
      'Phone',
      'Email',
    ]);
    expect(fieldLabel('caption')).toBe('Caption');
  });
});

describe('a query search cannot read', () => {
  it("takes the column from details, else from the service's message", () => {
    expect(queryProblem('query column 8: unknown operator phon: (known: …); did you mean phone:?')).toEqual({
      column: 8,
      reason: 'unknown operator phon: (known: …); did you mean phone:?',
    });
    expect(queryProblem('the query is longer than 1000 characters', 1001)).toEqual({
      column: 1001,
      reason: 'the query is longer than 1000 characters',
    });
    expect(queryProblem('limit runs from 1 to 100')).toEqual({ column: null, reason: 'limit runs from 1 to 100' });
  });

  it('points at the character of the column, counted in characters not UTF-16 units', () => {
    expect(splitAtColumn('refund phon:123', 8)).toEqual({ before: 'refund ', at: 'p', after: 'hon:123' });
    expect(splitAtColumn('😀 café status:', 10)).toEqual({ before: '😀 café st', at: 'a', after: 'tus:' });
    // Past the end (`status:` with nothing after): a space after the text.
    expect(splitAtColumn('status:', 8)).toEqual({ before: 'status:', at: ' ', after: '' });
  });
});
