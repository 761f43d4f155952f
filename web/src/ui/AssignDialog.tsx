import { useMemo, useState } from 'react';
import { messageOf } from '../api/errors';
import type { AssignmentTarget } from '../api/client';
import { useInbox } from '../app/context';
import { Button, Dialog, common } from './common';
import s from './AssignDialog.module.css';

/**
 * Assign to an agent or a team. Reassigning a conversation someone else holds needs a note
 * (docs/routing.md: nobody reassigns without context), unless the agent takes it themselves.
 */
export function AssignDialog({
  title,
  currentAssignee,
  currentTeam,
  bulk,
  onClose,
  onAssign,
}: {
  title: string;
  currentAssignee?: string | null;
  currentTeam?: string | null;
  bulk?: boolean;
  onClose: () => void;
  onAssign: (t: AssignmentTarget) => Promise<unknown>;
}) {
  const { agents, teams, me } = useInbox();
  const [q, setQ] = useState('');
  const [choice, setChoice] = useState<{ kind: 'agent' | 'team' | 'none'; id: string } | null>(null);
  const [note, setNote] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const query = q.trim().toLowerCase();
  const people = useMemo(
    () => agents.filter((a) => a.role !== 'ai' && (!query || a.name.toLowerCase().includes(query) || a.email.toLowerCase().includes(query))),
    [agents, query],
  );
  const groups = useMemo(() => teams.filter((t) => !query || t.name.toLowerCase().includes(query)), [teams, query]);
  const reassigning = choice?.kind === 'agent' && !!currentAssignee && currentAssignee !== choice.id && choice.id !== me.id;
  const noteNeeded = reassigning || (bulk && choice?.kind === 'agent' && choice.id !== me.id);
  const submit = async () => {
    if (!choice) return;
    if (reassigning && !note.trim()) {
      setError('Reassigning needs a note for the new assignee.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await onAssign(
        choice.kind === 'agent' ? { assignee_id: choice.id, note } : choice.kind === 'team' ? { team_id: choice.id, note } : { note },
      );
      onClose();
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  };
  const option = (kind: 'agent' | 'team' | 'none', id: string, label: React.ReactNode, detail: string, current: boolean) => (
    <li key={`${kind}-${id}`}>
      <label className={`${s.option} ${choice?.kind === kind && choice.id === id ? s.chosen : ''}`}>
        <input type="radio" name="assignee" checked={choice?.kind === kind && choice.id === id} onChange={() => setChoice({ kind, id })} />
        <span className={s.optionLabel}>{label}</span>
        <span className={s.detail}>
          {detail}
          {current ? ' · current' : ''}
        </span>
      </label>
    </li>
  );
  return (
    <Dialog
      title={title}
      onClose={onClose}
      onSubmit={() => void submit()}
      footer={
        <>
          <Button onClick={onClose}>Cancel</Button>
          <Button variant="primary" type="submit" disabled={!choice || busy}>
            {busy ? 'Assigning…' : 'Assign'}
          </Button>
        </>
      }
    >
      <input className={common.input} placeholder="Find a teammate or team" aria-label="Find a teammate or team" value={q} onChange={(e) => setQ(e.target.value)} data-autofocus />
      <div className={s.lists}>
        <h3 className={s.h}>People</h3>
        <ul className={s.list}>
          {people.map((a) =>
            option(
              'agent',
              a.id,
              <>
                <span className={`${s.presence} ${s[a.availability]}`} aria-label={a.availability} role="img" />
                {a.name}
                {a.id === me.id ? ' (me)' : ''}
              </>,
              `${a.load}/${a.capacity} open · ${a.availability}`,
              a.id === currentAssignee,
            ),
          )}
        </ul>
        <h3 className={s.h}>Teams</h3>
        <ul className={s.list}>
          {groups.map((t) => option('team', t.id, t.name, `routes to an available member · ${t.waiting} waiting`, t.id === currentTeam))}
          {!bulk && (currentAssignee || currentTeam) ? option('none', '', 'Nobody', 'unassign', false) : null}
        </ul>
      </div>
      <div className={common.field}>
        <label htmlFor="assign-note">Note for the assignee{noteNeeded ? (reassigning ? ' (required when reassigning)' : '') : ' (optional)'}</label>
        <textarea id="assign-note" className={common.input} rows={2} value={note} onChange={(e) => setNote(e.target.value)} placeholder="What they should know" />
      </div>
      {error ? (
        <p className={common.error} role="alert">
          {error}
        </p>
      ) : null}
    </Dialog>
  );
}
