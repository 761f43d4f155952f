// Holding the list still while the agent works in it: rows keep their places, their contents
// update, conversations that arrived or moved up are counted ("N new") instead of shown.

export interface Held {
  ids: string[];
  /** When the hold began (epoch ms): later activity counts as new. */
  since: number;
}

interface Row {
  id: string;
  updated_at: string | null;
}

export function heldRows<T extends Row>(live: T[], held: Held | null, lastKnown: Map<string, T>): { rows: T[]; newCount: number } {
  if (!held) return { rows: live, newCount: 0 };
  const heldSet = new Set(held.ids);
  const liveIndex = new Map(live.map((c, i) => [c.id, i]));
  let lastHeldLiveIndex = -1;
  for (const id of held.ids) lastHeldLiveIndex = Math.max(lastHeldLiveIndex, liveIndex.get(id) ?? -1);
  const appended: string[] = [];
  let fresh = 0;
  live.forEach((c, i) => {
    if (heldSet.has(c.id)) return;
    // Beyond everything held: a page that loaded while scrolling down, not a live arrival.
    if (i > lastHeldLiveIndex) appended.push(c.id);
    else fresh += 1;
  });
  const ids = [...held.ids, ...appended];
  const moved = held.ids.filter((id, i) => {
    const c = lastKnown.get(id);
    const li = liveIndex.get(id);
    return c !== undefined && li !== undefined && li < i && Date.parse(c.updated_at ?? '') > held.since;
  }).length;
  return {
    rows: ids.map((id) => lastKnown.get(id)).filter((c): c is T => c !== undefined),
    newCount: fresh + moved,
  };
}
