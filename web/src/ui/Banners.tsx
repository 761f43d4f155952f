import { useEffect, useState, useSyncExternalStore } from 'react';
import { useInbox } from '../app/context';
import type { StreamState } from '../api/stream';
import s from './Banners.module.css';

/** Offline (with the queued sends) and "connection lost, reconnecting…", gone by themselves. */
export function Banners({ online, connection }: { online: boolean; connection: StreamState }) {
  const { outbox } = useInbox();
  const queued = useSyncExternalStore(
    (l) => outbox.subscribe(l),
    () => outbox.queuedCount,
  );
  // A blip under a second is not worth a banner.
  const [lost, setLost] = useState(false);
  useEffect(() => {
    if (connection !== 'reconnecting') {
      setLost(false);
      return;
    }
    const t = setTimeout(() => setLost(true), 800);
    return () => clearTimeout(t);
  }, [connection]);
  if (!online) {
    return (
      <div className={`${s.banner} ${s.offline}`} role="status">
        You are offline. {queued ? `${queued} message${queued === 1 ? '' : 's'} queued — sent when you are back online.` : 'Messages you send will be queued.'}
      </div>
    );
  }
  if (lost) {
    return (
      <div className={`${s.banner} ${s.lost}`} role="status">
        Connection lost, reconnecting…{queued ? ` ${queued} message${queued === 1 ? '' : 's'} queued.` : ''}
      </div>
    );
  }
  if (queued) {
    return (
      <div className={`${s.banner} ${s.sending}`} role="status">
        Sending {queued} queued message{queued === 1 ? '' : 's'}…
      </div>
    );
  }
  return null;
}
