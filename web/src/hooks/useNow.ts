import { useEffect, useState } from 'react';

/** The time, refreshed every `everyMs` (waiting clocks, the 24-hour window). */
export function useNow(everyMs = 30_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}
