// What the agent does to a conversation, with the cache updated from the answer (the live frame
// that follows changes nothing more).

import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import * as api from '../api/client';
import { upsertConversation } from '../api/cache';
import { keys } from '../api/keys';
import type { Conversation, ExportFormat, Priority, Status } from '../api/types';
import type { MatchContext } from '../state/match';

export function saveFile(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function makeActions(qc: QueryClient, ctx: () => MatchContext) {
  const apply = (c: Conversation) => {
    upsertConversation(qc, c, ctx());
    qc.setQueryData(keys.conversation(c.id), (held: Conversation | undefined) => (held ? { ...held, ...c, visitor: held.visitor } : c));
    void qc.invalidateQueries({ queryKey: ['views'] });
    return c;
  };
  return {
    setStatus: async (id: string, status: Status, reason?: string) => apply(await api.setStatus(id, status, reason)),
    setPriority: async (id: string, priority: Priority, reason?: string) => apply(await api.setPriority(id, priority, reason)),
    takeOver: async (id: string) => apply(await api.takeOver(id)),
    release: async (id: string) => apply(await api.releaseToAi(id)),
    assign: async (id: string, target: api.AssignmentTarget) => {
      const result = await api.setAssignment(id, target);
      const held = qc.getQueryData<Conversation>(keys.conversation(id));
      if (held && result.outcome !== 'unchanged') {
        apply({ ...held, assignee_id: result.assignee_id, team_id: result.team_id });
      }
      void qc.invalidateQueries({ queryKey: keys.agents });
      return result;
    },
    download: async (id: string, format: ExportFormat) => {
      const file = await api.exportConversation(id, format);
      saveFile(file.blob, file.filename);
      return file;
    },
  };
}

export type Actions = ReturnType<typeof makeActions>;

export function useQc() {
  return useQueryClient();
}
