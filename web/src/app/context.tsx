import { createContext, useContext } from 'react';
import type { StreamState } from '../api/stream';
import type { Agent, Team, TenantSettings, User } from '../api/types';
import type { Outbox } from '../state/outbox';

export interface InboxContextValue {
  me: User;
  agents: Agent[];
  teams: Team[];
  settings: TenantSettings | null;
  outbox: Outbox;
  connection: StreamState;
  setPresence: (a: 'online' | 'away') => void;
  toast: (text: string, kind?: 'info' | 'error') => void;
  agentName: (id: string | null | undefined) => string;
  teamName: (id: string | null | undefined) => string;
}

export const InboxContext = createContext<InboxContextValue | null>(null);

export function useInbox(): InboxContextValue {
  const v = useContext(InboxContext);
  if (!v) throw new Error('useInbox outside the inbox');
  return v;
}
