import { useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import * as api from '../api/client';
import { messageOf } from '../api/errors';
import type { BulkAction, BulkResult, ExportFormat, Priority, Status } from '../api/types';
import { saveFile } from '../app/actions';
import { useInbox } from '../app/context';
import { toBulkFilter, type InboxUrlState } from '../state/filters';
import { PRIORITY_META, STATUS_META } from '../state/format';
import { AssignDialog } from './AssignDialog';
import { Button, Dialog, Mark, Menu, MenuItem } from './common';
import s from './ListPanel.module.css';

export type Selection = { mode: 'ids'; ids: Set<string> } | { mode: 'filter' };

const OUTCOME_LABEL: Record<string, string> = {
  changed: 'Changed',
  unchanged: 'Already so',
  waiting: 'Waiting in team',
  not_found: 'Not found',
  failed: 'Failed',
  not_attempted: 'Not attempted (run it again)',
};

export function BulkBar({
  selection,
  setSelection,
  state,
  loadedCount,
  allLoadedSelected,
  selectAllLoaded,
  namesOf,
  selectedCount,
}: {
  selection: Selection;
  setSelection: (s: Selection) => void;
  state: InboxUrlState;
  loadedCount: number;
  allLoadedSelected: boolean;
  selectAllLoaded: () => void;
  namesOf: (id: string) => string;
  selectedCount: number | null;
}) {
  const qc = useQueryClient();
  const { me, toast } = useInbox();
  const [menu, setMenu] = useState<null | 'status' | 'priority' | 'export'>(null);
  const [assigning, setAssigning] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [result, setResult] = useState<{ title: string; result: BulkResult } | null>(null);
  const [busy, setBusy] = useState(false);
  const privileged = me.role === 'admin' || me.role === 'supervisor';
  const any = selection.mode === 'filter' || selection.ids.size > 0;
  const target = () => (selection.mode === 'filter' ? { filter: toBulkFilter(state) } : { ids: [...selection.ids] });
  const label = selection.mode === 'filter' ? 'All matching this filter' : `${selectedCount} selected`;

  const run = async (title: string, action: BulkAction) => {
    setMenu(null);
    setBusy(true);
    try {
      const r = await api.bulkAction(target(), action);
      setResult({ title, result: r });
      setSelection({ mode: 'ids', ids: new Set() });
      void qc.invalidateQueries({ queryKey: ['conversations'] });
      void qc.invalidateQueries({ queryKey: ['views'] });
    } catch (e) {
      toast(messageOf(e), 'error');
    } finally {
      setBusy(false);
    }
  };

  const exportAs = async (format: ExportFormat) => {
    setMenu(null);
    setBusy(true);
    try {
      const file = await api.exportConversations(target(), format);
      saveFile(file.blob, file.filename);
      toast(`Exported ${file.filename}`);
    } catch (e) {
      toast(messageOf(e), 'error');
    } finally {
      setBusy(false);
    }
  };

  const disabledTitle = privileged ? undefined : 'Bulk actions need a supervisor or an admin';

  return (
    <div className={s.bulk} role="toolbar" aria-label="Selection">
      <label className={s.selectAll}>
        <input
          type="checkbox"
          checked={any && allLoadedSelected}
          ref={(el) => {
            if (el) el.indeterminate = any && !allLoadedSelected;
          }}
          onChange={() => (any ? setSelection({ mode: 'ids', ids: new Set() }) : selectAllLoaded())}
          aria-label={any ? 'Clear the selection' : `Select all ${loadedCount} loaded`}
          disabled={!loadedCount}
        />
        <span>{any ? label : 'Select'}</span>
      </label>
      {any && selection.mode === 'ids' ? (
        <button type="button" className={s.linkBtn} onClick={() => setSelection({ mode: 'filter' })}>
          Select all matching filter
        </button>
      ) : null}
      {any ? (
        <div className={s.bulkActions}>
          <Button disabled={!privileged || busy} title={disabledTitle} onClick={() => setAssigning(true)}>
            Assign
          </Button>
          <div className={s.chipWrap}>
            <Button disabled={!privileged || busy} title={disabledTitle} onClick={() => setMenu(menu === 'status' ? null : 'status')} aria-haspopup="menu">
              Status ▾
            </Button>
            {menu === 'status' ? (
              <Menu onClose={() => setMenu(null)} align="right">
                {(['active', 'pending', 'resolved', 'archived'] as Status[]).map((st) => (
                  <MenuItem key={st} onSelect={() => void run(`Status: ${STATUS_META[st].label}`, { type: 'status', status: st })}>
                    <Mark kind={st} /> {STATUS_META[st].label}
                  </MenuItem>
                ))}
              </Menu>
            ) : null}
          </div>
          <div className={s.chipWrap}>
            <Button disabled={!privileged || busy} title={disabledTitle} onClick={() => setMenu(menu === 'priority' ? null : 'priority')} aria-haspopup="menu">
              Priority ▾
            </Button>
            {menu === 'priority' ? (
              <Menu onClose={() => setMenu(null)} align="right">
                {(['urgent', 'high', 'normal', 'low'] as Priority[]).map((p) => (
                  <MenuItem key={p} onSelect={() => void run(`Priority: ${PRIORITY_META[p].label}`, { type: 'priority', priority: p })}>
                    <Mark kind={p} /> {PRIORITY_META[p].label}
                  </MenuItem>
                ))}
              </Menu>
            ) : null}
          </div>
          <Button disabled={!privileged || busy} title={disabledTitle} onClick={() => void run('Archive', { type: 'archive' })}>
            Archive
          </Button>
          <div className={s.chipWrap}>
            <Button disabled={!privileged || busy} title={disabledTitle} onClick={() => setMenu(menu === 'export' ? null : 'export')} aria-haspopup="menu">
              Export ▾
            </Button>
            {menu === 'export' ? (
              <Menu onClose={() => setMenu(null)} align="right">
                <MenuItem onSelect={() => void exportAs('json')}>JSON</MenuItem>
                <MenuItem onSelect={() => void exportAs('csv')}>CSV</MenuItem>
                <MenuItem onSelect={() => void exportAs('text')}>Transcript (text)</MenuItem>
              </Menu>
            ) : null}
          </div>
          {me.role === 'admin' ? (
            <Button variant="danger" disabled={busy} onClick={() => setConfirmDelete(true)}>
              Delete
            </Button>
          ) : null}
        </div>
      ) : null}
      {assigning ? (
        <AssignDialog
          title={`Assign ${selection.mode === 'filter' ? 'all matching' : `${selectedCount} conversations`}`}
          bulk
          onClose={() => setAssigning(false)}
          onAssign={async (t) => {
            setAssigning(false);
            await run('Assign', { type: 'assign', assignee_id: t.assignee_id ?? undefined, team_id: t.team_id ?? undefined, note: t.note });
          }}
        />
      ) : null}
      {confirmDelete ? (
        <Dialog
          title="Delete conversations"
          onClose={() => setConfirmDelete(false)}
          footer={
            <>
              <Button onClick={() => setConfirmDelete(false)}>Cancel</Button>
              <Button
                variant="primary"
                onClick={() => {
                  setConfirmDelete(false);
                  void run('Delete', { type: 'delete' });
                }}
              >
                Delete
              </Button>
            </>
          }
        >
          <p>
            Delete {selection.mode === 'filter' ? 'every conversation matching this filter' : `${selectedCount} conversations`} with their messages? This cannot be undone.
          </p>
        </Dialog>
      ) : null}
      {result ? (
        <Dialog title={`${result.title}: result`} onClose={() => setResult(null)} footer={<Button onClick={() => setResult(null)}>Close</Button>}>
          <p className={s.resultSummary} role="status">
            {result.result.changed} changed · {result.result.unchanged} unchanged · {result.result.failed} failed
            {result.result.not_attempted ? ` · ${result.result.not_attempted} not attempted` : ''}
          </p>
          <ul className={s.results}>
            {result.result.results.map((r) => (
              <li key={r.conversation_id} className={s[`outcome-${r.outcome}`]}>
                <span>{namesOf(r.conversation_id)}</span>
                <span>
                  {OUTCOME_LABEL[r.outcome] ?? r.outcome}
                  {r.error ? `: ${r.error}` : ''}
                </span>
              </li>
            ))}
          </ul>
        </Dialog>
      ) : null}
    </div>
  );
}
