// The search palette's rules, without I/O (docs/search.md "Results", "Errors"): the server's
// highlight ranges into text pieces, which fragment to show, and where a bad query goes wrong.

/** A byte range of the UTF-8 encoding of a fragment, as the search service gives it. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface Highlight {
  field: string;
  fragment: string;
  ranges: ByteRange[];
}

/** A piece of a fragment: `mark` when it is part of what matched. */
export interface Piece {
  text: string;
  mark: boolean;
}

function utf8Length(codePoint: number): number {
  return codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
}

/**
 * The fragment cut into plain and marked pieces by byte ranges into its UTF-8 encoding.
 * A range boundary inside a character widens to the whole character; ranges out of the text
 * are clipped, overlapping or touching ones merge, and an empty one marks nothing.
 */
export function piecesOf(fragment: string, ranges: readonly ByteRange[]): Piece[] {
  // starts[k] is the byte offset of the k-th code point, index[k] its UTF-16 index.
  const starts: number[] = [];
  const index: number[] = [];
  let bytes = 0;
  for (let i = 0; i < fragment.length; ) {
    const cp = fragment.codePointAt(i)!;
    starts.push(bytes);
    index.push(i);
    bytes += utf8Length(cp);
    i += cp > 0xffff ? 2 : 1;
  }
  starts.push(bytes);
  index.push(fragment.length);

  /** The UTF-16 index of the character holding byte `b`, or of the next one when `up`. */
  const at = (b: number, up: boolean): number => {
    if (b <= 0) return 0;
    if (b >= bytes) return fragment.length;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= b) lo = mid;
      else hi = mid - 1;
    }
    return index[up && starts[lo] < b ? lo + 1 : lo];
  };

  const spans = ranges
    .map((r) => [at(r.start, false), at(r.end, true)] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  const merged: [number, number][] = [];
  for (const [a, b] of spans) {
    const last = merged[merged.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else merged.push([a, b]);
  }

  const pieces: Piece[] = [];
  let pos = 0;
  for (const [a, b] of merged) {
    if (a > pos) pieces.push({ text: fragment.slice(pos, a), mark: false });
    pieces.push({ text: fragment.slice(a, b), mark: true });
    pos = b;
  }
  if (pos < fragment.length || !pieces.length) pieces.push({ text: fragment.slice(pos), mark: false });
  return pieces;
}

/** What a hit shows under the customer's name: its best message's fragment, else the first. */
export function bestHighlight(hit: { highlights?: Highlight[]; message?: { highlight?: Highlight | null } }): Highlight | null {
  return hit.message?.highlight ?? hit.highlights?.[0] ?? null;
}

/** The conversation's own highlight of the customer's name, when the name matched. */
export function nameHighlight(hit: { highlights?: Highlight[] }): Highlight | null {
  return hit.highlights?.find((h) => h.field === 'name') ?? null;
}

/**
 * What a hit found by an identity operator alone shows (the server highlights words only, so
 * `phone:…` comes back without a fragment): the field the understood query looked in, and the
 * conversation's own value of it, all marked, when the conversation has one.
 */
export function operatorHighlight(understoodQuery: string, values: { name: string; phone: string | null }): Highlight | null {
  const op = /(?:^|\s)(phone|name|email):/.exec(understoodQuery)?.[1];
  if (!op) return null;
  const fragment = op === 'phone' ? values.phone : op === 'name' ? values.name : null;
  if (!fragment) return { field: op, fragment: '', ranges: [] };
  return { field: op, fragment, ranges: [{ start: 0, end: new TextEncoder().encode(fragment).length }] };
}

const FIELDS: Record<string, string> = {
  body: 'Message',
  message: 'Message',
  transcript: 'Call transcript',
  voicemail: 'Voicemail',
  name: 'Name',
  phone: 'Phone',
  email: 'Email',
  attributes: 'Customer details',
};

/** The label of the field a fragment matched in. */
export function fieldLabel(field: string): string {
  return FIELDS[field] ?? field.charAt(0).toUpperCase() + field.slice(1);
}

/** A query the search service could not read: where it goes wrong, and why. */
export interface QueryProblem {
  /** 1-based, in characters (Unicode code points) of the query as sent. */
  column: number | null;
  /** The service's explanation without its `query column N:` prefix. */
  reason: string;
}

/**
 * The problem of a 400 answer: `details.column` when the error carries it, else the column the
 * service writes at the start of its message (`query column 8: unknown operator phon: ...`).
 */
export function queryProblem(message: string, detailsColumn?: number | null): QueryProblem {
  const m = /^(?:query )?column (\d+):\s*/i.exec(message);
  const column = detailsColumn ?? (m ? Number(m[1]) : null);
  return { column: column && column > 0 ? column : null, reason: m ? message.slice(m[0].length) : message };
}

/**
 * The query split around the character at `column` (1-based, in code points) for pointing at
 * it: before, the character itself (a space when the problem is past the end), after.
 */
export function splitAtColumn(query: string, column: number): { before: string; at: string; after: string } {
  const chars = Array.from(query);
  const i = Math.max(0, Math.min(column - 1, chars.length));
  return { before: chars.slice(0, i).join(''), at: chars[i] ?? ' ', after: chars.slice(i + 1).join('') };
}

/** Queries to try, from docs/search.md, shown when nothing matched or nothing is typed yet. */
export const QUERY_EXAMPLES: readonly { query: string; meaning: string }[] = [
  { query: 'refund -paypal', meaning: 'mentions a refund, never PayPal' },
  { query: '"late delivery"', meaning: 'these words in this order' },
  { query: 'name:ana', meaning: "the customer's name" },
  { query: 'phone:+1 555 123 4567', meaning: 'any writing of the number' },
  { query: 'email:@example.com', meaning: 'every address at a domain' },
  { query: 'status:open channel:whatsapp', meaning: 'open WhatsApp conversations' },
  { query: 'assigned:me priority:urgent,high', meaning: 'yours, urgent or high' },
];

/** Whether a query has something to search (an empty one is not sent: the palette waits). */
export function isSearchable(query: string): boolean {
  return query.trim().length > 0;
}
