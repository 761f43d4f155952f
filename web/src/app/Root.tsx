import { useEffect, useState } from 'react';
import { getSession, onSessionChange, restoreSession, type Session } from '../auth/session';
import { SignIn } from '../auth/SignIn';
import { Inbox } from './Inbox';

export function Root() {
  const [session, setSession] = useState<Session | null | 'loading'>(() => getSession() ?? 'loading');
  useEffect(() => {
    const off = onSessionChange((s) => setSession(s));
    if (getSession() === null) void restoreSession().then((s) => setSession(s));
    return () => {
      off();
    };
  }, []);
  if (session === 'loading') {
    return (
      <div role="status" style={{ padding: 40, color: 'var(--text-2)' }}>
        Loading your inbox…
      </div>
    );
  }
  if (!session) return <SignIn />;
  return <Inbox key={session.user.id} session={session} />;
}
